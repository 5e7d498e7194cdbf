"""`.osz` beatmapsets (a zip of `.osu` files, the song, the background) in and out.

Reading goes through `formats.safezip.SafeZip`, under the same `ZipLimits` as Beat Saber map zips
(names, links, member count and size, compression ratio, a streaming cap). Every `.osu` member is
read; one the reader refuses (another mode, a broken line) is listed in `OszSet.refused` with its
one-line reason instead of failing the set, so a set of osu!standard and mania difficulties yields
its osu!standard ones. Writing is atomic (`automapper_ml.atomic`) and deterministic (fixed member
dates, sorted names).
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from automapper_ml.atomic import atomic_path
from automapper_ml.formats.errors import MapError
from automapper_ml.formats.osu.model import OsuMap
from automapper_ml.formats.osu.reader import read_osu
from automapper_ml.formats.osu.writer import osu_bytes
from automapper_ml.formats.safezip import SafeZip, ZipLimits

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_UNSAFE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
# Already-compressed members are stored, not deflated again.
_STORED_SUFFIXES = (".mp3", ".ogg", ".jpg", ".jpeg", ".png", ".mp4", ".avi", ".flv")


@dataclass(frozen=True)
class OszSet:
    name: str  # the archive's file name
    beatmaps: tuple[tuple[str, OsuMap], ...]  # (member name, map) of every osu!standard difficulty
    refused: tuple[tuple[str, MapError], ...]  # (member name, why) of every .osu not read
    files: dict[str, bytes] = field(default_factory=dict, compare=False)  # other members, when asked for

    def audio(self) -> bytes | None:
        """The song the first difficulty names (None when not read or absent)."""
        if not self.beatmaps:
            return None
        wanted = self.beatmaps[0][1].general.audio_filename.casefold()
        return next((data for name, data in self.files.items() if name.casefold() == wanted), None)


def read_osz(
    path: str | os.PathLike[str], *, limits: ZipLimits | None = None, with_files: bool = False
) -> OszSet:
    """Read every `.osu` of an `.osz`; `with_files` also reads the other members into `files`.
    A damaged or unsafe archive is an `UnsafeZipError`."""
    beatmaps, refused, files = [], [], {}
    with SafeZip(path, limits=limits) as archive:
        for name in archive.names():
            if name.casefold().endswith(".osu"):
                try:
                    beatmaps.append((name, read_osu(archive.read(name), name)))
                except MapError as err:
                    refused.append((name, err))
            elif with_files:
                files[name] = archive.read(name)
    return OszSet(Path(path).name, tuple(beatmaps), tuple(refused), files)


def osu_filename(m: OsuMap) -> str:
    """The name osu! gives a difficulty: `Artist - Title (Creator) [Version].osu`, made safe."""
    md = m.metadata
    stem = f"{md.artist} - {md.title} ({md.creator}) [{md.version}]"
    return _UNSAFE_NAME.sub("_", stem).strip(" .")[:200] + ".osu"


def write_osz(
    path: str | os.PathLike[str],
    beatmaps: list[OsuMap] | dict[str, OsuMap],
    files: dict[str, bytes] | None = None,
) -> Path:
    """Write maps (named by `osu_filename` unless given as {member name: map}) and other files (the
    song, the background) into an `.osz` at `path`, whole or not at all. Returns the path."""
    named = beatmaps if isinstance(beatmaps, dict) else {osu_filename(m): m for m in beatmaps}
    payload = {name: osu_bytes(m) for name, m in named.items()} | dict(files or {})
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(payload):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            stored = name.casefold().endswith(_STORED_SUFFIXES)
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, payload[name])
    return out
