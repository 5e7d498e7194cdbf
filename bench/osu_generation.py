"""osu! generation on CPU: wall time of `generation.osu.generate_osu` for a 3-minute song.

    .venv/bin/python bench/osu_generation.py                      # tiny and full, 1 and 2 threads
    .venv/bin/python bench/osu_generation.py --configs full --threads 2 --seconds 180

The song is 3 minutes of synthetic noise (white noise with a kick-like burst every beat at 150 BPM)
through audio.compute_features (timed on its own line). Models have RANDOM weights: speed depends on
how many tokens are sampled and how many windows are encoded, not on training. A plain random model
wanders through time shifts and writes a few objects per song, so the output head's bias is pushed
towards a map's density (beat shifts of 1/4 and 1/2 beat, circles and sliders; `--density`): the run
then samples about as many tokens per second of song as the fixtures' human maps hold, which the
bench prints next to it (`human maps`), with the time the measured rate gives for the densest one.
The issue asks for <= 30 s per 3-minute song on 2 cores. One short warm-up run first.

Figures (3-minute song, 28-29 windows of 11.9 s; a SHARED 2-core box at load average 3-4, no AVX512,
2026-12-03; human fixture maps hold 22.4 tokens per second of map (median), 40.4 at most):

    config          precision  threads | tokens  tokens/s | wall     | densest human map at that rate
    tiny  (0.35 M)  fp32       1       |  5618     703-757 |  7.4-8 s |  9.6-10.3 s   holds
    tiny            fp32       2       |  5618      30-110 |  51-187 s|  misses (threads spin on a busy box)
    full  (23.8 M)  fp32       1       |  5717          68 |  83.5 s  | 106 s         misses
    full            bf16       1       |  5021          32 |  157 s   | 227 s         misses (no AVX512-BF16 here)
    full            fp32       2       |  5717          12 |  469 s   |               misses

tiny is bound by per-step overhead (~1.3 ms a token: torch op dispatch, masks, sampling), full by
reading its 12.4 M decoder weights every token (~15 ms). So on 2 cores a tiny-sized model meets the
budget with one intra-op thread; `full` (the GPU-training size) does not. As bench/generation.py
found for Beat Saber, a second torch thread on a loaded machine only spins: measure 2 threads idle.
"""

from __future__ import annotations

import argparse
import time
from itertools import product
from pathlib import Path

import numpy as np
import torch

from automapper_ml.audio import SAMPLE_RATE, compute_features
from automapper_ml.formats.osu import load_osu
from automapper_ml.generation.osu import OsuCache, OsuSampling, generate_osu, tempo_timing_points
from automapper_ml.generation.tempo import user_tempo
from automapper_ml.models.osu import OsuConfig, OsuModel, condition_vector
from automapper_ml.tokenizer_osu import (
    BEAT_SHIFT0,
    END_SLIDER0,
    EOS,
    PLACE_CIRCLE,
    START_SLIDER,
    TIME_SHIFT0,
    encode_osu,
)

BPM = 150.0
FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "osu"
BUDGET_S = 30.0


def noise_song(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = 0.05 * rng.standard_normal(int(seconds * SAMPLE_RATE)).astype(np.float32)
    beat = int(SAMPLE_RATE * 60 / BPM)
    burst = (np.exp(-np.arange(2000) / 300.0) * rng.standard_normal(2000)).astype(np.float32)
    for start in range(0, len(y) - len(burst), beat):
        y[start : start + len(burst)] += 0.6 * burst
    return y


def push_density(model: OsuModel, strength: float) -> None:
    """Bias a random model's head towards a map's density (see the module docstring)."""
    with torch.no_grad():
        b = model.head.bias
        b[TIME_SHIFT0 : TIME_SHIFT0 + 64] -= strength
        b[[BEAT_SHIFT0 + 3, BEAT_SHIFT0 + 6]] += strength
        b[PLACE_CIRCLE] += strength + 1
        b[list(START_SLIDER)] += strength - 0.5
        b[END_SLIDER0 : END_SLIDER0 + 5] += 1.5  # a few anchors per slider, not ~6
        b[EOS] -= 10  # a random model would end the map anywhere


def human_density() -> list[float]:
    """Tokens per second (first to last object) of every osu!standard fixture map."""
    out = []
    for path in sorted(FIXTURES.rglob("*.osu")) if FIXTURES.is_dir() else []:
        try:
            m = load_osu(path)
        except Exception:  # other modes are refused: not maps to compare with
            continue
        times = [o.time for o in m.hit_objects]
        if len(times) > 50 and max(times) - min(times) > 30_000:
            out.append(len(encode_osu(m).tokens) / ((max(times) - min(times)) / 1000.0))
    return out


def run(model: OsuModel, feats, seconds: float, seed: int, dtype=torch.float32) -> tuple[float, object]:
    points = tempo_timing_points(user_tempo(BPM, 0.0))
    frames = int(seconds * SAMPLE_RATE / 256)
    t0 = time.perf_counter()
    out = generate_osu(
        model,
        feats.mel[:, :frames],
        feats.structure[:, :frames],
        points,
        condition_vector(stars=5.0),
        sampling=OsuSampling(seed=seed),
        cache=OsuCache(model, dtype),
    )
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=["tiny", "full"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument(
        "--density", type=float, default=4.0, help="head bias pushing a random model to a map's density"
    )
    ap.add_argument("--precision", nargs="+", default=["float32"], choices=["float32", "bfloat16"])
    args = ap.parse_args()
    t0 = time.perf_counter()
    feats = compute_features(noise_song(args.seconds))
    print(f"features: {time.perf_counter() - t0:.1f} s for {args.seconds:.0f} s of audio")
    dens = human_density()
    if dens:
        print(
            f"human maps ({len(dens)} fixtures): tokens per second of map median {np.median(dens):.1f}, "
            f"max {max(dens):.1f}"
        )
    for name in args.configs:
        torch.manual_seed(0)
        model = OsuModel(OsuConfig.preset(name)).eval()
        push_density(model, args.density)
        params = sum(p.numel() for p in model.parameters())
        for threads, precision in product(args.threads, args.precision):
            torch.set_num_threads(threads)
            dtype = getattr(torch, precision)
            run(model, feats, 10.0, 99, dtype)  # warm-up
            wall, out = run(model, feats, args.seconds, 0, dtype)
            rate = len(out.tokens) / wall
            objects = len(out.map.hit_objects)
            line = (
                f"{name:5s} ({params / 1e6:.1f} M params) {precision} threads {threads}: {wall:6.1f} s, "
                f"{len(out.tokens)} tokens ({len(out.tokens) / args.seconds:.1f}/s of song), "
                f"{rate:.0f} tokens/s, {objects} objects, {out.windows} windows"
            )
            if dens:
                line += f"; densest human map at this rate: {max(dens) * args.seconds / rate:.1f} s"
            ok = wall <= BUDGET_S * args.seconds / 180.0 and (
                not dens or max(dens) * args.seconds / rate <= BUDGET_S
            )
            print(line + f" -> {'holds' if ok else 'MISSES'} <= {BUDGET_S:.0f} s per 3 minutes")


if __name__ == "__main__":
    main()
