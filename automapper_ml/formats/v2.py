"""Difficulty files v2 (2.0.0 - 2.6.0, and files with no `_version` that have `_notes`) -> Difficulty.

What is kept: notes (`_type` 0/1), bombs (3), walls (legacy `_type` 0 full height, 1 crouch,
2 free with `_lineLayer`/`_height`), 2.6 arcs (`_sliders`), basic events with their 2.5
`_floatValue`, boosts (event type 5), lane rotations (14/15), BPM changes (event type 100,
top-level or `_customData` `_BPMChanges`/`_bpmChanges`), Chroma `_color`/`_lightID` on events,
Noodle `_fake` (into the fake lists, never counted) and `_interactable: false`.
Waypoints, bookmarks and other custom data are ignored.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats import model
from automapper_ml.formats.fields import ARC_V2, DEFAULTS, read_fields
from automapper_ml.formats.jsonvalues import (
    ObjectReader,
    check_object_count,
    chroma_fields,
    custom_data,
    get_array,
    iter_objects,
)

EVENT_BOOST = 5
EVENT_EARLY_ROTATION = 14
EVENT_LATE_ROTATION = 15
EVENT_BPM = 100
# Legacy rotation event values 0..7 (BSMG wiki, lightshow "Rotation Events (Legacy)"), degrees clockwise.
LEGACY_ROTATIONS = (-60.0, -45.0, -30.0, -15.0, 15.0, 30.0, 45.0, 60.0)
# Mapping Extensions precise rotations: value 1000..1720 means (value - 1360) degrees.
ME_ROTATION_BASE = 1360
# Pre-2.0 Chroma: an event value of 2_000_000_000 + 0xRRGGBB sets the colour of that light group.
LEGACY_CHROMA_RGB = 2_000_000_000
# Top-level arrays that become model objects (counted against MAX_OBJECTS_PER_DIFFICULTY first).
OBJECT_ARRAYS = ("_notes", "_obstacles", "_sliders", "_events", "_BPMChanges")


def is_v2(data: dict[str, Any]) -> bool:
    """A v2 difficulty: `_version` 2.x, or no version at all and a `_notes` array."""
    version = data.get("_version")
    if isinstance(version, str) and version:
        return version.split(".")[0] == "2"
    return "version" not in data and "_notes" in data


def parse_difficulty_v2(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    """Fill `diff` in place from a v2 difficulty file's decoded JSON."""
    version = data.get("_version")
    diff.version = version if isinstance(version, str) else ""
    cd = custom_data(data, "_customData")
    check_object_count(filename, (data, OBJECT_ARRAYS), (cd, ("_BPMChanges", "_bpmChanges")))
    _notes(data, diff, filename)
    _obstacles(data, diff, filename)
    _sliders(data, diff, filename)
    _events(data, diff, filename)
    _bpm_changes(data, diff, filename)
    for key in ("_customEvents", "_environment", "_pointDefinitions"):
        if isinstance(cd.get(key), list) and cd[key]:
            diff.unconverted.append(f"{filename}: _customData.{key}: {len(cd[key])} entries not kept")


def _noodle(r: ObjectReader) -> tuple[bool, bool]:
    """(fake, uninteractable) from a v2 object's Noodle `_customData`."""
    cd = custom_data(r.obj, "_customData")
    fake = cd.get("_fake") is True
    uninteractable = cd.get("_interactable") is False
    return fake, uninteractable


def _notes(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    skipped: dict[int, int] = {}
    for _, r in iter_objects(get_array(data, "_notes", filename), filename, "_notes"):
        beat = r.beat("_time")
        x = r.integer("_lineIndex")
        y = r.integer("_lineLayer")
        kind = r.integer("_type")
        direction = r.integer("_cutDirection")
        fake, uninteractable = _noodle(r)
        if kind in (0, 1):
            note = model.ColorNote(beat, x, y, kind, direction, 0, uninteractable)
            (diff.fake_notes if fake else diff.notes).append(note)
        elif kind == 3:
            bomb = model.BombNote(beat, x, y, uninteractable)
            (diff.fake_bombs if fake else diff.bombs).append(bomb)
        else:
            skipped[kind] = skipped.get(kind, 0) + 1
    for kind, count in sorted(skipped.items()):
        diff.unconverted.append(f"{filename}: {count} _notes of _type {kind} (not a note or bomb) skipped")


def _obstacles(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    odd_types = 0
    for _, r in iter_objects(get_array(data, "_obstacles", filename), filename, "_obstacles"):
        kind = r.integer("_type")
        if kind == 1:
            y, height = 2, 3
        elif kind == 2:
            y, height = r.integer("_lineLayer"), r.integer("_height", 5)
        else:
            y, height = 0, 5
            # Mapping Extensions encodes precise wall heights in _type >= 1000; kept as full height.
            odd_types += kind != 0
        fake, uninteractable = _noodle(r)
        wall = model.Obstacle(
            beat=r.beat("_time"),
            duration=r.duration("_duration"),
            x=r.integer("_lineIndex"),
            y=y,
            width=r.integer("_width", 1),
            height=height,
            uninteractable=uninteractable,
        )
        (diff.fake_obstacles if fake else diff.obstacles).append(wall)
    if odd_types:
        diff.unconverted.append(
            f"{filename}: {odd_types} walls with a non-standard _type read as full height"
        )


def _sliders(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    for _, r in iter_objects(get_array(data, "_sliders", filename), filename, "_sliders"):
        diff.arcs.append(model.Arc(**read_fields(r, ARC_V2, DEFAULTS)))


def _events(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    odd_rotations = 0
    for _, r in iter_objects(get_array(data, "_events", filename), filename, "_events"):
        beat = r.beat("_time")
        kind = r.integer("_type")
        value = r.integer("_value")
        if kind == EVENT_BOOST:
            diff.boosts.append(model.BoostEvent(beat, value == 1))
        elif kind == EVENT_BPM:
            diff.bpm_changes.append(model.BpmChange(beat, r.bpm("_floatValue", zero_skips=True)))
        elif kind in (EVENT_EARLY_ROTATION, EVENT_LATE_ROTATION):
            if 0 <= value < len(LEGACY_ROTATIONS):
                degrees = LEGACY_ROTATIONS[value]
            elif 1000 <= value <= 1720:
                degrees = float(value - ME_ROTATION_BASE)
            else:
                odd_rotations += 1
                continue
            diff.rotations.append(model.RotationEvent(beat, kind == EVENT_EARLY_ROTATION, degrees))
        else:
            cd = custom_data(r.obj, "_customData")
            diff.events.append(
                model.LightEvent(
                    beat=beat,
                    type=kind,
                    value=value,
                    float_value=r.number("_floatValue", 1.0),
                    **chroma_fields(cd, "_"),
                )
            )
    if odd_rotations:
        diff.unconverted.append(f"{filename}: {odd_rotations} rotation events with unknown values skipped")
    legacy_rgb = sum(e.value >= LEGACY_CHROMA_RGB for e in diff.events)
    if legacy_rgb:
        diff.unconverted.append(
            f"{filename}: {legacy_rgb} legacy Chroma RGB events (_value >= 2e9) kept as raw values"
        )


def _bpm_changes(data: dict[str, Any], diff: model.Difficulty, filename: str) -> None:
    """MediocreMapper/ChroMapper BPM changes: top-level `_BPMChanges` or inside `_customData`."""
    cd = custom_data(data, "_customData")
    sources = [("_BPMChanges", data), ("_customData._BPMChanges", cd), ("_customData._bpmChanges", cd)]
    for array, holder in sources:
        key = array.rsplit(".", 1)[-1]
        for _, r in iter_objects(get_array(holder, key, filename), filename, array):
            bpm_key = "_BPM" if "_BPM" in r.obj else "_bpm"
            diff.bpm_changes.append(model.BpmChange(r.beat("_time"), r.bpm(bpm_key, zero_skips=True)))
    # Editors often state one change twice (event type 100 and _BPMChanges): it is one change.
    unique = {(c.beat, c.bpm): c for c in diff.bpm_changes}
    diff.bpm_changes[:] = sorted(unique.values(), key=lambda c: c.beat)
