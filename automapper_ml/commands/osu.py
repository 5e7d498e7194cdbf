"""osu!standard beatmaps (.osu files and .osz sets):

  automapper osu generate SONG [-o OUT.osz] [--stars N | --ar A --cs C --od O --hp H] [--seed S]
                                        map a song (any audio file soundfile reads) with the shipped
                                        osu! model (automapper_ml/pretrained/osu, or --model); the
                                        .osz holds the difficulty and the song. With --stars (default
                                        4) the map's star rating (rosu-pp-py) is fitted to the request
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
    gen = actions.add_parser("generate", help="map a song: write an .osz with one osu!standard difficulty")
    gen.add_argument("song", help="audio file (.mp3, .ogg, .wav, .flac, ...)")
    gen.add_argument("-o", "--output", help="the .osz to write (default ./<song name>.osz)")
    gen.add_argument(
        "--stars", type=float, help="star rating to aim for (default 4 unless --ar/--cs/--od/--hp)"
    )
    for name in ("ar", "cs", "od", "hp"):
        gen.add_argument(
            f"--{name}", type=float, help=f"{name.upper()} 0..10 (default: from the star rating)"
        )
    gen.add_argument("--seed", type=int, default=0, help="random seed: same seed, same map (default 0)")
    gen.add_argument("--bpm", type=float, help="the song's BPM (default: detected)")
    gen.add_argument("--first-beat", type=float, metavar="SECONDS", help="time of a beat (default: detected)")
    gen.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default: the model card's)"
    )
    gen.add_argument("--model", help="an osu! checkpoint (default: the shipped one)")
    gen.add_argument("--title", help="title (default: the file's tag, else its name)")
    gen.add_argument("--artist", help="artist (default: the file's tag)")
    gen.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    gen.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(_osu=run_generate)


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


# ------------------------------------------------------------------------------ generate


def run_generate(args: argparse.Namespace) -> int:
    song = Path(args.song)
    if not song.is_file():
        raise CommandError(f"song {song} does not exist or is not a file")
    out = Path(args.output) if args.output else Path.cwd() / f"{song.stem}.osz"
    if out.suffix.casefold() != ".osz":
        raise CommandError(f"{out}: the output is an .osz set")
    if args.threads < 1:
        raise CommandError(f"--threads must be >= 1, got {args.threads}")
    from automapper_ml.audio import AudioError
    from automapper_ml.generation.osu_song import OsuRequest, OsuRequestError, map_osu_song, write_osu_song
    from automapper_ml.pretrained.osu import OSU_MODEL_FILE, default_sampling

    try:
        request = OsuRequest(stars=args.stars, ar=args.ar, cs=args.cs, od=args.od, hp=args.hp)
        sampling = default_sampling(seed=args.seed, temperature=args.temperature)
    except (OsuRequestError, ValueError) as err:
        raise CommandError(str(err)) from err
    import torch

    from automapper_ml.models.osu import load_osu_model

    torch.set_num_threads(args.threads)
    model_path = Path(args.model) if args.model else OSU_MODEL_FILE
    try:
        model = load_osu_model(model_path)
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise CommandError(reason if str(model_path) in reason else f"{model_path}: {reason}") from err
    bar = None
    if not args.quiet:
        import sys

        from tqdm import tqdm

        bar = tqdm(total=100, desc="osu generate", unit="%", file=sys.stderr, leave=False)

    def progress(share: float) -> None:
        if bar is not None:
            bar.update(int(100 * share) - bar.n)

    try:
        result = map_osu_song(song, model, request, sampling=sampling, bpm=args.bpm, first_beat=args.first_beat,
                              title=args.title, artist=args.artist, progress=progress)  # fmt: skip
    except AudioError as err:
        raise CommandError(f"{song}: {err}") from err
    except ValueError as err:
        raise CommandError(" ".join(str(err).split())) from err
    finally:
        if bar is not None:
            bar.close()
    path = write_osu_song(result, out)
    print(f"[{result.map.metadata.version}] {result.summary()}")
    if result.stars is None:
        print(f"star rating not fitted: {INSTALL_HINT}")
    print(f"wrote {path}")
    return 0
