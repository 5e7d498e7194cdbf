"""The map reader entry point: a folder or zip in, one `BeatMap` out, or a typed `MapError`.

    beatmap = load_map("data/raw/1a2b.zip")

Info.dat decides the map's shape (v2 or v4); each difficulty file is read according to its
OWN version, because real maps pair a v2 Info.dat with v3 (or v2.6) difficulty files.
v4 maps are read by `automapper_ml.formats.v4` (parse_info_v4, parse_difficulty_v4,
parse_audio_data_v4).

Listed difficulty files that are absent are dropped with a line in `beatmap.unconverted`
(BeatSaver maps often list a difficulty the uploader deleted; the game skips it too);
`strict=True` makes any absent file an error, and a map with none of its files is always one.
When the map states its audio length (BPMInfo.dat/AudioData.dat sample count, v4
`songDuration`), every difficulty is checked against it with `check_objects_within`.

Every file is bounded before the work it protects (automapper_ml.limits): JSON size, depth and
integer digits (`jsonvalues.load_json`), objects per difficulty (the JSON array lengths, before
any object is built) and per map, beats, BPM and tempo regions. Difficulty and characteristic
names are folded onto the fixed vocabulary (`model.canonical_difficulty/_characteristic`); an
entry with any other name is skipped with a line in `beatmap.unconverted`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from automapper_ml.formats.errors import (
    InvalidValueError,
    MapError,
    MapFormatError,
    MissingFileError,
    UnsupportedVersionError,
)
from automapper_ml.formats.info_v2 import parse_bpm_info, parse_info_v2
from automapper_ml.formats.jsonvalues import load_json_object
from automapper_ml.formats.model import BeatMap, Difficulty
from automapper_ml.formats.safezip import ZipLimits
from automapper_ml.formats.source import MapSource, open_map_source
from automapper_ml.formats.v2 import is_v2, parse_difficulty_v2
from automapper_ml.formats.v3 import is_v3, parse_difficulty_v3
from automapper_ml.limits import MAX_OBJECTS_PER_MAP

INFO_FILENAME = "Info.dat"
BPM_INFO_FILENAME = "BPMInfo.dat"
# Objects may run a little past the audio (a final wall held to the fade-out): allow the larger
# of 5 s or 5% of the song before calling the map broken.
END_SLACK_SECONDS = 5.0
END_SLACK_FRACTION = 0.05


def load_map(
    path: str | os.PathLike[str], *, limits: ZipLimits | None = None, strict: bool = False
) -> BeatMap:
    """Read a map folder or zip. Raises a `MapError` subclass (with `.code`) for any bad input."""
    with open_map_source(path, limits=limits) as source:
        return read_map(source, strict=strict)


def read_map(source: MapSource, *, strict: bool = False, check_length: bool = True) -> BeatMap:
    """Read Info.dat and every difficulty it lists from an open `MapSource`."""
    if not source.has(INFO_FILENAME):
        raise MissingFileError(f"{source.name}: no Info.dat in the map", code="missing_info")
    info_name = source.resolve(INFO_FILENAME) or INFO_FILENAME
    info = load_json_object(source.read_bytes(info_name), info_name)
    info_version = _info_major(info, info_name)
    if info_version == "4":
        beatmap = _read_v4_info(source, info, info_name)
    else:
        beatmap = parse_info_v2(info, info_name)
        _read_bpm_info(source, beatmap)
    if not beatmap.difficulties:
        skipped = f" ({beatmap.unconverted[0]})" if beatmap.unconverted else ""
        raise MapFormatError(
            f"{source.name}: Info.dat lists no difficulties{skipped}", code="no_difficulties"
        )

    present: list[Difficulty] = []
    missing: list[str] = []
    total = 0
    for diff in beatmap.difficulties:
        if not diff.filename or not source.has(diff.filename):
            missing.append(f"{diff.key} ({diff.filename or 'no file name'})")
            continue
        _read_difficulty(source, beatmap, diff)  # bounded by MAX_OBJECTS_PER_DIFFICULTY before building
        total += object_count(diff)
        if total > MAX_OBJECTS_PER_MAP:  # stops the next file from being read
            raise InvalidValueError(
                f"{source.name}: more than {MAX_OBJECTS_PER_MAP} objects over its difficulties",
                code="too_many_objects",
            )
        present.append(diff)
    if missing and (strict or not present):
        raise MissingFileError(
            f"{source.name}: listed difficulty file(s) missing: {', '.join(missing)}",
            code="missing_difficulty_file",
        )
    beatmap.unconverted += [f"{m}: listed in Info.dat but the file is missing; skipped" for m in missing]
    beatmap.difficulties = present

    if check_length:
        seconds = beatmap.audio_duration  # sample count / frequency, else v4 songDuration
        if seconds:
            for diff in present:
                check_objects_within(beatmap, diff, seconds)
    return beatmap


def object_count(diff: Difficulty) -> int:
    """Every model object of a difficulty (what MAX_OBJECTS_PER_DIFFICULTY/_PER_MAP count)."""
    lists = (diff.notes, diff.bombs, diff.obstacles, diff.arcs, diff.chains, diff.events, diff.boosts)
    lists += (diff.bpm_changes, diff.rotations, diff.fake_notes, diff.fake_bombs, diff.fake_obstacles)
    return sum(map(len, lists)) + len(diff.fake_chains)


def _info_major(info: dict[str, Any], name: str) -> str:
    """ "2" or "4" for a recognisable Info.dat, else UnsupportedVersionError."""
    for key in ("version", "_version"):
        version = info.get(key)
        if version is None:
            continue
        major = str(version).split(".")[0]
        if key == "version" and major == "4":
            return "4"
        if key == "_version" and major == "2":
            return "2"
        raise UnsupportedVersionError(
            f"{name}: Info.dat version {version!r} is not supported (only 2.x and 4.x)"
        )
    if "_difficultyBeatmapSets" in info:  # early maps omit `_version`; the shape is unmistakably v2
        return "2"
    raise UnsupportedVersionError(f"{name}: Info.dat has no version and is not a recognisable v2 Info.dat")


def _read_bpm_info(source: MapSource, beatmap: BeatMap) -> None:
    """BPMInfo.dat is editor-only (the game never reads it): a broken one is noted and skipped."""
    if not source.has(BPM_INFO_FILENAME):
        return
    name = source.resolve(BPM_INFO_FILENAME) or BPM_INFO_FILENAME
    try:
        parse_bpm_info(load_json_object(source.read_bytes(name), name), beatmap, name)
    except MapFormatError as exc:
        beatmap.unconverted.append(f"{name}: ignored ({exc})")


def _read_difficulty(source: MapSource, beatmap: BeatMap, diff: Difficulty) -> None:
    name = source.resolve(diff.filename) or diff.filename
    data = load_json_object(source.read_bytes(name), name)
    if is_v3(data):
        parse_difficulty_v3(data, diff, name)
    elif is_v2(data):
        parse_difficulty_v2(data, diff, name)
    elif _declared_major(data) == "4":
        lightshow = None
        if diff.lightshow_filename and source.has(diff.lightshow_filename):
            ls_name = source.resolve(diff.lightshow_filename) or diff.lightshow_filename
            lightshow = load_json_object(source.read_bytes(ls_name), ls_name)
        elif diff.lightshow_filename:
            beatmap.unconverted.append(
                f"{diff.key}: lightshow {diff.lightshow_filename!r} missing; no lights"
            )
        _call_v4(name, "parse_difficulty_v4", data, lightshow, diff)
    else:
        version = data.get("version", data.get("_version"))
        what = f"version {version!r}" if version is not None else "no version and no known object arrays"
        raise UnsupportedVersionError(f"{name}: difficulty file has {what}")


def _declared_major(data: dict[str, Any]) -> str:
    version = data.get("version", data.get("_version"))
    return str(version).split(".")[0] if version is not None else ""


def _read_v4_info(source: MapSource, info: dict[str, Any], name: str) -> BeatMap:
    beatmap: BeatMap = _call_v4(name, "parse_info_v4", info, name)
    audio_data = beatmap.audio_data_filename
    if audio_data and source.has(audio_data):
        ad_name = source.resolve(audio_data) or audio_data
        ad_json = load_json_object(source.read_bytes(ad_name), ad_name)
        _call_v4(ad_name, "parse_audio_data_v4", ad_json, beatmap, ad_name)
    elif audio_data:
        beatmap.unconverted.append(f"{name}: audio data file {audio_data!r} missing; constant BPM assumed")
    return beatmap


def _call_v4(filename: str, function: str, *args: Any) -> Any:
    """Call automapper_ml.formats.v4.<function>, wrapping anything but a MapError as a format error."""
    try:
        v4 = importlib.import_module("automapper_ml.formats.v4")
        fn = getattr(v4, function)
    except (ImportError, AttributeError) as exc:
        raise UnsupportedVersionError(
            f"{filename}: v4 maps are not supported yet ({function} unavailable)"
        ) from exc
    try:
        return fn(*args)
    except MapError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        raise MapFormatError(f"{filename}: unreadable v4 data ({type(exc).__name__}: {exc})") from exc


def check_objects_within(beatmap: BeatMap, difficulty: Difficulty, song_seconds: float) -> None:
    """Raise InvalidValueError(code="objects_past_end") when a playable object ends past the song.

    Slack is max(5 s, 5% of the song). Fake objects do not count (they are never played).
    """
    if not song_seconds or song_seconds <= 0:
        return
    timing = beatmap.timing(difficulty)
    end_beat = difficulty.last_object_beat()
    end_seconds = timing.to_seconds(end_beat)
    limit = song_seconds + max(END_SLACK_SECONDS, END_SLACK_FRACTION * song_seconds)
    if end_seconds <= limit:
        return
    raise InvalidValueError(
        f"{difficulty.key} ({difficulty.filename}): {_describe_last(difficulty, end_beat)} ends at "
        f"{end_seconds:.1f} s, past the {song_seconds:.1f} s song",
        code="objects_past_end",
    )


def _describe_last(difficulty: Difficulty, end_beat: float) -> str:
    for o in difficulty.obstacles:
        if o.beat + max(o.duration, 0.0) == end_beat:
            return f"a wall at beat {o.beat:g} lasting {o.duration:g} beats"
    for a in difficulty.arcs:
        if a.tail_beat == end_beat:
            return f"an arc ending at beat {end_beat:g}"
    for c in difficulty.chains:
        if c.tail_beat == end_beat:
            return f"a chain ending at beat {end_beat:g}"
    return f"an object at beat {end_beat:g}"
