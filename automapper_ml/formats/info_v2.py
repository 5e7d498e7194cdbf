"""Info.dat v2 (2.0.0, 2.1.0) and BPMInfo.dat (2.0.0) -> BeatMap metadata.

Difficulties come back as stubs (no objects): the reader opens each file and dispatches on
the file's own version, since real maps mix a v2 Info.dat with v3 difficulty files.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.jsonvalues import ObjectReader, custom_data, get_array, iter_objects
from automapper_ml.formats.model import DIFFICULTY_RANKS, BeatMap, BpmRegion, Difficulty

MAX_BPM = 1e6  # above this a "BPM" is an editor trick (hyperclocked uses 10000), not a tempo
# Hand-edited Info.dat files sometimes use the display name or another case.
_DIFFICULTY_ALIASES = {n.casefold(): n for n in DIFFICULTY_RANKS} | {"expert+": "ExpertPlus"}


def parse_info_v2(data: dict[str, Any], filename: str = "Info.dat") -> BeatMap:
    """Map metadata and difficulty stubs from a v2 Info.dat (already decoded JSON)."""
    top = ObjectReader(data, filename, "")
    bpm = top.number("_beatsPerMinute", 0.0, limit=MAX_BPM)
    if not bpm > 0:
        raise InvalidValueError(f"{filename}: _beatsPerMinute = {bpm:g} (must be a positive number)")
    env_names = get_array(data, "_environmentNames", filename)
    beatmap = BeatMap(
        info_version=top.text("_version", ""),
        title=top.text("_songName"),
        artist=top.text("_songAuthorName"),
        mapper=top.text("_levelAuthorName"),
        bpm=bpm,
        audio_filename=top.text("_songFilename"),
        subtitle=top.text("_songSubName"),
        song_time_offset=top.number("_songTimeOffset"),
        preview_start=top.number("_previewStartTime"),
        preview_duration=top.number("_previewDuration", 10.0),
        cover_filename=top.text("_coverImageFilename"),
        environment_name=top.text("_environmentName", "DefaultEnvironment"),
        all_directions_environment_name=top.text("_allDirectionsEnvironmentName", "GlassDesertEnvironment"),
        environment_names=tuple(n for n in env_names if isinstance(n, str)),
    )
    seen: set[str] = set()
    for _, set_reader in iter_objects(
        get_array(data, "_difficultyBeatmapSets", filename), filename, "_difficultyBeatmapSets"
    ):
        characteristic = set_reader.text("_beatmapCharacteristicName", "Standard")
        array = f"_difficultyBeatmapSets[{set_reader.index}]._difficultyBeatmaps"
        for _, r in iter_objects(get_array(set_reader.obj, "_difficultyBeatmaps", filename), filename, array):
            diff = _difficulty_stub(r, characteristic)
            if diff.key in seen:
                beatmap.unconverted.append(
                    f"{filename}: {diff.key} listed twice; the second entry was ignored"
                )
                continue
            seen.add(diff.key)
            beatmap.difficulties.append(diff)
    return beatmap


def _difficulty_stub(r: ObjectReader, characteristic: str) -> Difficulty:
    name = r.text("_difficulty")
    name = _DIFFICULTY_ALIASES.get(name.casefold(), name)
    cd = custom_data(r.obj, "_customData")
    label = cd.get("_difficultyLabel")
    return Difficulty(
        characteristic=characteristic,
        name=name,
        rank=r.integer("_difficultyRank", DIFFICULTY_RANKS.get(name, 0)),
        filename=r.text("_beatmapFilename"),
        njs=r.number("_noteJumpMovementSpeed"),
        njs_offset=r.number("_noteJumpStartBeatOffset"),
        label=label if isinstance(label, str) and label else None,
        requirements=_string_tuple(cd.get("_requirements")),
        suggestions=_string_tuple(cd.get("_suggestions")),
    )


def _string_tuple(value: Any) -> tuple[str, ...]:
    # customData is free-form: a malformed list is dropped, never fatal.
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def parse_bpm_info(data: dict[str, Any], beatmap: BeatMap, filename: str = "BPMInfo.dat") -> None:
    """BPMInfo.dat (2.0.0): sets song_frequency, song_sample_count and bpm_regions in place.

    A zero frequency or sample count means "unknown" (left None) rather than an error:
    the game itself never reads this file, only editors do.
    """
    top = ObjectReader(data, filename, "")
    frequency = top.integer("_songFrequency")
    samples = top.integer("_songSampleCount")
    regions = []
    for _, r in iter_objects(get_array(data, "_regions", filename), filename, "_regions"):
        regions.append(
            BpmRegion(
                start_sample=r.integer("_startSampleIndex"),
                end_sample=r.integer("_endSampleIndex"),
                start_beat=r.beat("_startBeat"),
                end_beat=r.beat("_endBeat"),
            )
        )
    beatmap.song_frequency = frequency if frequency > 0 else None
    beatmap.song_sample_count = samples if samples > 0 else None
    beatmap.bpm_regions = regions
