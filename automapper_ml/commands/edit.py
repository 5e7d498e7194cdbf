"""Shorten a song for mapping: cut it on its bar grid to about the length asked for, the way a mapper
does in an audio editor, and write the result (Ogg Vorbis, or WAV/FLAC by the output's suffix). The
audio is copied, never re-synthesised: joins are on detected downbeats with 12 ms crossfades.

Methods: `splice` (default: keep the start and the real ending, cut one stretch from the middle
where the bars around the cut sound most alike), `truncate` (stop at the downbeat nearest the target,
last bar faded), `identity` (the first N seconds, faded). This is the rule-based editor; the learned
song editor of issue 17 is not shipped yet."""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

WRITE_FORMATS = {".ogg": "OGG", ".egg": "OGG", ".wav": "WAV", ".flac": "FLAC"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("song", help="audio file (.egg, .ogg, .wav, .flac, .mp3)")
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--seconds", type=float, help="target length in seconds")
    size.add_argument("--ratio", type=float, help="target length as a share of the song (0..1)")
    parser.add_argument("-o", "--output", help="file to write (.ogg, .wav, .flac; default ./<song>_edit.ogg)")
    parser.add_argument("--method", default="splice", help="splice (default), truncate or identity")
    parser.add_argument("--bpm", type=float, help="the song's BPM (default: detected)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")


def target_seconds(args: argparse.Namespace, duration: float) -> float:
    from automapper_ml.cli import CommandError

    if args.ratio is not None:
        if not 0.0 < args.ratio < 1.0:
            raise CommandError(f"--ratio must be between 0 and 1, got {args.ratio}")
        return args.ratio * duration
    return float(args.seconds)


def run(args: argparse.Namespace) -> int:
    from automapper_ml.cli import CommandError

    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    song = Path(args.song)
    if not song.is_file():
        raise CommandError(f"song {song} does not exist or is not a file")
    out = Path(args.output) if args.output else Path.cwd() / f"{song.stem}_edit.ogg"
    fmt = WRITE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise CommandError(f"-o {out}: write .ogg, .wav or .flac")
    from automapper_ml.audio import SAMPLE_RATE, AudioError, load_song

    started = time.monotonic()
    try:
        samples, rate, mono = load_song(song)
    except AudioError as err:
        raise CommandError(f"{song}: {err}") from err
    duration = len(mono) / SAMPLE_RATE
    say(f"read {song.name}: {duration:.1f} s")
    from automapper_ml.generation.song_edit import plan_song_edit, render_song_edit

    try:
        edit = plan_song_edit(mono, target_seconds(args, duration), args.method, bpm=args.bpm)
    except ValueError as err:
        raise CommandError(" ".join(str(err).split())) from err
    say(f"edit: {edit.summary()}")
    audio = render_song_edit(samples, rate, edit)
    write_edited(out, audio, rate, fmt)
    joins = ", ".join(f"{j:.2f}" for j in edit.joins) or "none"
    print(f"wrote {out}: {edit.seconds:.1f} s, joins at {joins} s ({time.monotonic() - started:.1f} s)")
    return 0


def write_edited(out: Path, audio, rate: int, fmt: str) -> None:
    """The edit as `fmt`, written whole or not at all."""
    import soundfile as sf

    from automapper_ml.atomic import write_bytes_atomic
    from automapper_ml.audio import encode_ogg

    if fmt == "OGG":
        data = encode_ogg(audio, rate)
    else:
        buf = io.BytesIO()
        sf.write(buf, audio, rate, format=fmt, subtype="PCM_16")
        data = buf.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, data)
