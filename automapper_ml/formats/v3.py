"""Difficulty files v3 (3.0.0 - 3.3.0, `version` key) -> Difficulty.

Object arrays map one to one onto the model, so `len(diff.notes) == len(json["colorNotes"])`
and so on. Light event box groups (and `_fxEventsCollection`) are passed through verbatim.
Noodle `customData.fake*` arrays go to the fake lists and `uninteractable` is kept; Chroma
`color`/`lightID` on basic events are kept. Other custom data is ignored, never fatal.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats.jsonvalues import (
    ObjectReader,
    check_finite_tree,
    check_object_count,
    chroma_color,
    chroma_light_id,
    count_objects,
    custom_data,
    get_array,
    iter_objects,
)
from automapper_ml.formats.model import (
    Arc,
    BombNote,
    BoostEvent,
    BpmChange,
    Chain,
    ColorNote,
    Difficulty,
    LightEvent,
    Obstacle,
    RotationEvent,
)

LIGHT_BOX_KEYS = (
    "lightColorEventBoxGroups",
    "lightRotationEventBoxGroups",
    "lightTranslationEventBoxGroups",
    "vfxEventBoxGroups",
    "_fxEventsCollection",
)
# Arrays that become model objects (counted against MAX_OBJECTS_PER_DIFFICULTY first).
OBJECT_ARRAYS = (
    "colorNotes",
    "bombNotes",
    "obstacles",
    "sliders",
    "burstSliders",
    "basicBeatmapEvents",
    "colorBoostBeatmapEvents",
    "bpmEvents",
    "rotationEvents",
)
FAKE_ARRAYS = ("fakeColorNotes", "fakeBombNotes", "fakeObstacles", "fakeBurstSliders")
# Noodle/Chroma/Vivify top-level customData we deliberately drop (reported in `unconverted`).
_DROPPED_CUSTOM = ("customEvents", "environment", "pointDefinitions", "materials")


def is_v3(data: dict[str, Any]) -> bool:
    """A v3 difficulty: `version` 3.x, or no version at all and a `colorNotes` array."""
    version = data.get("version")
    if isinstance(version, str) and version:
        return version.split(".")[0] == "3"
    return "_version" not in data and "colorNotes" in data and "colorNotesData" not in data


def parse_difficulty_v3(data: dict[str, Any], diff: Difficulty, filename: str) -> None:
    """Fill `diff` in place from a v3 difficulty file's decoded JSON."""
    version = data.get("version")
    diff.version = version if isinstance(version, str) else ""
    cd = custom_data(data)
    check_object_count(count_objects(data, OBJECT_ARRAYS) + count_objects(cd, FAKE_ARRAYS), filename)

    diff.notes = _color_notes(get_array(data, "colorNotes", filename), filename, "colorNotes")
    diff.bombs = _bombs(get_array(data, "bombNotes", filename), filename, "bombNotes")
    diff.obstacles = _obstacles(get_array(data, "obstacles", filename), filename, "obstacles")
    diff.arcs = _arcs(get_array(data, "sliders", filename), filename)
    diff.chains = _chains(get_array(data, "burstSliders", filename), filename, "burstSliders")

    diff.fake_notes = _color_notes(
        get_array(cd, "fakeColorNotes", filename), filename, "customData.fakeColorNotes"
    )
    diff.fake_bombs = _bombs(get_array(cd, "fakeBombNotes", filename), filename, "customData.fakeBombNotes")
    diff.fake_obstacles = _obstacles(
        get_array(cd, "fakeObstacles", filename), filename, "customData.fakeObstacles"
    )
    diff.fake_chains = _chains(
        get_array(cd, "fakeBurstSliders", filename), filename, "customData.fakeBurstSliders"
    )

    _events(data, diff, filename)

    for key in LIGHT_BOX_KEYS:
        if key in data and data[key] is not None:
            check_finite_tree(data[key], f"{filename}: {key}")
            diff.light_box_groups[key] = data[key]
    diff.use_normal_events_as_compatible = ObjectReader(data, filename, "").flag(
        "useNormalEventsAsCompatibleEvents"
    )

    for key in _DROPPED_CUSTOM:
        value = cd.get(key)
        if isinstance(value, (list, dict)) and value:
            diff.unconverted.append(f"{filename}: customData.{key}: {len(value)} entries not kept")


def _uninteractable(r: ObjectReader) -> bool:
    return custom_data(r.obj).get("uninteractable") is True


def _color_notes(items: list[Any], filename: str, array: str) -> list[ColorNote]:
    return [
        ColorNote(
            beat=r.beat("b"),
            x=r.integer("x"),
            y=r.integer("y"),
            color=r.integer("c"),
            direction=r.integer("d"),
            angle=r.integer("a"),
            uninteractable=_uninteractable(r),
        )
        for _, r in iter_objects(items, filename, array)
    ]


def _bombs(items: list[Any], filename: str, array: str) -> list[BombNote]:
    return [
        BombNote(beat=r.beat("b"), x=r.integer("x"), y=r.integer("y"), uninteractable=_uninteractable(r))
        for _, r in iter_objects(items, filename, array)
    ]


def _obstacles(items: list[Any], filename: str, array: str) -> list[Obstacle]:
    return [
        Obstacle(
            beat=r.beat("b"),
            duration=r.duration("d"),
            x=r.integer("x"),
            y=r.integer("y"),
            width=r.integer("w"),
            height=r.integer("h"),
            uninteractable=_uninteractable(r),
        )
        for _, r in iter_objects(items, filename, array)
    ]


def _arcs(items: list[Any], filename: str) -> list[Arc]:
    return [
        Arc(
            color=r.integer("c"),
            beat=r.beat("b"),
            x=r.integer("x"),
            y=r.integer("y"),
            direction=r.integer("d"),
            head_multiplier=r.number("mu", 1.0),
            tail_beat=r.beat("tb"),
            tail_x=r.integer("tx"),
            tail_y=r.integer("ty"),
            tail_direction=r.integer("tc"),
            tail_multiplier=r.number("tmu", 1.0),
            mid_anchor=r.integer("m"),
        )
        for _, r in iter_objects(items, filename, "sliders")
    ]


def _chains(items: list[Any], filename: str, array: str) -> list[Chain]:
    return [
        Chain(
            color=r.integer("c"),
            beat=r.beat("b"),
            x=r.integer("x"),
            y=r.integer("y"),
            direction=r.integer("d"),
            tail_beat=r.beat("tb"),
            tail_x=r.integer("tx"),
            tail_y=r.integer("ty"),
            slices=r.integer("sc", 1),
            squish=r.number("s", 1.0),
        )
        for _, r in iter_objects(items, filename, array)
    ]


def _events(data: dict[str, Any], diff: Difficulty, filename: str) -> None:
    for _, r in iter_objects(get_array(data, "basicBeatmapEvents", filename), filename, "basicBeatmapEvents"):
        cd = custom_data(r.obj)
        diff.events.append(
            LightEvent(
                beat=r.beat("b"),
                type=r.integer("et"),
                value=r.integer("i"),
                float_value=r.number("f", 1.0),
                color=chroma_color(cd.get("color")),
                light_id=chroma_light_id(cd.get("lightID")),
            )
        )
    for _, r in iter_objects(
        get_array(data, "colorBoostBeatmapEvents", filename), filename, "colorBoostBeatmapEvents"
    ):
        diff.boosts.append(BoostEvent(r.beat("b"), r.flag("o")))
    for _, r in iter_objects(get_array(data, "bpmEvents", filename), filename, "bpmEvents"):
        diff.bpm_changes.append(BpmChange(r.beat("b"), r.bpm("m", zero_skips=True)))
    for _, r in iter_objects(get_array(data, "rotationEvents", filename), filename, "rotationEvents"):
        diff.rotations.append(RotationEvent(r.beat("b"), r.integer("e") == 0, r.number("r")))
