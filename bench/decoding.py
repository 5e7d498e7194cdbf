"""Stage-2 decoding speed: cached vs uncached greedy (identical output asserted) and per-onset latency.

    .venv/bin/python bench/decoding.py                  # tiny + full, CPU, all cores
    .venv/bin/python bench/decoding.py --config full --onsets 64 --streams 16 --cfg-scale 2

Random weights (speed does not depend on training, only on group length): an untrained model
wanders through the grammar until `max_length`, so `--max-length` (default 12: timing 2 + two notes
x 3 + EOS is ~9) stands in for a trained model's group length; the budget rule then ends groups there. Per-onset latency is measured through `decode_song`, i.e. batched across `streams` runs of
onsets, with every audio window encoded once.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from automapper_ml.audio import FRAMES_PER_SECOND
from automapper_ml.generation.decoding import DecodingOptions, decode_groups, decode_song
from automapper_ml.models.sequence import SequenceConfig, SequenceInputs, SequenceModel, build_context
from automapper_ml.tokenizer import CELL0, DBEATS0, DFRAC0, DIR0, EOS, NOTE_L, NOTE_R


def _model(name: str) -> SequenceModel:
    torch.manual_seed(0)
    model = SequenceModel(SequenceConfig.preset(name)).eval()
    with torch.no_grad():
        model.token.weight.mul_(8.0)
    return model


def _inputs(cfg: SequenceConfig, rows: int) -> SequenceInputs:
    g = torch.Generator().manual_seed(1)
    history = [
        [DBEATS0 + 1, DFRAC0, (NOTE_L, NOTE_R)[i % 2], CELL0 + i % 12, DIR0 + i % 2, EOS] for i in range(8)
    ]
    ctx, age, frame = build_context(
        [history] * rows, [list(range(100, 260, 20))] * rows, cfg.max_context_tokens
    )
    w = cfg.audio_window
    return SequenceInputs(
        torch.randn(2, cfg.n_mels, w, generator=g), torch.rand(2, cfg.n_structure, w, generator=g),
        torch.arange(rows) % 2, torch.randint(w // 4, 3 * w // 4, (rows,), generator=g), ctx, age, frame,
        torch.full((rows,), 3),
    )  # fmt: skip


def cached_vs_uncached(name: str, rows: int, max_length: int) -> None:
    model = _model(name)
    inputs = _inputs(model.config, rows)
    decode_groups(model, inputs, DecodingOptions(max_length=8))  # warm-up
    t0 = time.perf_counter()
    fast = decode_groups(model, inputs, DecodingOptions(max_length=max_length))
    t1 = time.perf_counter()
    slow = decode_groups(model, inputs, DecodingOptions(max_length=max_length, use_cache=False))
    t2 = time.perf_counter()
    assert fast.tokens == slow.tokens, "cached and uncached greedy outputs differ"
    steps = max(len(t) for t in fast.tokens)
    print(
        f"[{name}] {rows} rows x {steps} steps, identical greedy output: cached {t1 - t0:.3f} s, "
        f"uncached {t2 - t1:.3f} s, speed-up {(t2 - t1) / (t1 - t0):.1f}x"
    )


def per_onset(
    name: str, onsets: int, streams: int, cfg_scale: float, seconds: float, max_length: int
) -> None:
    model = _model(name)
    cfg = model.config
    n_frames = int(seconds * FRAMES_PER_SECOND)
    rng = np.random.default_rng(0)
    mel = rng.standard_normal((cfg.n_mels, n_frames)).astype(np.float32)
    structure = rng.random((cfg.n_structure, n_frames)).astype(np.float32)
    frames = np.sort(rng.choice(np.arange(n_frames), size=onsets, replace=False))
    opts = DecodingOptions(cfg_scale=cfg_scale, max_length=max_length)
    decode_song(
        model, mel[:, :600], structure[:, :600], frames[frames < 600][:4], 3, opts, streams
    )  # warm-up
    t0 = time.perf_counter()
    song = decode_song(model, mel, structure, frames, 3, opts, streams)
    dt = time.perf_counter() - t0
    tokens = sum(len(g) for g in song.groups)
    print(
        f"[{name}] {onsets} onsets in {seconds:.0f} s of audio ({song.windows} windows), {streams} streams, "
        f"cfg {cfg_scale}: {dt:.2f} s total, {1000 * dt / onsets:.1f} ms per onset, "
        f"{tokens / onsets:.1f} tokens per group, threads {torch.get_num_threads()}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=("tiny", "full", "both"), default="both")
    ap.add_argument("--rows", type=int, default=8, help="onsets decoded together in the cache comparison")
    ap.add_argument("--onsets", type=int, default=64, help="onsets in the per-onset latency run")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--cfg-scale", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=60.0, help="audio length of the latency run")
    ap.add_argument("--max-length", type=int, default=12, help="tokens per group (see module docstring)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("tiny", "full") if args.config == "both" else (args.config,):
        cached_vs_uncached(name, args.rows, args.max_length)
        per_onset(name, args.onsets, args.streams, args.cfg_scale, args.seconds, args.max_length)


if __name__ == "__main__":
    main()
