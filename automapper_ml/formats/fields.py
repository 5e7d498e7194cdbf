"""The keys under which v2, v3 and v4 files store the fields of notes, bombs, walls, arcs, chains
and basic events: one table per object kind and format, model attribute -> JSON key, in the order
the files (and our writers) list them. Readers read a table with `read_fields`, writers write one
with `writer_v3.write_fields`, so every key is spelled once for both directions.

A field's kind follows from its attribute (`kind`): beats are read with `ObjectReader.beat`,
`duration` with `ObjectReader.duration`, multipliers, squish and float values as plain numbers,
every other field as an integer; writers write the integers as ints and the rest as floats.
This module holds data only: it imports neither the readers nor the writers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BEATS = frozenset({"beat", "tail_beat"})
NUMBERS = frozenset({"head_multiplier", "tail_multiplier", "squish", "float_value"})

# v3: every object holds all of its fields.
NOTE_V3 = {"beat": "b", "x": "x", "y": "y", "color": "c", "direction": "d", "angle": "a"}
BOMB_V3 = {"beat": "b", "x": "x", "y": "y"}
OBSTACLE_V3 = {"beat": "b", "duration": "d", "x": "x", "y": "y", "width": "w", "height": "h"}
ARC_V3 = {
    "color": "c",
    "beat": "b",
    "x": "x",
    "y": "y",
    "direction": "d",
    "head_multiplier": "mu",
    "tail_beat": "tb",
    "tail_x": "tx",
    "tail_y": "ty",
    "tail_direction": "tc",
    "tail_multiplier": "tmu",
    "mid_anchor": "m",
}
CHAIN_V3 = {
    "color": "c",
    "beat": "b",
    "x": "x",
    "y": "y",
    "direction": "d",
    "tail_beat": "tb",
    "tail_x": "tx",
    "tail_y": "ty",
    "slices": "sc",
    "squish": "s",
}
EVENT_V3 = {"beat": "b", "type": "et", "value": "i", "float_value": "f"}

# v2.6 arcs (`_sliders`) and basic events; v2 notes and walls keep their kind in `_type`.
ARC_V2 = {
    "color": "_colorType",
    "beat": "_headTime",
    "x": "_headLineIndex",
    "y": "_headLineLayer",
    "direction": "_headCutDirection",
    "head_multiplier": "_headControlPointLengthMultiplier",
    "tail_beat": "_tailTime",
    "tail_x": "_tailLineIndex",
    "tail_y": "_tailLineLayer",
    "tail_direction": "_tailCutDirection",
    "tail_multiplier": "_tailControlPointLengthMultiplier",
    "mid_anchor": "_sliderMidAnchorMode",
}
EVENT_V2 = {"beat": "_time", "type": "_type", "value": "_value", "float_value": "_floatValue"}

# What a v2 or v3 file means by a missing key, where that is not 0 (a v4 file always means 0).
DEFAULTS = {"head_multiplier": 1.0, "tail_multiplier": 1.0, "slices": 1, "squish": 1.0, "float_value": 1.0}

# v4: a note, bomb or wall is `{"b", "i"}`, `i` pointing into a data array whose entries hold
# the rest of its fields under the v3 keys. An arc or chain takes its fields from several
# places: "obj" (the arc or chain itself), "head"/"tail" (colorNotesData entries), "arc"
# (its arcsData entry) and "chain" (its chainsData entry); the tables say "place.key".
NOTE_DATA_V4 = {attr: key for attr, key in NOTE_V3.items() if attr != "beat"}
BOMB_DATA_V4 = {attr: key for attr, key in BOMB_V3.items() if attr != "beat"}
OBSTACLE_DATA_V4 = {attr: key for attr, key in OBSTACLE_V3.items() if attr != "beat"}
ARC_V4 = {
    "color": "head.c",
    "beat": "obj.hb",
    "x": "head.x",
    "y": "head.y",
    "direction": "head.d",
    "head_multiplier": "arc.m",
    "tail_beat": "obj.tb",
    "tail_x": "tail.x",
    "tail_y": "tail.y",
    "tail_direction": "tail.d",
    "tail_multiplier": "arc.tm",
    "mid_anchor": "arc.a",
}
CHAIN_V4 = {
    "color": "head.c",
    "beat": "obj.hb",
    "x": "head.x",
    "y": "head.y",
    "direction": "head.d",
    "tail_beat": "obj.tb",
    "tail_x": "chain.tx",
    "tail_y": "chain.ty",
    "slices": "chain.c",
    "squish": "chain.s",
}


def kind(attr: str) -> str:
    """How a field is read: the name of the `ObjectReader` method (beat, duration, number, integer)."""
    if attr in BEATS:
        return "beat"
    if attr == "duration":
        return "duration"
    return "number" if attr in NUMBERS else "integer"


def read_fields(reader: Any, table: Mapping[str, str], defaults: Mapping[str, float] | None = None) -> dict:
    """attr -> value for every field of `table`, read in table order from `reader` (an ObjectReader);
    a missing key reads as `defaults[attr]`, else 0."""
    defaults = defaults or {}
    return {attr: getattr(reader, kind(attr))(key, defaults.get(attr, 0)) for attr, key in table.items()}


def read_places(readers: Mapping[str, Any], table: Mapping[str, str]) -> dict:
    """Like `read_fields` for a v4 table of "place.key" entries: each field from the reader of its place."""
    out = {}
    for attr, where in table.items():
        place, key = where.split(".")
        out[attr] = getattr(readers[place], kind(attr))(key, 0)
    return out
