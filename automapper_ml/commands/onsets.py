"""Predict note onset times for a song with a trained stage-1 model (default: the one shipped with
automapper, trained on real maps). SONG is any audio file soundfile reads (Ogg Vorbis .egg/.ogg, WAV,
FLAC, MP3); the output is a JSON list of onset times in seconds, sorted, on stdout or in the file given
with -o. Without --threshold the peaks are picked as `automapper generate` picks them: the model's tuned
threshold, held inside the human range of onsets per second for the difficulty."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from automapper_ml.atomic import write_text_atomic
from automapper_ml.formats.model import DIFFICULTY_NAMES

DIFFICULTIES = DIFFICULTY_NAMES
ALIASES = {"expert+": "ExpertPlus", "expertplus": "ExpertPlus", "e+": "ExpertPlus"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("song", help="audio file (.egg, .ogg, .wav, .flac, .mp3)")
    parser.add_argument(
        "--model", help="stage-1 checkpoint (best.pt; default: automapper_ml/pretrained/onset/best.pt)"
    )
    parser.add_argument(
        "-d", "--difficulty", default="Expert", help=f"one of {', '.join(DIFFICULTIES)} (default Expert)"
    )
    parser.add_argument("-o", "--output", help="write the JSON here instead of stdout")
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="a fixed peak threshold 0..1 (default: the tuned one, held inside the difficulty's density)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def difficulty_index(name: str) -> int:
    from automapper_ml.cli import CommandError

    canonical = ALIASES.get(name.strip().lower(), name.strip())
    for i, d in enumerate(DIFFICULTIES):
        if d.lower() == canonical.lower():
            return i
    raise CommandError(f"unknown difficulty {name!r} (one of {', '.join(DIFFICULTIES)})")


def run(args: argparse.Namespace) -> int:
    from automapper_ml.cli import CommandError

    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    diff = difficulty_index(args.difficulty)
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise CommandError(f"--threshold must be between 0 and 1, got {args.threshold}")
    from automapper_ml.generation.models import default_checkpoint

    song = Path(args.song)
    ckpt = Path(args.model) if args.model else default_checkpoint("onset")
    for path, what in ((song, "song"), (ckpt, "model")):
        if not path.is_file():
            raise CommandError(f"{what} {path} does not exist or is not a file")

    import numpy as np
    import torch

    from automapper_ml import audio
    from automapper_ml.generation.density import FLOOR, choose_onsets
    from automapper_ml.generation.models import onset_density
    from automapper_ml.generation.peaks import peak_candidates, pick_peaks
    from automapper_ml.models.onset import load_onset_model, onset_threshold, predict_song

    started = time.monotonic()
    try:
        model, tuned = load_onset_model(ckpt), onset_threshold(ckpt)
    except ValueError as err:
        raise CommandError(str(err)) from err
    threshold = tuned if args.threshold is None else args.threshold
    density = onset_density(ckpt)
    say(f"decoding {song.name}")
    try:
        samples = audio.load_audio(song)
    except audio.AudioError as err:
        raise CommandError(f"{song}: {err}") from err
    say(f"features of {len(samples) / audio.SAMPLE_RATE:.1f} s of audio")
    feats = audio.compute_features(samples)
    n_windows = max(1, int(np.ceil(feats.n_frames / (model.config.window // 2))))
    say(f"predicting {DIFFICULTIES[diff]} onsets ({n_windows} windows, threshold {threshold:.2f})")
    with torch.inference_mode():
        curve = predict_song(model, feats.mel, feats.structure, diff)
    if args.threshold is not None:
        picked = pick_peaks(curve, threshold)
    else:
        name = DIFFICULTIES[diff]
        times_, heights = peak_candidates(curve, min(FLOOR, tuned))
        # frames as the grid: the density rule counts distinct peaks (no beat grid here)
        picked = choose_onsets(times_, heights, tuned, density.bounds(name, feats.duration), lambda t: t)
    times = sorted(round(float(t), 4) for t in picked)
    if not times:
        raise CommandError(f"{song}: no onset found (is the audio silent?)")
    text = json.dumps(times) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(Path(args.output), text)
        say(f"{len(times)} onsets -> {args.output} in {time.monotonic() - started:.1f} s")
    else:
        sys.stdout.write(text)
        say(f"{len(times)} onsets in {time.monotonic() - started:.1f} s")
    return 0
