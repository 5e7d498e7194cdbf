"""Difficulty files v3 (3.0.0 - 3.3.0, `version` key) -> Difficulty.

Object arrays map one to one onto the model, so `len(diff.notes) == len(json["colorNotes"])`
and so on. Light event box groups (and `_fxEventsCollection`) are passed through verbatim.
Noodle `customData.fake*` arrays go to the fake lists and `uninteractable` is kept; Chroma
`color`/`lightID` on basic events are kept. Other custom data is ignored, never fatal.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats import model
from automapper_ml.formats.fields import (
    ARC_V3,
    BOMB_V3,
    CHAIN_V3,
    DEFAULTS,
    EVENT_V3,
    NOTE_V3,
    OBSTACLE_V3,
    read_fields,
)
from automapper_ml.formats.jsonvalues import (
    ObjectReader,
    check_finite_tree,
    check_object_count,
    chroma_fields,
    custom_data,
    get_array,
    iter_objects,
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
# Model list <- its v3 array, the array of its Noodle fakes in customData (fake_<list>), class, fields.
_KINDS = (
    ("notes", "colorNotes", "fakeColorNotes", model.ColorNote, NOTE_V3),
    ("bombs", "bombNotes", "fakeBombNotes", model.BombNote, BOMB_V3),
    ("obstacles", "obstacles", "fakeObstacles", model.Obstacle, OBSTACLE_V3),
    ("arcs", "sliders", None, model.Arc, ARC_V3),
    ("chains", "burstSliders", "fakeBurstSliders", model.Chain, CHAIN_V3),
)
_NOODLE_KINDS = (model.ColorNote, model.BombNote, model.Obstacle)  # the kinds that carry `uninteractable`
# Noodle/Chroma/Vivify top-level customData we deliberately drop (reported in `unconverted`).
_DROPPED_CUSTOM = ("customEvents", "environment", "pointDefinitions", "materials")


def is_v3(data: dict[str, Any]) -> bool:
    """A v3 difficulty: `version` 3.x, or no version at all and a `colorNotes` array."""
    version = data.get("version")
    if isinstance(version, str) and version:
        return version.split(".")[0] == "3"
    return "_version" not in data and "colorNotes" in data and "colorNotesData" not in data


def parse_difficulty_v3(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    """Fill `diff` in place from a v3 difficulty file's decoded JSON."""
    version = data.get("version")
    diff.version = version if isinstance(version, str) else ""
    cd = custom_data(data)
    check_object_count(filename, (data, OBJECT_ARRAYS), (cd, FAKE_ARRAYS))

    for attr, array, _, cls, table in _KINDS:
        setattr(diff, attr, _objects(get_array(data, array, filename), filename, array, cls, table))
    for attr, _, array, cls, table in _KINDS:
        if array is not None:
            items = get_array(cd, array, filename)
            setattr(diff, f"fake_{attr}", _objects(items, filename, f"customData.{array}", cls, table))

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


def _objects(items: list[Any], filename: str, array: str, cls: type, table: dict[str, str]) -> list[Any]:
    """One `cls` per element of `items`, its fields read as `table` says; notes, bombs and walls
    also keep Noodle's `customData.uninteractable`."""
    out = []
    for _, r in iter_objects(items, filename, array):
        fields = read_fields(r, table, DEFAULTS)
        if cls in _NOODLE_KINDS:
            fields["uninteractable"] = custom_data(r.obj).get("uninteractable") is True
        out.append(cls(**fields))
    return out


def _events(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    for _, r in iter_objects(get_array(data, "basicBeatmapEvents", filename), filename, "basicBeatmapEvents"):
        cd = custom_data(r.obj)
        diff.events.append(
            model.LightEvent(
                **read_fields(r, EVENT_V3, DEFAULTS),
                **chroma_fields(cd, ""),
            )
        )
    for _, r in iter_objects(
        get_array(data, "colorBoostBeatmapEvents", filename), filename, "colorBoostBeatmapEvents"
    ):
        diff.boosts.append(model.BoostEvent(r.beat("b"), r.flag("o")))
    for _, r in iter_objects(get_array(data, "bpmEvents", filename), filename, "bpmEvents"):
        diff.bpm_changes.append(model.BpmChange(r.beat("b"), r.bpm("m", zero_skips=True)))
    for _, r in iter_objects(get_array(data, "rotationEvents", filename), filename, "rotationEvents"):
        diff.rotations.append(model.RotationEvent(r.beat("b"), r.integer("e") == 0, r.number("r")))
