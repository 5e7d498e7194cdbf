"""osu!standard beatmaps (.osu files and .osz sets):

  automapper osu inspect PATH           per difficulty: name, format version, mode, AR/CS/OD/HP, object
                                        counts and type shares, length, BPM, star rating (when rosu-pp-py
                                        is installed) and the judge's figures (evaluation.osu)
  automapper osu roundtrip PATH [-o OUT]  read -> write v14 -> read: is the model the same? exit 1 when
                                        not; -o writes the v14 .osu (or the .osz set)

Taiko, catch and mania files are refused with their mode (exit 2); in a set they are listed as refused
and the osu!standard difficulties are read."""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import fields
from pathlib import Path

from automapper_ml.cli import CommandError
from automapper_ml.evaluation.osu import judge_map
from automapper_ml.evaluation.osu_stars import INSTALL_HINT, osu_stars, stars_available
from automapper_ml.formats.errors import MapError
from automapper_ml.formats.osu import (
    MODE_NAMES,
    Circle,
    OsuMap,
    Slider,
    Spinner,
    UnsupportedModeError,
    load_osu,
    osu_bytes,
    read_osu,
    read_osz,
    write_osu,
    write_osz,
)

KINDS = (("circles", Circle), ("sliders", Slider), ("spinners", Spinner))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the docstring's table, as written
    actions = parser.add_subparsers(dest="osu_action", metavar="ACTION", required=True)
    inspect = actions.add_parser("inspect", help="describe and judge every difficulty of a .osu or .osz")
    inspect.add_argument("path", help=".osu file or .osz set")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of text")
    inspect.set_defaults(_osu=run_inspect)
    roundtrip = actions.add_parser(
        "roundtrip", help="read -> write v14 -> read; say whether the map is equal"
    )
    roundtrip.add_argument("path", help=".osu file or .osz set")
    roundtrip.add_argument("-o", "--output", help="write the v14 .osu (or .osz) here")
    roundtrip.set_defaults(_osu=run_roundtrip)


def run(args: argparse.Namespace) -> int:
    return args._osu(args)


# ------------------------------------------------------------------------------ reading


def load(path: str, *, with_files: bool = False) -> tuple[list[tuple[str, OsuMap]], list[str], dict]:
    """(name, map) of every osu!standard difficulty at `path`, the one-line reasons of the files
    refused in a set, and (with_files) the set's other members. A lone .osu of another mode, or a
    set without an osu!standard difficulty, is an error naming the mode(s)."""
    p = Path(path)
    if p.is_dir() or p.suffix.casefold() not in (".osu", ".osz"):
        raise CommandError(f"{path}: not a .osu file or an .osz set")
    if p.suffix.casefold() == ".osu":
        return [(p.name, load_osu(p))], [], {}
    osz = read_osz(p, with_files=with_files)
    refused = [" ".join(str(err).split()) for _, err in osz.refused]  # each message names its file
    if not osz.beatmaps:
        modes = Counter(err.mode_name for _, err in osz.refused if isinstance(err, UnsupportedModeError))
        why = [f"{n} {mode} difficult{'y' if n == 1 else 'ies'}" for mode, n in sorted(modes.items())]
        why += [
            line for (_, err), line in zip(osz.refused, refused) if not isinstance(err, UnsupportedModeError)
        ][:1]
        raise CommandError(f"{p.name}: no osu!standard difficulty ({'; '.join(why) or 'no .osu file in it'})")
    return list(osz.beatmaps), refused, osz.files


# ------------------------------------------------------------------------------ inspect


def difficulty_summary(name: str, m: OsuMap) -> dict:
    """What `osu inspect` says about one difficulty (JSON-ready: NaN figures are None)."""
    d = m.difficulty
    summary: dict = {
        "file": name,
        "difficulty": m.metadata.version,
        "format_version": m.version,
        "mode": MODE_NAMES.get(m.general.mode, str(m.general.mode)),
        "ar": d.ar,
        "cs": d.cs,
        "od": d.od,
        "hp": d.hp,
        **{kind: sum(isinstance(o, cls) for o in m.hit_objects) for kind, cls in KINDS},
    }
    if stars_available():
        try:
            rating = osu_stars(m)
            summary |= {"stars": rating.stars, "max_combo": rating.max_combo}
        except MapError as err:
            summary["stars_error"] = str(err)
    summary["judge"] = {k: (None if math.isnan(v) else v) for k, v in judge_map(m).items()}
    return summary


def run_inspect(args: argparse.Namespace) -> int:
    beatmaps, refused, _ = load(args.path)
    summaries = [difficulty_summary(name, m) for name, m in beatmaps]
    if args.json:
        print(json.dumps({"difficulties": summaries, "refused": refused}, indent=2))
        return 0
    md = beatmaps[0][1].metadata
    count = f"{len(beatmaps)} osu!standard difficult{'y' if len(beatmaps) == 1 else 'ies'}"
    print(f"{md.artist} - {md.title} (mapped by {md.creator}): {count}")
    for s in summaries:
        print("\n".join(format_difficulty(s)))
    if not stars_available():
        print(f"star rating: {INSTALL_HINT}")
    for line in refused:
        print(f"refused {line}")
    return 0


def format_difficulty(s: dict) -> list[str]:
    j = s["judge"]
    counts = "/".join(str(s[kind]) for kind, _ in KINDS)
    shares = ", ".join(f"{100 * j[f'{kind[:-1]}_share']:.1f}% {kind}" for kind, _ in KINDS)
    minutes, seconds = divmod(round(j["length_s"]), 60)
    stars = f", {s['stars']:.2f} stars (max combo {s['max_combo']})" if "stars" in s else ""
    spacing = (
        "-" if j["spacing_median"] is None else f"{j['spacing_median']:.0f} (p90 {j['spacing_p90']:.0f})"
    )
    lines = [
        f"[{s['difficulty']}] v{s['format_version']} {s['mode']}  "
        f"AR {s['ar']:g}  CS {s['cs']:g}  OD {s['od']:g}  HP {s['hp']:g}",
        f"  {int(j['objects'])} objects ({counts}): {shares}",
        f"  length {minutes}:{seconds:02d}, {j['bpm']:.6g} BPM{stars}",
        f"  invalid sliders {int(j['sliders_invalid'])}, outside the playfield: {int(j['objects_outside'])} "
        f"objects, {int(j['path_points_outside'])} slider path points; new combo rate "
        f"{j['new_combo_rate']:.3f}; spacing median {spacing} px/beat",
    ]
    if "stars_error" in s:
        lines.append(f"  star rating: {s['stars_error']}")
    return lines


# ------------------------------------------------------------------------------ roundtrip


def differences(before: OsuMap, after: OsuMap) -> list[str]:
    """The parts of two maps that differ (the first differing object for hit objects)."""
    out = []
    for f in fields(OsuMap):
        if f.compare and getattr(before, f.name) != getattr(after, f.name):
            if f.name == "hit_objects" and len(before.hit_objects) == len(after.hit_objects):
                i = next(i for i, (a, b) in enumerate(zip(before.hit_objects, after.hit_objects)) if a != b)
                out.append(f"hit_objects (first at object {i}, {before.hit_objects[i].time:g} ms)")
            else:
                out.append(f.name)
    return out


def run_roundtrip(args: argparse.Namespace) -> int:
    beatmaps, refused, files = load(args.path, with_files=bool(args.output))
    unequal = 0
    for name, m in beatmaps:
        again = read_osu(osu_bytes(m), name)
        diff = differences(m, again)
        unequal += bool(diff)
        verdict = f"NOT equal: {', '.join(diff)}" if diff else "equal"
        print(f"{name}: v{m.version} -> v14, {len(m.hit_objects)} objects, {verdict}")
    for line in refused:
        print(f"refused {line}")
    if args.output:
        out = Path(args.output)
        if out.suffix.casefold() == ".osz":
            write_osz(out, dict(beatmaps), files)
        elif len(beatmaps) == 1:
            out.parent.mkdir(parents=True, exist_ok=True)
            write_osu(beatmaps[0][1], out)
        else:
            raise CommandError(f"{out}: {len(beatmaps)} difficulties need an .osz output")
        print(f"wrote {out}")
    return 1 if unequal else 0
