"""Info.dat v2 (2.0.0, 2.1.0) and BPMInfo.dat (2.0.0) -> BeatMap metadata.

Difficulties come back as stubs (no objects): the reader opens each file and dispatches on
the file's own version, since real maps mix a v2 Info.dat with v3 difficulty files.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.jsonvalues import ObjectReader, custom_data, get_array, iter_objects
from automapper_ml.formats.model import (
    DIFFICULTY_RANKS,
    BeatMap,
    BpmRegion,
    Difficulty,
    canonical_characteristic,
    canonical_difficulty,
)
from automapper_ml.limits import MAX_AUDIO_SECONDS, MAX_BPM, MAX_SAMPLE_RATE, MIN_BPM, MIN_SAMPLE_RATE


def parse_info_v2(data: dict[str, Any], filename: str = "Info.dat") -> BeatMap:
    """Map metadata and difficulty stubs from a v2 Info.dat (already decoded JSON)."""
    top = ObjectReader(data, filename, "")
    bpm = top.bpm("_beatsPerMinute")
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
        written = set_reader.text("_beatmapCharacteristicName", "Standard")
        characteristic = canonical_characteristic(written)
        array = f"_difficultyBeatmapSets[{set_reader.index}]._difficultyBeatmaps"
        entries = get_array(set_reader.obj, "_difficultyBeatmaps", filename)
        if characteristic is None:
            beatmap.unconverted.append(
                f"{filename}: {len(entries)} difficulties of unknown characteristic {written[:40]!r} skipped"
            )
            continue
        for _, r in iter_objects(entries, filename, array):
            diff = _difficulty_stub(r, characteristic)
            if diff is None:
                beatmap.unconverted.append(
                    f"{filename}: {array}[{r.index}] skipped: unknown difficulty name "
                    f"{r.text('_difficulty')[:40]!r}"
                )
                continue
            if diff.key in seen:
                beatmap.unconverted.append(
                    f"{filename}: {diff.key} listed twice; the second entry was ignored"
                )
                continue
            seen.add(diff.key)
            beatmap.difficulties.append(diff)
    return beatmap


def _difficulty_stub(r: ObjectReader, characteristic: str) -> Difficulty | None:
    """A difficulty without objects; None when its name is not one of the game's five."""
    name = canonical_difficulty(r.text("_difficulty"))
    if name is None:
        return None
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
    frequency = song_frequency(top, "_songFrequency")
    samples = top.integer("_songSampleCount")
    regions = []
    for _, r in iter_objects(get_array(data, "_regions", filename), filename, "_regions"):
        region = BpmRegion(
            start_sample=r.integer("_startSampleIndex"),
            end_sample=r.integer("_endSampleIndex"),
            start_beat=r.beat("_startBeat"),
            end_beat=r.beat("_endBeat"),
        )
        check_region(region, frequency, f"{filename}: _regions[{r.index}]")
        regions.append(region)
    beatmap.song_frequency = frequency if frequency > 0 else None
    beatmap.song_sample_count = samples if samples > 0 else None
    beatmap.bpm_regions = regions


def song_frequency(top: ObjectReader, key: str) -> int:
    """A stated sample rate: 0 (or less: unknown, returned as 0) or within MIN..MAX_SAMPLE_RATE."""
    frequency = top.integer(key)
    if frequency <= 0:
        return 0
    if not MIN_SAMPLE_RATE <= frequency <= MAX_SAMPLE_RATE:
        raise InvalidValueError(
            f"{top.filename}: {key} = {frequency} Hz is not an audio sample rate "
            f"({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE})"
        )
    return frequency


def check_region(region: BpmRegion, frequency: int, where: str) -> None:
    """Refuse a tempo region that plays faster than MAX_BPM or slower than MIN_BPM, or runs past
    MAX_AUDIO_SECONDS. Regions with no beats or no samples are left to `Timing` (which skips them)."""
    beats = region.end_beat - region.start_beat
    samples = region.end_sample - region.start_sample
    if frequency <= 0 or beats <= 0 or samples <= 0:
        return
    seconds = samples / frequency
    if max(region.start_sample, region.end_sample) / frequency > MAX_AUDIO_SECONDS:
        raise InvalidValueError(
            f"{where}: ends {max(region.start_sample, region.end_sample) / frequency:.0f} s into the song, "
            f"past the {MAX_AUDIO_SECONDS:.0f} s an audio file may last"
        )
    bpm = beats / seconds * 60.0
    if not MIN_BPM <= bpm <= MAX_BPM:
        raise InvalidValueError(
            f"{where}: {beats:g} beats in {samples} samples is {bpm:.4g} BPM, "
            f"not a playable tempo ({MIN_BPM:g}..{MAX_BPM:g})"
        )
