"""The editor's aligner and its baselines on synthetic edit pairs of NEW seeds (synth.edits: composed
songs cut at bar boundaries, so the true pointers are known), both songs through Vorbis as the demo
writes them. Per pair: exact and within-5-frame pointer accuracy and cut-point F1 (+-5 frames) of
editing.align against the truth, and the same scores for the two rule-based editors a learned one
must beat, asked for the true edit's length: "keep everything" (generation.song_edit `identity`) and
"cut at the downbeat nearest the target" (`truncate`), plus `splice`.

    .venv/bin/python bench/edit_alignment.py --pairs 12 --seconds 60 90
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

from automapper_ml.audio import SAMPLE_RATE, load_audio
from automapper_ml.editing.align import align_audio
from automapper_ml.editing.pairs import pointer_scores
from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS
from automapper_ml.generation.song_edit import plan_song_edit
from automapper_ml.synth.audio import encode_ogg, render_song
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.edits import edit_song

KEYS = ("exact", "within_5", "cut_f1")


def vorbis(x: np.ndarray) -> np.ndarray:
    return load_audio(io.BytesIO(encode_ogg(x, SAMPLE_RATE)).getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=12)
    parser.add_argument("--seconds", type=float, nargs=2, default=(60.0, 90.0))
    parser.add_argument("--seed", type=int, default=10_000, help="first song seed (the demo uses small ones)")
    args = parser.parse_args()
    scores: dict[str, list[dict]] = {k: [] for k in ("aligner", "identity", "truncate", "splice")}
    times = []
    rng = np.random.default_rng(args.seed)
    for i in range(args.pairs):
        song = compose_song(args.seed + i, float(rng.uniform(*args.seconds)))
        raw = render_song(song, SAMPLE_RATE)
        pair = edit_song(song, raw, SAMPLE_RATE, np.random.default_rng([args.seed, i]))
        raw_v, edit_v = vorbis(pair.raw), vorbis(pair.edit)
        started = time.perf_counter()
        found = align_audio(raw_v, edit_v)
        times.append(time.perf_counter() - started)
        scores["aligner"].append(pointer_scores(found.pointers, pair.pointers))
        target = len(pair.pointers) * EDIT_FRAME_SECONDS
        for method in ("identity", "truncate", "splice"):
            try:
                plan = plan_song_edit(raw_v, target, method)
                scores[method].append(pointer_scores(plan.pointers(), pair.pointers))
            except ValueError:  # the edit is as long as the song: nothing to cut
                scores[method].append({k: float("nan") for k in KEYS})
        a = scores["aligner"][-1]
        print(f"pair {i:2d} {song.seconds:5.1f} s -> {target:5.1f} s {','.join(pair.rules):<34} aligner exact "
              f"{a['exact']:.3f} within5 {a['within_5']:.3f} cut F1 {a['cut_f1']:.2f} ({times[-1]:.2f} s)", flush=True)  # fmt: skip
    print(f"\n{args.pairs} pairs (seeds {args.seed}..{args.seed + args.pairs - 1}), means:")
    for name, rows in scores.items():
        cells = "  ".join(f"{k} {np.nanmean([r[k] for r in rows]):.3f}" for k in KEYS)
        print(f"  {name:<9} {cells}")
    print(f"aligner seconds per pair: median {np.median(times):.2f}, max {max(times):.2f}")


if __name__ == "__main__":
    main()
