"""Tokenize and decode every difficulty of a map and report, per object kind, how many objects
come back exactly, how many come back moved by quantisation (the beat grid is 1/48 beat, walls,
arcs and chains snap to a few buckets), how many cannot be represented at all (and why), and any
mismatch between the decoded map and the quantised reference (a tokenizer bug: exit status 1).
PATH is a map folder or a map zip. Light event box groups are ignored by the tokenizers."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import fields

from automapper_ml.formats.model import BeatMap, Difficulty
from automapper_ml.tokenizer import (
    DEFAULT_LIGHT_STEP,
    decode_flat,
    decode_lights,
    encode_lights,
    encode_notes,
    flatten,
    flatten_lights,
    quantize_difficulty,
    quantize_lights,
    quantize_notes,
    quantize_object,
    step_ticks,
)

# (report name, Difficulty attribute, DecodedNotes/DecodedLights attribute)
KINDS = (
    ("notes", "notes"),
    ("bombs", "bombs"),
    ("walls", "obstacles"),
    ("arcs", "arcs"),
    ("chains", "chains"),
    ("events", "events"),
    ("boosts", "boosts"),
)
EXACT_DECIMALS = 3  # "exact" means equal once floats are rounded to this many decimals (maps store 0.333)
MAX_DIFFERENCES = 3  # examples in words, per kind


def _norm(v: object) -> object:
    if isinstance(v, float):
        return round(v, EXACT_DECIMALS)
    if isinstance(v, tuple | list):
        return tuple(_norm(x) for x in v)
    return v


def _values(obj: object) -> tuple:
    """A model object's field values (the model's dataclasses use slots; astuple is 20x slower)."""
    return tuple(getattr(obj, name) for name in obj.__slots__)  # type: ignore[attr-defined]


def _key(obj: object) -> tuple:
    return tuple(_norm(v) for v in _values(obj))


def _what_changed(before: object, after: object) -> str:
    parts = []
    for f in fields(before):  # type: ignore[arg-type]
        a, b = getattr(before, f.name), getattr(after, f.name)
        if _norm(a) != _norm(b):
            parts.append(f"{f.name} {_fmt(a)} -> {_fmt(b)}")
    return ", ".join(parts)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{round(v, 4):g}" if abs(v) < 1e5 else f"{v:.4g}"
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return str(v)


def _multiset_mismatch(reference: list, decoded: list) -> int:
    ref, dec = Counter(map(_values, reference)), Counter(map(_values, decoded))
    return sum(((ref - dec) + (dec - ref)).values())


def difficulty_report(difficulty: Difficulty, step: float = DEFAULT_LIGHT_STEP) -> dict:
    """The round-trip report of one difficulty (see `roundtrip_report`)."""
    note_groups = encode_notes(difficulty)
    note_tokens = flatten(note_groups)
    light_groups = encode_lights(difficulty, step=step)
    light_tokens = flatten_lights(light_groups)
    decoded_notes = decode_flat(note_tokens)
    decoded_lights = decode_lights(light_tokens, step=step)
    reference = quantize_difficulty(difficulty)
    lost = {**quantize_notes(difficulty).lost, **quantize_lights(difficulty).lost}
    kinds: dict[str, dict] = {}
    for name, attr in KINDS:
        originals = getattr(difficulty, attr)
        lost_here = lost[name]
        lost_ids = {id(obj) for obj, _ in lost_here}
        decoded = getattr(decoded_notes if hasattr(decoded_notes, attr) else decoded_lights, attr)
        exact, words = 0, []
        for obj in originals:
            if id(obj) in lost_ids:
                continue
            quantised, _ = quantize_object(obj)
            if quantised is not None and _key(quantised) == _key(obj):
                exact += 1
            elif quantised is not None and len(words) < MAX_DIFFERENCES:
                words.append(f"{name[:-1]} at beat {_fmt(obj.beat)}: {_what_changed(obj, quantised)}")
        for obj, why in lost_here[: max(0, MAX_DIFFERENCES - len(words))]:
            words.append(f"{name[:-1]} at beat {_fmt(getattr(obj, 'beat', float('nan')))}: lost ({why})")
        survived = len(getattr(reference, attr))
        kinds[name] = {
            "in": len(originals),
            "exact": exact,
            "quantised": survived - exact,
            "lost": len(lost_here),
            "lost_reasons": dict(Counter(why for _, why in lost_here)),
            "mismatch": _multiset_mismatch(getattr(reference, attr), decoded),
            "differences": words,
        }
    fakes = sum(
        len(x)
        for x in (
            difficulty.fake_notes,
            difficulty.fake_bombs,
            difficulty.fake_obstacles,
            difficulty.fake_chains,
        )
    )
    box_groups = sum(len(v) if isinstance(v, list) else 1 for v in difficulty.light_box_groups.values())
    return {
        "kinds": kinds,
        "tokens": {
            "note_groups": len(note_groups),
            "note_tokens": len(note_tokens),
            "light_groups": len(light_groups),
            "light_tokens": len(light_tokens),
            "light_step": step,
        },
        "ignored": {
            "fake_objects": fakes,
            "rotations": len(difficulty.rotations),
            "light_box_groups": box_groups,
        },
    }


def roundtrip_report(beatmap: BeatMap, step: float = DEFAULT_LIGHT_STEP) -> dict:
    """Per difficulty key ("Standard/ExpertPlus"): {"kinds": {kind: {in, exact, quantised, lost,
    lost_reasons, mismatch, differences}}, "tokens": {...}, "ignored": {...}}.

    in = exact + quantised + lost; mismatch counts objects where decode(encode(d)) and
    quantize_difficulty(d) differ (0 unless the tokenizer has a bug)."""
    step_ticks(step)  # ValueError early for a bad step
    return {d.key: difficulty_report(d, step) for d in beatmap.difficulties}


def _light_step(text: str) -> float:
    try:
        step = float(text)
        step_ticks(step)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return step


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="map folder or .zip")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--light-step",
        type=_light_step,
        default=DEFAULT_LIGHT_STEP,
        help="lighting grid step in beats, a multiple of 1/48 up to 2 (default 0.5)",
    )


def run(args: argparse.Namespace) -> int:
    from automapper_ml.formats.reader import load_map

    report = roundtrip_report(load_map(args.path), step=args.light_step)
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else format_report(report))
    mismatched = any(k["mismatch"] for d in report.values() for k in d["kinds"].values())
    return 1 if mismatched else 0


def format_report(report: dict) -> str:
    """Aligned tables, one per difficulty, with the first differences in words under each."""
    lines: list[str] = []
    columns = ("in", "exact", "quantised", "lost", "mismatch")
    for key, diff in report.items():
        tok = diff["tokens"]
        lines.append(
            f"{key}: {tok['note_groups']} note groups, {tok['note_tokens']} note tokens; "
            f"{tok['light_groups']} light groups, {tok['light_tokens']} light tokens"
        )
        rows = [("kind", *columns)] + [
            (name, *(str(k[c]) for c in columns)) for name, k in diff["kinds"].items() if k["in"]
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            )
        for name, k in diff["kinds"].items():
            if k["differences"]:
                lines.append(f"  {name}:")
            lines += [f"    lost {n}: {reason}" for reason, n in k["lost_reasons"].items()]
            lines += [f"    {w}" for w in k["differences"]]
        ignored = [f"{n} {what.replace('_', ' ')}" for what, n in diff["ignored"].items() if n]
        if ignored:
            lines.append("  ignored by the tokenizers: " + ", ".join(ignored))
        lines.append("")
    return "\n".join(lines).rstrip() or "(no difficulties)"
