"""Write a map to disk: a folder or a zip holding Info.dat, one file per difficulty, song.egg and,
when given, the cover image (cover.jpg or cover.png).

The JSON itself comes from pure functions (re-exported here): `difficulty_to_v3` and
`info_to_v21` (writer_v3) for what automapper exports, `difficulty_to_v2` and `beatmap_to_v4`
(writer_legacy) for demo maps in older and newer formats. This module never imports the
readers: writing must not depend on how files are parsed.

`write_map` is atomic: every JSON document is built (and checked: no NaN, no infinity) before
anything touches the disk, the folder or zip is assembled under a temporary name next to the
destination, and only a complete result is renamed into place. A failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from automapper_ml.atomic import atomic_dir, atomic_path
from automapper_ml.formats.errors import (
    InvalidValueError,
    MapFormatError,
    MissingFileError,
    UnsupportedVersionError,
)
from automapper_ml.formats.model import BeatMap
from automapper_ml.formats.writer_legacy import beatmap_to_v4, difficulty_to_v2
from automapper_ml.formats.writer_v3 import difficulty_filename, difficulty_to_v3, info_to_v21

__all__ = [
    "COVER_FILENAMES",
    "SONG_FILENAME",
    "beatmap_to_v4",
    "difficulty_to_v2",
    "difficulty_to_v3",
    "dump_json",
    "info_to_v21",
    "map_documents",
    "write_map",
]

SONG_FILENAME = "song.egg"  # Beat Saber's name for an Ogg Vorbis song
INFO_FILENAME = "Info.dat"
_OGG_MAGIC = b"OggS"
# The cover formats the game and BeatSaver take, by their magic bytes -> the file name written.
COVER_FILENAMES = {b"\xff\xd8\xff": "cover.jpg", b"\x89PNG\r\n\x1a\n": "cover.png"}
# A fixed member timestamp makes the same map always zip to the same bytes (stable content hashes).
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
VERSIONS = ("2", "3", "4")


def dump_json(doc: Any) -> bytes:
    """Compact UTF-8 JSON; NaN or infinity anywhere (e.g. in verbatim light box groups) is an error."""
    try:
        return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except ValueError as err:
        raise InvalidValueError(f"cannot write JSON: {err}") from None


def map_documents(
    beatmap: BeatMap, *, version: str = "3", song_filename: str | None = None, cover_filename: str = ""
) -> dict[str, Any]:
    """Every JSON file of the map in `version` ("2", "3" or "4"): file name -> dict, Info.dat first.

    v2 and v3 maps get an Info.dat 2.1.0 and `ExpertPlusStandard.dat`-style difficulty files;
    v4 maps what `beatmap_to_v4` makes. `song_filename` replaces the Info's audio file name.
    The Info names `cover_filename` as its cover ("" unless `write_map` writes one: a name
    without its file would be a broken map).
    """
    major = str(version).split(".")[0]
    if major not in VERSIONS:
        raise UnsupportedVersionError(f"cannot write map format version {version!r}; use one of {VERSIONS}")
    song = song_filename if song_filename is not None else beatmap.audio_filename
    # File names come from the fixed vocabulary (`difficulty_filename`), never from map text.
    names: dict[str, str] = {}
    for diff in beatmap.difficulties:
        filename = difficulty_filename(diff)
        if diff.key in names or filename in names.values():
            raise MapFormatError(f"difficulty {diff.key} appears twice; each needs its own file")
        names[diff.key] = filename
    if major == "4":
        files = beatmap_to_v4(beatmap)
        info = files.pop(INFO_FILENAME)
        info["audio"]["songFilename"] = song
        info["songPreviewFilename"] = song
        info["coverImageFilename"] = cover_filename
        return {INFO_FILENAME: info, **files}
    docs: dict[str, Any] = {
        INFO_FILENAME: info_to_v21(beatmap, {**names, "song": song, "cover": cover_filename})
    }
    convert = difficulty_to_v3 if major == "3" else difficulty_to_v2
    for diff in beatmap.difficulties:
        docs[names[diff.key]] = convert(beatmap, diff)
    return docs


def _audio_bytes(audio: bytes | os.PathLike | str) -> bytes:
    if isinstance(audio, bytes | bytearray | memoryview):
        data = bytes(audio)
    else:
        try:
            data = Path(audio).read_bytes()
        except OSError as err:
            raise MissingFileError(f"cannot read audio {audio}: {err.strerror or err}") from None
    if not data.startswith(_OGG_MAGIC):
        raise InvalidValueError("the audio is not Ogg Vorbis (no OggS header); song.egg must be Ogg Vorbis")
    return data


def _cover_filename(cover: bytes) -> str:
    for magic, name in COVER_FILENAMES.items():
        if bytes(cover[: len(magic)]) == magic:
            return name
    raise InvalidValueError("the cover is neither JPEG nor PNG; the game shows only those")


def write_map(
    beatmap: BeatMap,
    out: str | os.PathLike,
    *,
    audio: bytes | os.PathLike | None = None,
    cover: bytes | None = None,
    version: str = "3",
) -> Path:
    """Write the map into the folder `out`, or into a zip when `out` ends with `.zip`; return the path.

    Info.dat (2.1.0 for version "2"/"3", 4.0.1 for "4"), one file per difficulty and, when
    `audio` (Ogg Vorbis bytes or a file) is given, `song.egg` named by the Info. Without audio
    the Info keeps the model's audio file name and no audio file is written. `cover` (JPEG or
    PNG bytes) is written as cover.jpg / cover.png and named by the Info; without it the Info
    names no cover. An existing folder or zip at `out` is replaced whole.
    """
    out = Path(out)
    song = _audio_bytes(audio) if audio is not None else None
    cover_name = _cover_filename(cover) if cover is not None else ""
    docs = map_documents(
        beatmap,
        version=version,
        song_filename=SONG_FILENAME if song is not None else None,
        cover_filename=cover_name,
    )
    payload = {name: dump_json(doc) for name, doc in docs.items()}
    if song is not None:
        payload[SONG_FILENAME] = song
    if cover is not None:
        payload[cover_name] = bytes(cover)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".zip":
        _write_zip(out, payload)
    else:
        _write_folder(out, payload)
    return out


def _write_zip(out: Path, payload: dict[str, bytes]) -> None:
    with atomic_path(out) as tmp, open(tmp, "wb") as handle, zipfile.ZipFile(handle, "w") as zf:
        for name, data in payload.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            # Ogg, JPEG and PNG are already compressed; deflating them again only costs time.
            stored = name == SONG_FILENAME or name in COVER_FILENAMES.values()
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def _write_folder(out: Path, payload: dict[str, bytes]) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    with atomic_dir(out) as tmp:
        for name, data in payload.items():
            (tmp / name).write_bytes(data)
