"""Write a file (or a folder) whole or not at all: a temp beside the target, then os.replace.

A reader of the target sees the old content, nothing, or the new content, never half of it; a
failure (an exception, Ctrl-C) removes the temp and leaves the target as it was. The temp lies in
the target's own folder, because os.replace does not cross file systems, and is named
`<prefix><random><suffix>` with prefix `.<target name>.` unless told otherwise, so it is hidden
and a glob such as `.*.tmp` finds what a killed process left. Parent folders are not created:
callers make them where they always did.

Pure standard library (no numpy, torch or dagster; polars only named in a type), so any process can
import it cheaply.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

StrPath = str | os.PathLike[str]


def _prefix(dst: Path, prefix: str | None) -> str:
    return f".{dst.name}." if prefix is None else prefix


def temp_file(folder: StrPath, *, prefix: str, suffix: str) -> Path:
    """A new empty file in `folder` (tempfile.mkstemp, descriptor closed); the caller owns it."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
    os.close(fd)
    return Path(name)


@contextmanager
def removed_on_error(tmp: StrPath) -> Iterator[Path]:
    """Yield `tmp`; if the block raises, delete the file `tmp` (if there) and re-raise."""
    tmp = Path(tmp)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def replace_on_success(tmp: StrPath, dst: StrPath) -> Iterator[Path]:
    """Yield `tmp` (a file already written, e.g. a download still to be checked); when the block
    ends normally os.replace it onto `dst`, and when the block or the replace fails delete it."""
    with removed_on_error(tmp) as path:
        yield path
        os.replace(path, dst)


@contextmanager
def atomic_path(dst: StrPath, *, prefix: str | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a new empty temp file beside `dst` for the block to write (by path or by opening it);
    on success it replaces `dst`, on failure it is deleted. Close what you opened inside the block.

        with atomic_path(out) as tmp:
            frame.write_parquet(tmp)
    """
    dst = Path(dst)
    tmp = temp_file(dst.parent, prefix=_prefix(dst, prefix), suffix=suffix)
    with replace_on_success(tmp, dst) as path:
        yield path


def write_bytes_atomic(
    dst: StrPath, data: bytes, *, prefix: str | None = None, suffix: str = ".tmp", fsync: bool = False
) -> None:
    """Write `data` to `dst` whole or not at all; `fsync` flushes the temp to disk before the rename
    (so a power cut cannot leave the new name on empty content)."""
    with atomic_path(dst, prefix=prefix, suffix=suffix) as tmp, open(tmp, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def write_text_atomic(
    dst: StrPath, text: str, *, prefix: str | None = None, suffix: str = ".tmp", encoding: str = "utf-8"
) -> None:
    """Write `text` to `dst` whole or not at all (text mode: newlines as open() writes them)."""
    with atomic_path(dst, prefix=prefix, suffix=suffix) as tmp, open(tmp, "w", encoding=encoding) as f:
        f.write(text)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all, fsync'd, making the folder first: what the data root's
    manifests, tables and cards use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, data, fsync=True)


def write_parquet_atomic(df: pl.DataFrame, path: Path) -> bytes:
    """Write a polars frame to `path` as zstd parquet via `write_atomic`; returns the bytes written (hash
    them for a data version)."""
    buf = io.BytesIO()
    df.write_parquet(buf, compression="zstd")
    write_atomic(path, buf.getvalue())
    return buf.getvalue()


def copy_atomic(src: StrPath, dst: StrPath) -> None:
    """Copy the file `src` to `dst` whole or not at all (shutil.copyfile into the temp)."""
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


@contextmanager
def atomic_dir(dst: StrPath, *, prefix: str | None = None, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a new empty folder beside `dst` for the block to fill; on success it becomes `dst`,
    on failure it is deleted with all it holds.

    A folder cannot be renamed over a non-empty one, so an existing `dst` is first moved into a
    hidden `.<name>.<random>.old` folder beside it and deleted after: `dst` is at every moment the
    old folder, absent, or the new one (and the old one is put back if the final rename fails)."""
    dst = Path(dst)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=_prefix(dst, prefix), suffix=suffix))
    old: Path | None = None
    try:
        yield tmp
        if dst.exists():
            old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".old"))
            os.replace(dst, old / "previous")
            try:
                os.replace(tmp, dst)
            except BaseException:
                os.replace(old / "previous", dst)
                raise
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
