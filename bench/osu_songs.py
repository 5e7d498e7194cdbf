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
import sys
from dataclasses import replace
from pathlib import Path

import torch

from automapper_assets.pretrain_osu import osu_split
from automapper_ml.evaluation.osu_songs import evaluate_osu_songs, osu_cases
from automapper_ml.generation.osu_baselines import beat_circles, onset_circles
from automapper_ml.generation.osu_song import OsuRequest, map_osu_song
from automapper_ml.models.osu import load_osu_model
from automapper_ml.pretrained.osu import OSU_MODEL_FILE, default_sampling


def model_mapper(
    model,
    temperature: float | None,
    zero_audio: bool = False,
    seed: int = 0,
    time_t=None,
    bias=None,
    onset_weight=None,
    prior_every=None,
):
    sampling = default_sampling(seed=seed, temperature=temperature)
    if time_t is not None:
        sampling = replace(sampling, time_temperature=time_t)
    if bias is not None:
        sampling = replace(sampling, place_bias=bias)
    if onset_weight is not None:
        sampling = replace(sampling, onset_weight=onset_weight)
    if prior_every is not None:
        sampling = replace(sampling, prior_every=prior_every)

    def mapper(song, human):
        from automapper_ml.evaluation.osu_stars import osu_stars

        request = OsuRequest(stars=round(osu_stars(human).stars, 2))
        return map_osu_song(song, model, request, sampling=sampling, zero_audio=zero_audio).map

    return mapper


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
    for t in args.temperature:
        for tt in args.time_temperature:
            for b in args.place_bias:
                for w in args.onset_weight:
                    for e in args.prior_every:
                        label = f"model T={t if t is not None else 'card'}" + (
                            f" Tt={tt}" if tt is not None else ""
                        )
                        label += f" bias={b}" if b is not None else ""
                        label += f" onset={w}" if w is not None else ""
                        label += f" every={e}" if e is not None else ""
                        mappers[label] = model_mapper(
                            model, t, time_t=tt, bias=b, onset_weight=w, prior_every=e
                        )
    if not args.no_ablation:
        mappers["model, audio zeroed"] = model_mapper(
            model,
            args.temperature[0],
            zero_audio=True,
            bias=args.place_bias[0],
            onset_weight=args.onset_weight[0],
        )
    if not args.no_baselines:
        mappers["beat circles"], mappers["onset circles"] = beat_circles, onset_circles
    report = evaluate_osu_songs(cases, mappers, log=print if args.verbose else None)
    print(report.markdown())
    for name, errors in report.errors.items():
        print(f"{name}: {len(errors)} errors, the first: {errors[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
