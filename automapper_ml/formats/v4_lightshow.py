"""Beat Saber v4 lightshow files (`*.lightshow.dat` 4.x) -> the model, event box groups -> their v3 form.

v4 keeps every event box group in one `eventBoxGroups` array, typed by `t`
(1 colour, 2 rotation, 3 translation, 4 float FX), and its boxes point by index into shared
arrays: `indexFilters`, `lightColorEventBoxes`, `lightColorEvents`, ... The model holds box
groups in their v3 JSON form (the form our v3 writer emits), so each group is rebuilt here
with the index filter, box fields and events inlined, and some fields renamed:

- every box: easing `e` -> `i`; colour boxes: brightness distribution `s` -> `r`;
  rotation/translation boxes: invert axis `f` -> `r`;
- colour events: brightness `b` -> `s`, transition `p` + easing `e` -> `i` (below);
  rotation events: direction `d` -> `o`; FX events: easing `e` -> `i`;
- FX boxes list indices into `_fxEventsCollection._fl`, whose entries carry the beat offsets.

v3 colour events have no easing: v4 `p=1` -> extend (2), easing -1 -> instant (0), any other
easing -> transition (1), which the game plays as linear; the count of events whose easing
was thereby lost goes to `Difficulty.unconverted`. Groups of type 0 or unknown types,
waypoints and special-event keywords are likewise listed there, never dropped silently.
Spec: ../shared/spec/bsmg_wiki/map-format/lightshow.md.
"""

from __future__ import annotations

from typing import Any

from automapper_ml.formats.errors import InvalidValueError, UnsupportedVersionError
from automapper_ml.formats.jsonvalues import (
    ObjectReader,
    chroma_fields,
    count_objects,
    custom_data,
    get_array,
    iter_objects,
)
from automapper_ml.formats.model import BoostEvent, Difficulty, LightEvent
from automapper_ml.limits import MAX_OBJECTS_PER_DIFFICULTY

COLOR, ROTATION, TRANSLATION, FX = 1, 2, 3, 4  # eventBoxGroups `t`
V3_GROUP_KEYS = {
    COLOR: "lightColorEventBoxGroups",
    ROTATION: "lightRotationEventBoxGroups",
    TRANSLATION: "lightTranslationEventBoxGroups",
    FX: "vfxEventBoxGroups",
}
FX_COLLECTION_KEY = "_fxEventsCollection"
EASE_NONE, EASE_LINEAR = -1, 0
# Basic event types the model keeps elsewhere or that v4 no longer honours (lightshow.md, "Type").
BOOST_TYPE = 5
LEGACY_TYPES = {14: "lane rotation", 15: "lane rotation", 100: "BPM change"}


def check_version_v4(data: dict[str, Any], filename: str) -> str:
    """The file's `version` string when its major version is 4; otherwise UnsupportedVersionError."""
    version = data.get("version")
    if not isinstance(version, str) or version.split(".")[0].strip() != "4":
        raise UnsupportedVersionError(f"{filename}: version {version!r} is not a v4 format (expected 4.x)")
    return version


def resolve(reader: ObjectReader, key: str, data: list[Any], data_name: str) -> ObjectReader:
    """Follow an index field (`i`, `hi`, `f`...) into its data array; out of range is InvalidValueError.

    A missing index means 0: the official editor omits zero-valued fields.
    """
    index = reader.integer(key, 0)
    if not 0 <= index < len(data):
        at = f"{reader.array}[{reader.index}]" if reader.index is not None else reader.array
        raise InvalidValueError(
            f"{reader.filename}: {at}.{key} = {index} points outside {data_name} ({len(data)} entries)"
        )
    target = data[index]
    if not isinstance(target, dict):
        raise InvalidValueError(f"{reader.filename}: {data_name}[{index}] must be an object")
    return ObjectReader(target, reader.filename, data_name, index)


def count_lightshow_objects(data: dict[str, Any]) -> int:
    """Objects a lightshow file becomes (basic events, boosts, box groups, boxes and box events), from
    the JSON array lengths; stops counting once past MAX_OBJECTS_PER_DIFFICULTY."""
    count = count_objects(data, ("basicEvents", "colorBoostEvents", "eventBoxGroups"))
    groups = data.get("eventBoxGroups")
    for group in groups if isinstance(groups, list) else ():
        if count > MAX_OBJECTS_PER_DIFFICULTY:
            break
        boxes = group.get("e") if isinstance(group, dict) else None
        if isinstance(boxes, list):
            count += len(boxes) + sum(
                len(b["l"]) for b in boxes if isinstance(b, dict) and isinstance(b.get("l"), list)
            )
    return count


def parse_lightshow_v4(data: dict[str, Any], diff: Difficulty, filename: str) -> None:
    """Fill `diff.events`, `boosts`, `light_box_groups` and `use_normal_events_as_compatible` in place.

    Basic events keep Chroma `color`/`lightID` from their data entry's customData. Type 5
    (legacy boost) becomes a BoostEvent; types 14/15/100 (legacy lane rotation and BPM,
    which v4 ignores) are left out with a line in `diff.unconverted`.
    """
    check_version_v4(data, filename)
    events_data = get_array(data, "basicEventsData", filename)
    legacy: dict[str, int] = {}
    for _, obj in iter_objects(get_array(data, "basicEvents", filename), filename, "basicEvents"):
        ev = resolve(obj, "i", events_data, "basicEventsData")
        beat, kind, value = obj.beat("b"), ev.integer("t"), ev.integer("i")
        if kind == BOOST_TYPE:
            diff.boosts.append(BoostEvent(beat=beat, on=value == 1))
            continue
        if kind in LEGACY_TYPES:
            what = f"type {kind} ({LEGACY_TYPES[kind]})"
            legacy[what] = legacy.get(what, 0) + 1
            continue
        custom = custom_data(ev.obj)
        diff.events.append(
            LightEvent(
                beat=beat,
                type=kind,
                value=value,
                float_value=ev.number("f", 0.0),
                **chroma_fields(custom, "", "_"),
            )
        )
    for what, n in legacy.items():
        diff.unconverted.append(f"{filename}: {n} basic events of legacy {what} dropped (v4 ignores them)")

    boosts_data = get_array(data, "colorBoostEventsData", filename)
    for _, obj in iter_objects(get_array(data, "colorBoostEvents", filename), filename, "colorBoostEvents"):
        diff.boosts.append(
            BoostEvent(
                beat=obj.beat("b"), on=resolve(obj, "i", boosts_data, "colorBoostEventsData").flag("b")
            )
        )

    groups, notes = convert_event_box_groups(data, filename)
    diff.light_box_groups = groups
    diff.unconverted.extend(notes)
    diff.use_normal_events_as_compatible = ObjectReader(data, filename, "").flag(
        "useNormalEventsAsCompatibleEvents"
    )

    waypoints = get_array(data, "waypoints", filename)
    if waypoints:
        diff.unconverted.append(f"{filename}: {len(waypoints)} waypoints (BTS TinyTAN figures) ignored")
    keywords = data.get("basicEventTypesWithKeywords")
    if isinstance(keywords, dict) and isinstance(keywords.get("d"), list) and keywords["d"]:
        diff.unconverted.append(
            f"{filename}: {len(keywords['d'])} special event keywords (basicEventTypesWithKeywords) not kept"
        )


def convert_event_box_groups(data: dict[str, Any], filename: str) -> tuple[dict[str, Any], list[str]]:
    """v4 `eventBoxGroups` (+ the arrays they index) -> (v3 box groups keyed by v3 name, unconverted lines).

    The result is {} when the file has no event box groups; otherwise it holds all four v3
    group arrays plus `_fxEventsCollection` ({"_fl": [...], "_il": []}), every field explicit.
    """
    groups = get_array(data, "eventBoxGroups", filename)
    if not groups:
        return {}, []
    arrays = {
        name: get_array(data, name, filename)
        for name in (
            "indexFilters",
            "lightColorEventBoxes",
            "lightColorEvents",
            "lightRotationEventBoxes",
            "lightRotationEvents",
            "lightTranslationEventBoxes",
            "lightTranslationEvents",
            "fxEventBoxes",
            "floatFxEvents",
        )
    }
    out: dict[str, Any] = {key: [] for key in V3_GROUP_KEYS.values()}
    fx_events: list[dict[str, Any]] = []
    fx_index: dict[tuple, int] = {}  # identical FX keyframes share one collection entry, as in v3 files
    eased = 0  # colour events whose easing v3 cannot express
    dropped: dict[int, int] = {}

    for _, group in iter_objects(groups, filename, "eventBoxGroups"):
        kind = group.integer("t")
        if kind not in V3_GROUP_KEYS:
            dropped[kind] = dropped.get(kind, 0) + 1
            continue
        boxes = []
        for _, box in iter_objects(
            get_array(group.obj, "e", filename), filename, f"eventBoxGroups[{group.index}].e"
        ):
            filt = _index_filter(resolve(box, "f", arrays["indexFilters"], "indexFilters"))
            entries = list(
                iter_objects(get_array(box.obj, "l", filename), filename, f"{box.array}[{box.index}].l")
            )
            if kind == COLOR:
                fields = resolve(box, "e", arrays["lightColorEventBoxes"], "lightColorEventBoxes")
                events = []
                for _, entry in entries:
                    ev = resolve(entry, "i", arrays["lightColorEvents"], "lightColorEvents")
                    v3_event, lossy = _color_event(entry.beat("b"), ev)
                    events.append(v3_event)
                    eased += lossy
                boxes.append({"f": filt, **_box_fields(fields, "r"), "e": events})
            elif kind in (ROTATION, TRANSLATION):
                name = "lightRotation" if kind == ROTATION else "lightTranslation"
                fields = resolve(box, "e", arrays[f"{name}EventBoxes"], f"{name}EventBoxes")
                events = [
                    _axis_event(
                        kind, entry.beat("b"), resolve(entry, "i", arrays[f"{name}Events"], f"{name}Events")
                    )
                    for _, entry in entries
                ]
                boxes.append(
                    {
                        "f": filt,
                        **_box_fields(fields, "s"),
                        "a": fields.integer("a"),
                        "r": fields.integer("f"),
                        "l": events,
                    }
                )
            else:  # FX: v3 boxes list indices into the shared keyframe collection
                fields = resolve(box, "e", arrays["fxEventBoxes"], "fxEventBoxes")
                indices = []
                for _, entry in entries:
                    ev = resolve(entry, "i", arrays["floatFxEvents"], "floatFxEvents")
                    keyframe = {
                        "b": entry.beat("b"),
                        "p": ev.integer("p"),
                        "i": ev.integer("e"),
                        "v": ev.number("v"),
                    }
                    key = tuple(keyframe.values())
                    if key not in fx_index:
                        fx_index[key] = len(fx_events)
                        fx_events.append(keyframe)
                    indices.append(fx_index[key])
                boxes.append({"f": filt, **_box_fields(fields, "s"), "l": indices})
        out[V3_GROUP_KEYS[kind]].append({"b": group.beat("b"), "g": group.integer("g"), "e": boxes})

    out[FX_COLLECTION_KEY] = {"_fl": fx_events, "_il": []}
    notes = [
        f"{filename}: {n} event box groups of type {t} (not colour/rotation/translation/FX) dropped"
        for t, n in sorted(dropped.items())
    ]
    if eased:
        notes.append(
            f"{filename}: {eased} light colour events use an easing v3 cannot express; written as linear transitions"
        )
    return out, notes


def _index_filter(f: ObjectReader) -> dict[str, Any]:
    """v4 and v3 (3.1+) index filters share their keys; v3 inlines the filter in every box."""
    return {
        "c": f.integer("c"),
        "f": f.integer("f"),
        "p": f.integer("p"),
        "t": f.integer("t"),
        "r": f.integer("r"),
        "n": f.integer("n"),
        "s": f.integer("s"),
        "l": f.number("l"),
        "d": f.integer("d"),
    }


def _box_fields(box: ObjectReader, v3_distribution_key: str) -> dict[str, Any]:
    """The distribution fields every box type shares; the v4 distribution value `s` is v3 `r` in colour boxes."""
    return {
        "w": box.number("w"),
        "d": box.integer("d"),
        v3_distribution_key: box.number("s"),
        "t": box.integer("t"),
        "b": box.integer("b"),
        "i": box.integer("e"),
    }


def _color_event(offset: float, ev: ObjectReader) -> tuple[dict[str, Any], bool]:
    """A v4 light colour event -> (v3 event, whether its easing was lost); transition table in the module doc."""
    previous, easing = ev.integer("p"), ev.integer("e")
    if previous == 1:
        transition, lossy = 2, False
    elif easing == EASE_NONE:
        transition, lossy = 0, False
    else:
        transition, lossy = 1, easing != EASE_LINEAR
    event = {
        "b": offset,
        "i": transition,
        "c": ev.integer("c"),
        "s": ev.number("b"),
        "f": ev.integer("f"),
        "sb": ev.number("sb"),
        "sf": ev.integer("sf"),
    }
    return event, lossy


def _axis_event(kind: int, offset: float, ev: ObjectReader) -> dict[str, Any]:
    """A v4 rotation or translation event -> its v3 form (`d` direction becomes `o`)."""
    if kind == ROTATION:
        return {
            "b": offset,
            "p": ev.integer("p"),
            "e": ev.integer("e"),
            "r": ev.number("r"),
            "o": ev.integer("d"),
            "l": ev.integer("l"),
        }
    return {"b": offset, "p": ev.integer("p"), "e": ev.integer("e"), "t": ev.number("t")}
