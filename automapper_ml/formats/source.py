"""Where a map's files come from: a folder or a zip, looked up case-insensitively.

Real maps say `info.dat` for `Info.dat` and list difficulty files in whatever case the
editor chose, so every lookup folds case. The map may sit at the root of the folder/zip
or in exactly one folder below it (BeatSaver zips are flat; hand-made zips often wrap the
map in a folder); deeper nesting or two maps in one archive is an error, not a guess.

    with open_map_source("data/raw/1a2b.zip") as source:
        beatmap = read_map(source)
        audio = source.read_bytes(beatmap.audio_filename)
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path

from automapper_ml.formats.errors import MapFormatError, MissingFileError, UnsafeZipError
from automapper_ml.formats.safezip import SafeZip, ZipLimits, normalize_member_name

INFO_NAME = "info.dat"
_IGNORED_TOP = "__macosx"  # macOS resource-fork folder inside zips made with Finder


def clean_relpath(relpath: str) -> str:
    """A map-relative path as written in Info.dat, checked: no `..`, no absolute path.

    Info.dat is untrusted too: `"_beatmapFilename": "../../etc/passwd"` must not read
    outside the map, in a folder or a zip.
    """
    try:
        name = normalize_member_name(relpath)
    except UnsafeZipError as exc:
        raise MapFormatError(
            f"file name {relpath!r} is not a plain relative path", code="bad_filename"
        ) from exc
    if name.endswith("/"):
        raise MapFormatError(f"file name {relpath!r} names a folder", code="bad_filename")
    return name


class MapSource(ABC):
    """Read-only access to the files of one map, relative to the folder holding its Info.dat."""

    name: str  # the folder or zip name, for messages and ids

    def __init__(self, name: str, files: list[str]) -> None:
        self.name = name
        self._files = files
        self._by_folded = {f.casefold(): f for f in files}

    def list(self) -> list[str]:
        """Files of the map, relative to its root, with forward slashes."""
        return list(self._files)

    def resolve(self, relpath: str) -> str | None:
        """The actual stored name for `relpath` (case-insensitive), or None."""
        return self._by_folded.get(clean_relpath(relpath).casefold())

    def has(self, relpath: str) -> bool:
        return self.resolve(relpath) is not None

    def read_bytes(self, relpath: str) -> bytes:
        """The file's bytes; MissingFileError(code="missing_file") when the map has no such file."""
        actual = self.resolve(relpath)
        if actual is None:
            raise MissingFileError(f"{self.name}: no file {relpath!r} in the map", code="missing_file")
        return self._read(actual)

    @abstractmethod
    def _read(self, actual: str) -> bytes: ...

    def close(self) -> None:
        """Release the underlying file (a no-op for folders)."""
        return None

    def __enter__(self) -> MapSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self._files)} files)"


def _find_root(files: list[str], label: str) -> str:
    """The prefix ("" or "folder/") of the one Info.dat at depth 0 or 1."""
    infos = [f for f in files if f.rsplit("/", 1)[-1].casefold() == INFO_NAME]
    infos = [f for f in infos if f.split("/", 1)[0].casefold() != _IGNORED_TOP]
    if any("/" not in f for f in infos):
        return ""
    shallow = sorted(f for f in infos if f.count("/") == 1)
    if len(shallow) == 1:
        return shallow[0].rsplit("/", 1)[0] + "/"
    if len(shallow) > 1:
        folders = ", ".join(f.split("/")[0] for f in shallow[:4])
        raise MapFormatError(f"{label}: holds more than one map ({folders})", code="multiple_maps")
    if infos:
        raise MapFormatError(
            f"{label}: Info.dat is nested too deep ({infos[0]}); the map must sit at the root or one folder down",
            code="map_too_deep",
        )
    raise MissingFileError(f"{label}: no Info.dat (or info.dat) in the map", code="missing_info")


class ZipSource(MapSource):
    """A map inside a zip archive, read through `SafeZip` (checked names, size caps)."""

    def __init__(self, path: str | os.PathLike[str], *, limits: ZipLimits | None = None) -> None:
        self.path = Path(path)
        self._zip = SafeZip(self.path, limits=limits)
        try:
            members = self._zip.names()
            root = _find_root(members, self.path.name)
        except BaseException:
            self._zip.close()
            raise
        self._root = root
        files = [m[len(root) :] for m in members if m.startswith(root)]
        super().__init__(self.path.name, files)

    def _read(self, actual: str) -> bytes:
        return self._zip.read(self._root + actual)

    def close(self) -> None:
        self._zip.close()


class FolderSource(MapSource):
    """A map folder on disk. Symlinks pointing outside the map and oversized files are refused."""

    def __init__(self, path: str | os.PathLike[str], *, limits: ZipLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or ZipLimits()
        base = self.path.resolve()
        listed = self._walk(base)
        root = _find_root(listed, base.name)
        self._base = (base / root).resolve() if root else base
        files = [f[len(root) :] for f in listed if f.startswith(root)]
        super().__init__(base.name, files)

    def _walk(self, base: Path) -> list[str]:
        out: list[str] = []
        # Two levels are enough to find the map (root or one folder down) and its files.
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            rel = Path(dirpath).relative_to(base)
            depth = 0 if rel == Path(".") else len(rel.parts)
            if depth >= 2:
                dirnames[:] = []
            prefix = "" if depth == 0 else rel.as_posix() + "/"
            out += [prefix + f for f in sorted(filenames)]
            if len(out) > self.limits.max_members:
                raise MapFormatError(
                    f"{base.name}: more than {self.limits.max_members} files", code="too_many_members"
                )
        return sorted(out)

    def _read(self, actual: str) -> bytes:
        path = (self._base / actual).resolve()
        if not path.is_relative_to(self._base):
            raise MapFormatError(f"{self.name}: {actual!r} links outside the map folder", code="bad_filename")
        try:
            size = path.stat().st_size
            if size > self.limits.max_member_bytes:
                raise MapFormatError(
                    f"{self.name}: {actual!r} is {size / (1 << 20):.1f} MiB, over the cap", code="too_large"
                )
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise MissingFileError(f"{self.name}: {actual!r} vanished", code="missing_file") from exc
        except OSError as exc:
            raise MapFormatError(
                f"{self.name}: cannot read {actual!r} ({exc.strerror})", code="unreadable"
            ) from exc


def open_map_source(path: str | os.PathLike[str], *, limits: ZipLimits | None = None) -> MapSource:
    """A `FolderSource` for a folder, a `ZipSource` for anything else (bytes that are not a zip
    raise UnsafeZipError(code="not_a_zip")). A missing path is MissingFileError(code="not_found")."""
    p = Path(path)
    if p.is_dir():
        return FolderSource(p, limits=limits)
    if not p.is_file():
        raise MissingFileError(f"{p}: no such file or folder", code="not_found")
    return ZipSource(p, limits=limits)
