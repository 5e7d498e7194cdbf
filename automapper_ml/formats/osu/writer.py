"""Write an `OsuMap` as a v14 `.osu` file: `read_osu(osu_bytes(m), name) == m` for every map read.

Numbers are written the shortest way that reads back the same float (`256`, `329.67032967033`);
a NaN or an infinity anywhere is an `InvalidValueError` before anything is written. Lines end in
CRLF, as the game writes them.
"""

from __future__ import annotations

import math
import os

from automapper_ml.atomic import write_bytes_atomic
from automapper_ml.formats.errors import InvalidValueError
from automapper_ml.formats.osu.model import (
    COMBO_SKIP_SHIFT,
    TYPE_CIRCLE,
    TYPE_NEW_COMBO,
    TYPE_SLIDER,
    TYPE_SPINNER,
    HitObject,
    HitSample,
    OsuMap,
    Slider,
    Spinner,
)

FORMAT_VERSION = 14


def num(value: float) -> str:
    """`value` as the .osu files write it: integers without a point, other floats by repr."""
    if not math.isfinite(value):
        raise InvalidValueError(f"cannot write {value!r} into an .osu file")
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def osu_text(m: OsuMap) -> str:
    """The v14 text of a map."""
    g, md, d = m.general, m.metadata, m.difficulty
    lines = [f"osu file format v{FORMAT_VERSION}", "", "[General]"]
    lines += _pairs(
        [
            ("AudioFilename", g.audio_filename),
            ("AudioLeadIn", num(g.audio_lead_in)),
            ("PreviewTime", num(g.preview_time)),
            ("Countdown", str(g.countdown)),
            ("SampleSet", g.sample_set),
            ("StackLeniency", num(g.stack_leniency)),
            ("Mode", str(g.mode)),
            *g.extra,
        ],
        ": ",
    )
    lines += ["", "[Editor]", *_pairs(m.editor, ": ")]
    lines += ["", "[Metadata]"]
    lines += _pairs(
        [("Title", md.title), ("Artist", md.artist), ("Creator", md.creator), ("Version", md.version)], ":"
    )
    lines += _pairs(md.extra, ":")
    lines += ["", "[Difficulty]"]
    lines += _pairs(
        [
            ("HPDrainRate", num(d.hp)),
            ("CircleSize", num(d.cs)),
            ("OverallDifficulty", num(d.od)),
            ("ApproachRate", num(d.ar)),
            ("SliderMultiplier", num(d.slider_multiplier)),
            ("SliderTickRate", num(d.slider_tick_rate)),
        ],
        ":",
    )
    lines += ["", "[Events]", "//Background and Video events"]
    if (bg := m.events.background) is not None:
        lines.append(f'0,0,"{bg.filename}",{num(bg.x)},{num(bg.y)}')
    lines.append("//Break Periods")
    lines += [f"2,{num(b.start)},{num(b.end)}" for b in m.events.breaks]
    lines += ["", "[TimingPoints]"]
    lines += [
        f"{num(p.time)},{num(p.beat_length)},{p.meter},{p.sample_set},{p.sample_index},{p.volume},"
        f"{int(p.uninherited)},{p.effects}"
        for p in m.timing_points
    ]
    if m.colours.combo or m.colours.extra:
        named = [(f"Combo{i + 1}", rgb) for i, rgb in enumerate(m.colours.combo)] + list(m.colours.extra)
        lines += ["", "[Colours]", *(f"{name} : {','.join(map(str, rgb))}" for name, rgb in named)]
    lines += ["", "[HitObjects]", *(_hit_object(o) for o in m.hit_objects), ""]
    return "\r\n".join(lines)


def osu_bytes(m: OsuMap) -> bytes:
    """The UTF-8 bytes of `osu_text(m)`."""
    return osu_text(m).encode("utf-8")


def write_osu(m: OsuMap, path: str | os.PathLike[str]) -> None:
    """Write the map to `path` whole or not at all."""
    write_bytes_atomic(path, osu_bytes(m))


def _pairs(items, sep: str) -> list[str]:
    return [f"{key}{sep}{value}" for key, value in items]


def _sample(s: HitSample) -> str:
    return f"{s.normal_set}:{s.addition_set}:{s.index}:{s.volume}:{s.filename}"


def _hit_object(o: HitObject) -> str:
    kind = TYPE_SLIDER if isinstance(o, Slider) else TYPE_SPINNER if isinstance(o, Spinner) else TYPE_CIRCLE
    kind |= (TYPE_NEW_COMBO if o.new_combo else 0) | (o.combo_skip << COMBO_SKIP_SHIFT)
    head = f"{num(o.x)},{num(o.y)},{num(o.time)},{kind},{o.hitsound}"
    if isinstance(o, Spinner):
        return f"{head},{num(o.end)},{_sample(o.sample)}"
    if isinstance(o, Slider):
        curve = "|".join(
            "|".join([seg.kind, *(f"{num(x)}:{num(y)}" for x, y in seg.points)]) for seg in o.curve
        )
        edges = "|".join(map(str, o.edge_sounds))
        sets = "|".join(f"{a}:{b}" for a, b in o.edge_sets)
        return f"{head},{curve},{o.slides},{num(o.length)},{edges},{sets},{_sample(o.sample)}"
    return f"{head},{_sample(o.sample)}"
