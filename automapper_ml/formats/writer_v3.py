"""Model -> v3.3.0 difficulty JSON and Info.dat 2.1.0 JSON: the files automapper exports.

Pure functions: they build plain dicts and never touch the disk (`writer.write_map` does).
Field names follow the BSMG wiki (../shared/spec/bsmg_wiki/map-format) and are checked
against the schemas of KivalEvan's bsmap in the tests (tools/bsmap-check).

Numbers: integer fields are written as ints, beats and other continuous values as floats;
NaN, infinities and non-integral values in integer fields raise `InvalidValueError` (naming
the difficulty, list and index) instead of producing JSON the game cannot read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from automapper_ml.formats import model
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.fields import ARC_V3, BOMB_V3, CHAIN_V3, EVENT_V3, NOTE_V3, OBSTACLE_V3, kind

V3_VERSION = "3.3.0"
INFO_V2_VERSION = "2.1.0"
# The v3 light event box group arrays and the v3.3 FX collection, in the order the official editor writes them.
BOX_GROUP_KEYS = (
    "lightColorEventBoxGroups",
    "lightRotationEventBoxGroups",
    "lightTranslationEventBoxGroups",
    "vfxEventBoxGroups",
)
FX_COLLECTION_KEY = "_fxEventsCollection"
# Characteristics whose lanes rotate: they use the Info's all-directions environment.
ROTATING_CHARACTERISTICS = ("360Degree", "90Degree")
# Relative tolerance under which a tempo counts as the Info BPM (1e-12 of a beat's length
# is far below a microsecond over any song).
_BPM_REL_TOL = 1e-12


class _BadNumber(ValueError):
    """Internal: one field is not a usable number; re-raised as InvalidValueError with context."""


def num(value: Any) -> float:
    """A finite float (beats, multipliers, BPM, degrees)."""
    if isinstance(value, bool):
        raise _BadNumber(f"expected a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise _BadNumber(f"expected a number, got {value!r}") from None
    if not math.isfinite(out):
        raise _BadNumber(f"expected a finite number, got {value!r}")
    return out


def integer(value: Any) -> int:
    """An int for an integer field; 2.0 is accepted, 2.5, NaN and True are not."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    out = num(value)
    if out != int(out):
        raise _BadNumber(f"expected an integer, got {value!r}")
    return int(out)


def convert_all(where: str, items: Iterable[Any], fn: Callable[[Any], Any]) -> list[Any]:
    """`[fn(x) for x in items]`, turning a bad field into an InvalidValueError that names `where[i]`."""
    out = []
    for i, item in enumerate(items):
        try:
            out.append(fn(item))
        except _BadNumber as err:
            raise InvalidValueError(f"{where}[{i}]: {err}") from None
    return out


def timing_bpm_changes(beatmap: model.BeatMap, diff: model.Difficulty) -> list[model.BpmChange]:
    """BPM changes that reproduce `beatmap.timing(diff)`; [] when the tempo is the Info BPM throughout.

    v2/v3 files anchor beat 0 at second 0, so this is exact whenever the timing does too (every
    timing built from BPM changes, and regions starting at sample 0, as editors write them). A
    region timing that is discontinuous or starts off second 0 cannot be expressed as BPM events;
    its tempi are kept and the offset is lost.
    """
    segments = beatmap.timing(diff).segments
    first_beat, first_second, first_bpm = segments[0]
    constant = (
        len(segments) == 1
        and first_beat == 0.0
        and first_second == 0.0
        and math.isclose(first_bpm, beatmap.bpm, rel_tol=_BPM_REL_TOL)
    )
    if constant:
        return []
    return [model.BpmChange(beat, bpm) for beat, _, bpm in segments]


def chroma_custom_data(event: model.LightEvent) -> dict[str, Any]:
    """Chroma `color` (3 or 4 floats) and `lightID` (always a list) of a basic event; {} when plain."""
    custom: dict[str, Any] = {}
    if event.color is not None:
        custom["color"] = [num(c) for c in event.color]
    if event.light_id is not None:
        custom["lightID"] = [integer(i) for i in event.light_id]
    return custom


def _with_uninteractable(obj: dict[str, Any], uninteractable: bool) -> dict[str, Any]:
    if uninteractable:
        obj["customData"] = {"uninteractable": True}
    return obj


def write_fields(obj: Any, table: dict[str, str]) -> dict[str, Any]:
    """key -> value for every field of a `fields` table, in its order: integers as ints, the rest as floats."""
    return {
        key: (integer if kind(attr) == "integer" else num)(getattr(obj, attr)) for attr, key in table.items()
    }


def note_v3(n: model.ColorNote) -> dict[str, Any]:
    return _with_uninteractable(write_fields(n, NOTE_V3), n.uninteractable)


def bomb_v3(b: model.BombNote) -> dict[str, Any]:
    return _with_uninteractable(write_fields(b, BOMB_V3), b.uninteractable)


def obstacle_v3(o: model.Obstacle) -> dict[str, Any]:
    return _with_uninteractable(write_fields(o, OBSTACLE_V3), o.uninteractable)


def arc_v3(a: model.Arc) -> dict[str, Any]:
    return write_fields(a, ARC_V3)


def chain_v3(c: model.Chain) -> dict[str, Any]:
    return write_fields(c, CHAIN_V3)


def event_json(e: model.LightEvent, table: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """A basic event written with `table` (fields.EVENT_V3 or EVENT_V2) and its Chroma data, if any, in
    `<prefix>customData` with keys `<prefix>color`, `<prefix>lightID` (v2 prefixes every key with "_")."""
    obj = write_fields(e, table)
    custom = chroma_custom_data(e)
    if custom:
        obj[prefix + "customData"] = {prefix + k: v for k, v in custom.items()}
    return obj


def noodle_fakes_v3(diff: model.Difficulty) -> dict[str, list[dict[str, Any]]]:
    """Noodle fake objects as v3 `customData` arrays (only the non-empty ones)."""
    where = diff.key
    fakes = {
        "fakeColorNotes": convert_all(f"{where} fakeColorNotes", diff.fake_notes, note_v3),
        "fakeBombNotes": convert_all(f"{where} fakeBombNotes", diff.fake_bombs, bomb_v3),
        "fakeObstacles": convert_all(f"{where} fakeObstacles", diff.fake_obstacles, obstacle_v3),
        "fakeBurstSliders": convert_all(f"{where} fakeBurstSliders", diff.fake_chains, chain_v3),
    }
    return {k: v for k, v in fakes.items() if v}


def difficulty_to_v3(beatmap: model.BeatMap, diff: model.Difficulty) -> dict[str, Any]:
    """One difficulty as a v3.3.0 difficulty file (a JSON-ready dict).

    Objects keep the model's order. `bpmEvents` come from `beatmap.timing(diff)` (see
    `timing_bpm_changes`), so BPM changes that a v4 map keeps in AudioData regions, or a v2 map
    in `_BPMChanges`, survive. Light box groups are copied verbatim from `diff.light_box_groups`.
    Noodle fakes go to `customData.fake*`; `uninteractable` objects carry it in their customData.
    """
    where = diff.key
    out: dict[str, Any] = {
        "version": V3_VERSION,
        "bpmEvents": convert_all(
            f"{where} bpmEvents",
            timing_bpm_changes(beatmap, diff),
            lambda c: {"b": num(c.beat), "m": num(c.bpm)},
        ),
        "rotationEvents": convert_all(
            f"{where} rotationEvents",
            diff.rotations,
            lambda r: {"b": num(r.beat), "e": 0 if r.early else 1, "r": num(r.rotation)},
        ),
        "colorNotes": convert_all(f"{where} colorNotes", diff.notes, note_v3),
        "bombNotes": convert_all(f"{where} bombNotes", diff.bombs, bomb_v3),
        "obstacles": convert_all(f"{where} obstacles", diff.obstacles, obstacle_v3),
        "sliders": convert_all(f"{where} sliders", diff.arcs, arc_v3),
        "burstSliders": convert_all(f"{where} burstSliders", diff.chains, chain_v3),
        "waypoints": [],
        "basicBeatmapEvents": convert_all(
            f"{where} basicBeatmapEvents", diff.events, lambda e: event_json(e, EVENT_V3)
        ),
        "colorBoostBeatmapEvents": convert_all(
            f"{where} colorBoostBeatmapEvents", diff.boosts, lambda e: {"b": num(e.beat), "o": bool(e.on)}
        ),
    }
    groups = diff.light_box_groups or {}
    for key in BOX_GROUP_KEYS:
        out[key] = groups.get(key) or []
    out[FX_COLLECTION_KEY] = groups.get(FX_COLLECTION_KEY) or {"_fl": [], "_il": []}
    out["basicEventTypesWithKeywords"] = {"d": []}
    out["useNormalEventsAsCompatibleEvents"] = bool(diff.use_normal_events_as_compatible)
    fakes = noodle_fakes_v3(diff)
    if fakes:
        out["customData"] = fakes
    return out


def canonical_names(diff: model.Difficulty) -> tuple[str, str]:
    """(characteristic, difficulty name) from the fixed vocabulary (model.CHARACTERISTICS and
    DIFFICULTY_NAMES), whatever the model holds; anything else is an InvalidValueError. Every
    name a writer puts into Info.dat or a file name comes from here, never from map content."""
    characteristic = model.canonical_characteristic(diff.characteristic)
    name = model.canonical_difficulty(diff.name)
    if characteristic is None:
        raise InvalidValueError(
            f"cannot write characteristic {diff.characteristic[:40]!r}: not one of {', '.join(model.CHARACTERISTICS)}"
        )
    if name is None:
        raise InvalidValueError(
            f"cannot write difficulty {diff.name[:40]!r}: not one of {', '.join(model.DIFFICULTY_NAMES)}"
        )
    return characteristic, name


def difficulty_filename(diff: model.Difficulty, suffix: str = ".dat") -> str:
    """`ExpertPlusStandard.dat`: the name the official editor gives a difficulty file (`canonical_names`)."""
    characteristic, name = canonical_names(diff)
    return f"{name}{characteristic}{suffix}"


def environment_list(beatmap: model.BeatMap) -> list[str]:
    """The Info's environment list: the map's own, else the single and all-directions environments."""
    if beatmap.environment_names:
        return list(beatmap.environment_names)
    names = [beatmap.environment_name or "DefaultEnvironment"]
    if any(d.characteristic in ROTATING_CHARACTERISTICS for d in beatmap.difficulties):
        names.append(beatmap.all_directions_environment_name or "GlassDesertEnvironment")
    return names


def environment_index(names: list[str], beatmap: model.BeatMap, diff: model.Difficulty) -> int:
    # The model keeps no per-difficulty environment index, so rotating characteristics take the
    # all-directions environment when the list has it and everything else the first entry.
    if diff.characteristic in ROTATING_CHARACTERISTICS and beatmap.all_directions_environment_name in names:
        return names.index(beatmap.all_directions_environment_name)
    return 0


def difficulty_rank(diff: model.Difficulty) -> int:
    """The Info rank: the model's when it is one the game knows, else the standard rank for the name."""
    if diff.rank in model.DIFFICULTY_RANKS.values():
        return int(diff.rank)
    return model.DIFFICULTY_RANKS.get(diff.name, int(diff.rank))


def info_to_v21(beatmap: model.BeatMap, filenames: dict[str, str] | None = None) -> dict[str, Any]:
    """The map's Info.dat in format 2.1.0 (a JSON-ready dict).

    `filenames` overrides file names: a difficulty's `key` ("Standard/ExpertPlus") maps to its
    `_beatmapFilename`, "song" to `_songFilename` and "cover" to `_coverImageFilename`; anything
    not given keeps the model's name. Difficulty sets are grouped by characteristic (in order of
    first appearance) and sorted by rank inside a set.
    """
    names = dict(filenames or {})
    envs = environment_list(beatmap)
    sets: dict[str, list[model.Difficulty]] = {}
    for diff in beatmap.difficulties:
        sets.setdefault(canonical_names(diff)[0], []).append(diff)
    try:
        info_sets = [
            {
                "_beatmapCharacteristicName": characteristic,
                "_difficultyBeatmaps": [
                    _info_difficulty(beatmap, d, names.get(d.key, d.filename), envs)
                    for d in sorted(diffs, key=difficulty_rank)
                ],
            }
            for characteristic, diffs in sets.items()
        ]
        return {
            "_version": INFO_V2_VERSION,
            "_songName": str(beatmap.title),
            "_songSubName": str(beatmap.subtitle),
            "_songAuthorName": str(beatmap.artist),
            "_levelAuthorName": str(beatmap.mapper),
            "_beatsPerMinute": num(beatmap.bpm),
            "_shuffle": 0.0,
            "_shufflePeriod": 0.5,
            "_previewStartTime": num(beatmap.preview_start),
            "_previewDuration": num(beatmap.preview_duration),
            "_songFilename": names.get("song", beatmap.audio_filename),
            "_coverImageFilename": names.get("cover", beatmap.cover_filename),
            "_environmentName": beatmap.environment_name or "DefaultEnvironment",
            "_allDirectionsEnvironmentName": beatmap.all_directions_environment_name
            or "GlassDesertEnvironment",
            "_environmentNames": envs,
            "_colorSchemes": [],
            "_songTimeOffset": num(beatmap.song_time_offset),
            "_difficultyBeatmapSets": info_sets,
        }
    except _BadNumber as err:
        raise InvalidValueError(f"Info.dat: {err}") from None


def _info_difficulty(
    beatmap: model.BeatMap, diff: model.Difficulty, filename: str, envs: list[str]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "_difficulty": canonical_names(diff)[1],
        "_difficultyRank": difficulty_rank(diff),
        "_beatmapFilename": filename,
        "_noteJumpMovementSpeed": num(diff.njs),
        "_noteJumpStartBeatOffset": num(diff.njs_offset),
        "_beatmapColorSchemeIdx": 0,
        "_environmentNameIdx": environment_index(envs, beatmap, diff),
    }
    custom: dict[str, Any] = {}
    if diff.requirements:
        custom["_requirements"] = list(diff.requirements)
    if diff.suggestions:
        custom["_suggestions"] = list(diff.suggestions)
    if diff.label:
        custom["_difficultyLabel"] = diff.label
    if custom:
        entry["_customData"] = custom
    return entry
