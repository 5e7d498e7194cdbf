"""Whole-song generation on CPU: wall time of `generate_level` for a 3-minute song, split by stage.

    .venv/bin/python bench/generation.py                       # full configs, Expert, 1 and 2 threads
    .venv/bin/python bench/generation.py --threads 2 --difficulties Expert ExpertPlus --precision bfloat16

Models are the `full` presets (onset 6 TCN blocks x 128 + 2-layer Transformer; sequence 8 layers x 512;
lighting d 192 x 3 layers) with RANDOM weights: speed does not depend on training, only on how many
onsets there are and how long each group is. So, as bench/decoding.py does:
- the onset threshold is set (untimed) so stage 1 picks about `--onsets` peaks (400 in 3 minutes,
  2.2 per second, a typical Expert density);
- stage-2 groups are capped at `--max-length` tokens (12: timing 2 + two notes x 3 + EOS is ~9) and
  stage-3 groups at `--light-tokens` (12: two events + EOS): an untrained model wanders through the
  grammar until the cap, a trained one ends groups about there.
The song is a synthetic 3-minute mix (drums, bass, chords) written as Ogg Vorbis, decoded like a
user's file. One short warm-up run first (librosa/numba start-up, allocator), then the timed run.
Vorbis encoding runs in a thread beside the models; `encode_wait` is what export still waited for.
`--threads N` sets torch's threads for every stage and generate_level's `decode_threads` for stage 2.

Figures (3-minute song, Expert, 403 snapped onsets, streams 32, nucleus sampling as generate does,
no CFG; IDLE 2-core machine, 2026-11-22; `--seams on,off` measures both in one run):

    precision  threads  seam prompts | onsets  notes  lights | total wall
    bf16       1        on           |  1.4    23.5   1.3    |  28.5 s      (the default: CPU has AVX512-BF16)
    bf16       2        on           |                16.1   |  19.2 s
    bf16       1        off          |          7.5          |  11.1 s
    fp32       1        on           |  1.4    51.4   1.3    |  55.4 s
    fp32       2        on           |         33.1          |  36.7 s
    fp32       1        off          |  1.1    14.8   1.3    |  18.1 s

Seam prompts (generation.seams) decode every run after the first once per hand state, 4x those rows:
they are what keeps runs decoded side by side from starting blind (raw parity errors on demo maps
26-48 -> 3-4 per 100 swings on Expert). The "% of notes changed" in the summary lines means nothing
here (random weights). Earlier, on a SHARED box at load 7-10: 2 threads were 8x slower than one
(spinning OpenMP threads), hence generate_level's default `decode_threads=1` (`automapper generate
--threads 2` on an idle machine). Vorbis encoding fully overlaps the models; the first call in a
process also pays ~2 s of librosa/numba start-up (in the warm-up line).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from itertools import product
from pathlib import Path

import soundfile as sf
import torch

from automapper_ml.audio import compute_features, load_audio
from automapper_ml.generation.export import encode_song  # noqa: E402
from automapper_ml.generation.level import (
    DEFAULT_DECODING,
    MIN_PEAK_DISTANCE,
    default_decoding,
    generate_level,
)
from automapper_ml.generation.lighting import LightingOptions  # noqa: E402
from automapper_ml.generation.models import GenerationModels
from automapper_ml.generation.options import GenerationOptions
from automapper_ml.generation.peaks import pick_peaks
from automapper_ml.models.lighting import LightingConfig, LightingModel  # noqa: E402
from automapper_ml.models.onset import OnsetConfig, OnsetModel, predict_song
from automapper_ml.models.sequence import SequenceConfig, SequenceModel
from automapper_ml.synth.audio import render_song
from automapper_ml.synth.composition import compose_song

STAGE_ORDER = (
    "decode",
    "tempo",
    "features",
    "onsets",
    "notes",
    "lights",
    "postprocess",
    "encode_wait",
    "export",
)


def full_models() -> GenerationModels:
    torch.manual_seed(0)
    onset = OnsetModel(OnsetConfig.preset("full")).eval()
    sequence = SequenceModel(SequenceConfig.preset("full")).eval()
    with torch.no_grad():
        sequence.token.weight.mul_(8.0)  # as bench/decoding.py: peakier random logits
    lighting = LightingModel(LightingConfig.preset("full")).eval()
    return GenerationModels(onset, 0.5, sequence, lighting, {})


def calibrate(models: GenerationModels, song: Path, onsets: int) -> float:
    """The threshold giving about `onsets` peaks on the Expert curve (untimed)."""
    feats = compute_features(load_audio(song))
    with torch.inference_mode():
        curve = predict_song(models.onset, feats.mel, feats.structure, 3)
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if len(pick_peaks(curve, mid, MIN_PEAK_DISTANCE)) > onsets else (lo, mid)
    return hi


def write_song(folder: Path, seconds: float, seed: int = 11) -> Path:
    path = folder / "song.ogg"
    path.write_bytes(encode_song(render_song(compose_song(seed, seconds)), 44100))
    return path


def run_once(song, names, out, **settings) -> dict:
    """One timed `generate_level` call; `settings` are its keyword arguments (models, decoding, ...)."""
    result = generate_level(song, names, GenerationOptions(), out=out, **settings)
    return {"result": result, "stages": result.stage_seconds(), "total": result.total_seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--onsets", type=int, default=400, help="stage-1 peaks to aim for (threshold calibrated)")
    ap.add_argument("--difficulties", nargs="+", default=["Expert"])
    ap.add_argument("--threads", default="1,2", help="torch thread counts to measure (comma separated)")
    ap.add_argument("--max-length", type=int, default=12, help="stage-2 tokens per group (see docstring)")
    ap.add_argument("--light-tokens", type=int, default=12, help="stage-3 tokens per group (see docstring)")
    ap.add_argument("--streams", type=int, default=32)
    ap.add_argument(
        "--precision", choices=("auto", "float32", "bfloat16"), default="auto",
        help="auto: what generate_level does (bfloat16 where the CPU runs it natively)",
    )  # fmt: skip
    ap.add_argument("--cfg-scale", type=float, default=1.0)
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--strategy", choices=("sample", "greedy"), default="sample", help="without --beams")
    ap.add_argument(
        "--seams", default="on,off",
        help="seam prompts (generation.seams) to measure: on, off or both (comma separated), in one run",
    )  # fmt: skip
    args = ap.parse_args()
    base = (
        default_decoding()
        if args.precision == "auto"
        else replace(DEFAULT_DECODING, precision=args.precision)
    )
    decoding = replace(
        base, strategy="beam" if args.beams > 1 else args.strategy, beam_size=args.beams,
        cfg_scale=args.cfg_scale, max_length=args.max_length,
    )  # fmt: skip
    lighting = LightingOptions(max_group_tokens=args.light_tokens)
    models = full_models()
    settings = {"models": models, "lighting": lighting, "streams": args.streams}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        song = write_song(folder, args.seconds)
        models.onset_threshold = calibrate(models, song, args.onsets)
        short = folder / "short.ogg"
        short.write_bytes(encode_song(sf.read(song, dtype="float32")[0][: 44100 * 10], 44100))
        t = time.perf_counter()
        run_once(
            short, args.difficulties, folder / "warm.zip", decoding=decoding, decode_threads=None, **settings
        )
        print(
            f"warm-up (10 s clip, first call: librosa/numba start-up included): {time.perf_counter() - t:.1f} s"
        )
        for threads, seams in product([int(x) for x in args.threads.split(",")], args.seams.split(",")):
            torch.set_num_threads(threads)
            cpu = time.process_time()
            dec = replace(decoding, seam_prompts=seams == "on")
            run = run_once(
                song, args.difficulties, folder / "out.zip", decoding=dec, decode_threads=threads, **settings
            )
            cpu = time.process_time() - cpu
            res = run["result"]
            onsets = sum(d.onsets for d in res.difficulties)
            print(
                f"\n{args.seconds:.0f} s song, {'+'.join(args.difficulties)}, full configs, {threads} torch "
                f"thread(s), {dec.precision}, {dec.strategy}, streams {args.streams}, seam prompts {seams}, "
                f"cfg {args.cfg_scale}, beams {args.beams}: "
                f"{onsets} onsets, total {run['total']:.1f} s wall ({cpu:.1f} s process CPU)"
            )
            for stage in STAGE_ORDER:
                if stage in run["stages"]:
                    print(f"  {stage:<12} {run['stages'][stage]:6.2f} s")
            print(f"  (Vorbis encoding itself: {res.encode_seconds:.2f} s in a thread, overlapped)")
            for d in res.difficulties:
                print(f"  {d.summary()}")


if __name__ == "__main__":
    main()
