"""Reading untrusted map zips (BeatSaver downloads) without trusting them.

`SafeZip` checks the whole central directory up front -- names (no `..`, no absolute or
drive paths, no backslash tricks), symlinks, encryption, duplicates, member count, declared
sizes and compression ratios -- and then reads members with a streaming cap, so a member
whose header lies about its size cannot inflate past the limits either. Every failure is an
`UnsafeZipError` whose `code` says which rule broke:

    not_a_zip, truncated, corrupt, encrypted, zip_slip, absolute_path, bad_name, symlink,
    duplicate_name, too_many_members, too_large, zip_bomb, unsupported_compression

Nothing is ever extracted to disk: members are read into memory, by their checked name.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from automapper_ml.formats.errors import UnsafeZipError
from automapper_ml.limits import (
    MIB,
    ZIP_MAX_COMPRESSION_RATIO,
    ZIP_MAX_MEMBER_BYTES,
    ZIP_MAX_MEMBERS,
    ZIP_MAX_TOTAL_BYTES,
    ZIP_RATIO_MIN_BYTES,
)

_CHUNK = 1 * MIB
_DRIVE = re.compile(r"^[A-Za-z]:")
_LOCAL_HEADER_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """Caps for one map archive (defaults: automapper_ml.limits, ZIP_*)."""

    max_members: int = ZIP_MAX_MEMBERS  # files and folders in the archive
    max_member_bytes: int = ZIP_MAX_MEMBER_BYTES  # uncompressed size of any one member
    max_total_bytes: int = ZIP_MAX_TOTAL_BYTES  # uncompressed size of all members together
    max_compression_ratio: float = ZIP_MAX_COMPRESSION_RATIO  # checked for members >= ratio_min_bytes
    ratio_min_bytes: int = ZIP_RATIO_MIN_BYTES  # small members may compress extremely well


def normalize_member_name(name: str) -> str:
    """A checked, forward-slash relative path for a member name, or UnsafeZipError.

    Backslashes count as separators (Windows tools write them, and `..\\x` must not slip
    through); `.` and empty components are dropped; a trailing `/` (a folder) is kept.
    """
    if "\x00" in name:
        raise UnsafeZipError(f"member name {name!r} contains a NUL byte", code="bad_name")
    unified = name.replace("\\", "/")
    if unified.startswith("/") or _DRIVE.match(unified):
        raise UnsafeZipError(f"member {name!r} has an absolute path", code="absolute_path")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeZipError(f"member {name!r} escapes the archive (path traversal)", code="zip_slip")
    if not parts:
        raise UnsafeZipError(f"member name {name!r} is empty", code="bad_name")
    out = "/".join(parts)
    return out + "/" if unified.endswith("/") else out


class SafeZip:
    """A zip archive opened read-only after every safety rule was checked.

    `names()` lists normalised file names (folders left out); `read(name)` returns a
    member's bytes, enforcing the per-member and running-total caps on the bytes actually
    inflated. Use as a context manager or call `close()`.
    """

    def __init__(self, file: str | os.PathLike[str] | BinaryIO, *, limits: ZipLimits | None = None) -> None:
        self.limits = limits or ZipLimits()
        self._label = os.fspath(file) if isinstance(file, (str, os.PathLike)) else "archive"
        self._zf = self._open(file)
        try:
            self._members = self._check_directory()
        except BaseException:
            self._zf.close()
            raise
        self._bytes_read = 0

    # -- opening and checking -------------------------------------------------------------

    def _open(self, file: str | os.PathLike[str] | BinaryIO) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(file)
        except zipfile.BadZipFile as exc:
            head = _peek(file, 4)
            if head == _LOCAL_HEADER_MAGIC:  # starts like a zip, its central directory is gone
                raise UnsafeZipError(f"{self._label}: truncated zip ({exc})", code="truncated") from exc
            raise UnsafeZipError(f"{self._label}: not a zip archive ({exc})", code="not_a_zip") from exc
        except (EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise UnsafeZipError(f"{self._label}: unreadable zip ({exc})", code="corrupt") from exc

    def _check_directory(self) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        infos = self._zf.infolist()
        if len(infos) > limits.max_members:
            raise UnsafeZipError(
                f"{self._label}: {len(infos)} members, more than the {limits.max_members} allowed",
                code="too_many_members",
            )
        members: dict[str, zipfile.ZipInfo] = {}
        seen_folded: set[str] = set()
        total = 0
        for info in infos:
            name = normalize_member_name(info.filename)
            mode = (info.external_attr >> 16) & 0xFFFF
            if stat.S_ISLNK(mode):
                raise UnsafeZipError(f"member {info.filename!r} is a symbolic link", code="symlink")
            if info.flag_bits & 0x1 or info.flag_bits & 0x40:
                raise UnsafeZipError(f"member {info.filename!r} is encrypted", code="encrypted")
            # Lookups are case-insensitive (maps say `info.dat` for `Info.dat`), so names that
            # differ only in case are as ambiguous as exact duplicates.
            folded = name.casefold()
            if folded in seen_folded:
                raise UnsafeZipError(
                    f"member {info.filename!r} appears more than once", code="duplicate_name"
                )
            seen_folded.add(folded)
            if name.endswith("/"):
                continue
            if info.file_size > limits.max_member_bytes:
                raise UnsafeZipError(
                    f"member {info.filename!r} declares {info.file_size / MIB:.1f} MiB, over the "
                    f"{limits.max_member_bytes / MIB:.0f} MiB cap",
                    code="too_large",
                )
            if info.file_size >= limits.ratio_min_bytes:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > limits.max_compression_ratio:
                    raise UnsafeZipError(
                        f"member {info.filename!r} inflates {ratio:.0f}x ({info.compress_size} -> "
                        f"{info.file_size} bytes), over the {limits.max_compression_ratio:g}x cap",
                        code="zip_bomb",
                    )
            total += info.file_size
            if total > limits.max_total_bytes:
                raise UnsafeZipError(
                    f"{self._label}: members declare more than {limits.max_total_bytes / MIB:.0f} MiB in total",
                    code="too_large",
                )
            members[name] = info
        return members

    # -- access ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Normalised member file names, in archive order (folders left out)."""
        return list(self._members)

    def size(self, name: str) -> int:
        """Declared uncompressed size of a member (already checked against the caps)."""
        return self._members[name].file_size

    def read(self, name: str) -> bytes:
        """The member's bytes, inflated with a streaming cap (headers are not trusted)."""
        info = self._members[name]  # KeyError for unknown names: callers look names up first
        limits = self.limits
        cap = min(limits.max_member_bytes, limits.max_total_bytes - self._bytes_read)
        chunks: list[bytes] = []
        got = 0
        try:
            with self._zf.open(info) as stream:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    got += len(chunk)
                    if got > cap or got > info.file_size:
                        raise UnsafeZipError(
                            f"member {info.filename!r} inflates past {min(cap, info.file_size)} bytes "
                            f"(declared {info.file_size})",
                            code="zip_bomb",
                        )
                    chunks.append(chunk)
        except UnsafeZipError:
            raise
        except zipfile.BadZipFile as exc:  # bad CRC, bad local header
            raise UnsafeZipError(f"member {info.filename!r} is corrupt ({exc})", code="corrupt") from exc
        except EOFError as exc:
            raise UnsafeZipError(f"member {info.filename!r} is truncated ({exc})", code="truncated") from exc
        except NotImplementedError as exc:  # e.g. deflate64, which zipfile cannot inflate
            raise UnsafeZipError(
                f"member {info.filename!r} uses an unsupported compression method ({exc})",
                code="unsupported_compression",
            ) from exc
        except RuntimeError as exc:  # zipfile raises RuntimeError for encrypted members it cannot read
            raise UnsafeZipError(
                f"member {info.filename!r} cannot be read ({exc})", code="encrypted"
            ) from exc
        except (
            zlib.error,
            OSError,
            ValueError,
            LookupError,
        ) as exc:  # inflate errors (lzma/bz2 raise others)
            raise UnsafeZipError(f"member {info.filename!r} is corrupt ({exc})", code="corrupt") from exc
        self._bytes_read += got
        return b"".join(chunks)

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _peek(file: str | os.PathLike[str] | BinaryIO, n: int) -> bytes:
    try:
        if isinstance(file, (str, os.PathLike)):
            with open(file, "rb") as f:
                return f.read(n)
        pos = file.tell()
        file.seek(0)
        head = file.read(n)
        file.seek(pos)
        return head
    except (OSError, ValueError):
        return b""
