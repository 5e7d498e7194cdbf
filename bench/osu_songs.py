"""The osu! model on real songs: `automapper osu generate`'s maps against the human ones, beside the
baselines and the model with its audio zeroed, on one split of the real osu! corpus.

    .venv/bin/python bench/osu_songs.py                               # held-out sets, shipped model
    .venv/bin/python bench/osu_songs.py --split val --temperature 0.7 0.9 1.0 --model /work/osu_train/cpu/best.pt

The corpus is a folder of `.osz` sets built outside the repository from ../shared/osu_corpus;
`automapper_assets.pretrain_osu.osu_split` says which are held out. Each case is one human
difficulty (`--per-set` of each set, spread over star ratings), mapped with the request
`--stars <the human map's rating>` and judged by evaluation.osu_songs (rhythm F1 +-10/+-50 ms
pooled over cases, star error, type shares, slider validity, playfield, spacing, seconds per map).
Tune sampling on `val`, report on `test`.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace
from pathlib import Path

import torch

from automapper_assets.pretrain_osu import osu_split
from automapper_ml.evaluation.osu_songs import evaluate_osu_songs, osu_cases
from automapper_ml.generation.osu_baselines import beat_circles, onset_circles
from automapper_ml.generation.osu_song import stars_mapper
from automapper_ml.models.osu import load_osu_model
from automapper_ml.pretrained.osu import OSU_MODEL_FILE, default_sampling

# OsuSampling fields a run may sweep (each an option: --place-bias ...) -> their label
SWEEP = {"time_temperature": "Tt", "place_bias": "bias", "onset_weight": "onset", "prior_every": "every"}


def model_mapper(model, temperature: float | None, zero_audio: bool = False, seed: int = 0, **overrides):
    """The shipped sampling (`temperature` and the SWEEP fields in `overrides` replaced when not None),
    mapping each case's song at the human map's star rating."""
    sampling = default_sampling(seed=seed, temperature=temperature)
    sampling = replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
    return stars_mapper(model, sampling, zero_audio)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="/work/osu_build")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--per-set", type=int, default=3)
    ap.add_argument("--sets", type=int, default=0, help="at most this many sets (0: all of the split)")
    ap.add_argument("--model", default=str(OSU_MODEL_FILE))
    ap.add_argument("--temperature", type=float, nargs="+", default=[None])
    ap.add_argument("--time-temperature", type=float, nargs="+", default=[None])
    ap.add_argument("--place-bias", type=float, nargs="+", default=[None])
    ap.add_argument("--onset-weight", type=float, nargs="+", default=[None])
    ap.add_argument("--prior-every", type=int, nargs="+", default=[None])
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--no-ablation", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = osu_split(sorted(Path(args.corpus).glob("*.osz")))
    paths = [r[0] for r in rows if r[2] == args.split]
    paths = paths[: args.sets] if args.sets else paths
    cases, skipped = osu_cases(paths, per_set=args.per_set)
    print(f"{len(cases)} cases from {len(paths)} {args.split} sets; skipped: {skipped or 'none'}")
    model = load_osu_model(args.model)
    mappers = {}
    grids = [getattr(args, k) for k in SWEEP]
    for t in args.temperature:
        for values in itertools.product(*grids):
            label = f"model T={t if t is not None else 'card'}" + "".join(
                f" {SWEEP[k]}={v}" for k, v in zip(SWEEP, values) if v is not None
            )
            mappers[label] = model_mapper(model, t, **dict(zip(SWEEP, values)))
    if not args.no_ablation:  # the first setting swept, with silence for audio
        first = {k: g[0] for k, g in zip(SWEEP, grids)}
        mappers["model, audio zeroed"] = model_mapper(model, args.temperature[0], zero_audio=True, **first)
    if not args.no_baselines:
        mappers["beat circles"], mappers["onset circles"] = beat_circles, onset_circles
    report = evaluate_osu_songs(cases, mappers, log=print if args.verbose else None)
    print(report.markdown())
    for name, errors in report.errors.items():
        print(f"{name}: {len(errors)} errors, the first: {errors[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
