"""Generate a Beat Saber map for a song with the trained models. SONG is any audio file soundfile
reads (Ogg Vorbis .egg/.ogg, WAV, FLAC, MP3); the result is a zip (v3 difficulties, Info.dat v2.1,
song.egg, a cover drawn from the song) that the game, editors and BeatSaver load. Title and artist
come from the file's tags (else the title is the file name); --title / --artist override them.
The models are the ones shipped with automapper (automapper_ml/pretrained, trained on real maps)
unless --models names a folder <dir>/{onset,sequence,lighting}/champion.pt or best.pt, as the Dagster
pipeline trains them (e.g. data/models). A difficulty that would have no notes is an error. Prints one
line per difficulty: notes, NPS, parity errors, share of notes post-processing changed, time taken."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from automapper_ml.commands.onsets import DIFFICULTIES, difficulty_index

DENSITIES = ("keep", "none", "low", "medium", "high")
# Named Chroma palettes: (left/red, right/blue, white) RGB 0..1.
PALETTES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "classic": ((0.784, 0.078, 0.078), (0.157, 0.557, 0.824), (1.0, 1.0, 1.0)),
    "neon": ((1.0, 0.0, 0.8), (0.0, 1.0, 1.0), (1.0, 1.0, 1.0)),
    "sunset": ((1.0, 0.45, 0.0), (0.55, 0.2, 0.9), (1.0, 0.85, 0.6)),
    "forest": ((0.9, 0.75, 0.1), (0.1, 0.8, 0.3), (0.85, 1.0, 0.85)),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("song", help="audio file (.egg, .ogg, .wav, .flac, .mp3)")
    parser.add_argument(
        "-d", "--difficulty", nargs="+", default=["Expert"], metavar="NAME",
        help=f"difficulties to generate, any of {', '.join(DIFFICULTIES)} (default Expert)",
    )  # fmt: skip
    parser.add_argument("-o", "--output", help="zip (or folder) to write (default ./<song name>.zip)")
    parser.add_argument("--bpm", type=float, help="the song's BPM (default: detected)")
    parser.add_argument(
        "--first-beat", type=float, metavar="SECONDS", help="time of a beat (default: detected)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same map (default 0)")
    parser.add_argument(
        "--bombs", choices=DENSITIES, default="keep", help="bomb density (default: the model's)"
    )
    parser.add_argument(
        "--walls", choices=DENSITIES, default="keep", help="wall density (default: the model's)"
    )
    parser.add_argument(
        "--chroma", metavar="PALETTE",
        help=f"colour the lights with Chroma: {', '.join(PALETTES)} or 2-3 hex colours like ff0000,0000ff",
    )  # fmt: skip
    parser.add_argument("--environment", default="DefaultEnvironment", help="Info.dat environment name")
    parser.add_argument(
        "--temperature", type=float, metavar="T",
        help="stage-2 sampling temperature (default 1.0: the model's own distribution)",
    )  # fmt: skip
    parser.add_argument(
        "--top-p", type=float, metavar="P", help="stage-2 nucleus (top-p) mass, 0 < P <= 1 (default 0.9)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, metavar="N",
        help="torch threads for the note decoder (default 1: on a busy machine more threads spin; on an "
        "idle 2-core one, 2 are ~1.5x faster)",
    )  # fmt: skip
    parser.add_argument(
        "--greedy", action="store_true",
        help="stage 2 takes the most likely token every step (every swing its most common arrow)",
    )  # fmt: skip
    parser.add_argument(
        "--models", help="folder with onset/, sequence/, lighting/ checkpoints (default: the shipped models)"
    )
    parser.add_argument(
        "--title", default="", help="song name in Info.dat (default: the file's title tag, else its name)"
    )
    parser.add_argument(
        "--artist", default="", help="song artist in Info.dat (default: the file's artist tag)"
    )
    parser.add_argument(
        "--edit-seconds",
        type=float,
        help="first shorten the song to about this many seconds (as `automapper edit`)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def parse_palette(text: str) -> tuple[tuple[float, ...], ...]:
    """A palette name or 2-3 comma-separated hex colours (rrggbb, optional #) -> RGB 0..1 tuples."""
    from automapper_ml.cli import CommandError

    key = text.strip().lower()
    if key in PALETTES:
        return PALETTES[key]
    parts = [p.strip().lstrip("#") for p in key.split(",")]
    try:
        if not 2 <= len(parts) <= 3 or any(len(p) != 6 for p in parts):
            raise ValueError
        return tuple(tuple(int(p[i : i + 2], 16) / 255.0 for i in (0, 2, 4)) for p in parts)
    except ValueError:
        raise CommandError(
            f"--chroma {text!r}: use one of {', '.join(PALETTES)} or 2-3 hex colours like ff0000,0000ff"
        ) from None


def song_names(song: Path, title: str = "", artist: str = "") -> tuple[str, str]:
    """(title, artist) for Info.dat: --title / --artist, else the file's tags, else (title only) the
    file name; cleaned like tags (`songinfo.clean_tag`)."""
    from automapper_ml.generation.songinfo import clean_tag, read_song_tags

    tags = read_song_tags(song)
    return (
        clean_tag(title) or tags.title or clean_tag(song.stem) or "Untitled",
        clean_tag(artist) or tags.artist,
    )


def decoding_options(args: argparse.Namespace):  # -> DecodingOptions
    """The stage-2 DecodingOptions from --greedy / --temperature / --top-p over the generator's default."""
    from dataclasses import replace

    from automapper_ml.cli import CommandError
    from automapper_ml.generation.level import default_decoding

    if args.greedy:
        if args.temperature is not None or args.top_p is not None:
            raise CommandError("--greedy does not sample: drop --temperature / --top-p")
        return replace(default_decoding(), strategy="greedy")
    changes: dict = {}
    if args.temperature is not None:
        if not args.temperature > 0:
            raise CommandError(f"--temperature must be > 0, got {args.temperature}")
        changes["temperature"] = args.temperature
    if args.top_p is not None:
        if not 0 < args.top_p <= 1:
            raise CommandError(f"--top-p must be in (0, 1], got {args.top_p}")
        changes["top_p"] = args.top_p
    if changes:
        changes["strategy"] = "sample"
    return replace(default_decoding(), **changes)


def edited_song(native, rate: int, mono, args: argparse.Namespace):
    """The song cut to --edit-seconds by generation.song_edit's splice (its native and mono samples)."""
    from automapper_ml.audio import SAMPLE_RATE
    from automapper_ml.cli import CommandError
    from automapper_ml.generation.song_edit import plan_song_edit, render_song_edit

    try:
        edit = plan_song_edit(mono, args.edit_seconds, bpm=args.bpm)
    except ValueError as err:
        raise CommandError(f"--edit-seconds: {' '.join(str(err).split())}") from err
    if not args.quiet:
        print(f"edit: {edit.summary()}", file=sys.stderr)
    return render_song_edit(native, rate, edit), render_song_edit(mono, SAMPLE_RATE, edit)


def run(args: argparse.Namespace) -> int:
    from automapper_ml.cli import CommandError

    names = [DIFFICULTIES[difficulty_index(d)] for d in args.difficulty]
    song = Path(args.song)
    if not song.is_file():
        raise CommandError(f"song {song} does not exist or is not a file")
    palette = parse_palette(args.chroma) if args.chroma else None
    out = Path(args.output) if args.output else Path.cwd() / f"{song.stem}.zip"

    from automapper_ml.audio import AudioError, load_song

    # Decoded here, a block at a time, after the header is checked (rate, channels, length): a bad
    # song fails before torch and the models load, and a long or hi-res one never sits in memory whole.
    try:
        native, rate, mono = load_song(song)
    except AudioError as err:
        raise CommandError(f"{song}: {err}") from err
    if args.edit_seconds is not None:
        native, mono = edited_song(native, rate, mono, args)

    from automapper_ml.generation.level import SongAudio, generate_level
    from automapper_ml.generation.models import ModelLoadError, default_models_dir, load_models
    from automapper_ml.generation.options import GenerationOptions, PostProcessOptions

    title, artist = song_names(song, args.title, args.artist)
    options = GenerationOptions(
        bpm=args.bpm,
        first_beat_seconds=args.first_beat,
        difficulties=tuple(names),
        environment_name=args.environment,
        postprocess=PostProcessOptions(
            bomb_density=args.bombs, wall_density=args.walls, chroma_palette=palette
        ),
        title=title,
        artist=artist,
    )
    decoding = decoding_options(args)
    if args.threads < 1:
        raise CommandError(f"--threads must be >= 1, got {args.threads}")
    try:
        models = load_models(Path(args.models) if args.models else default_models_dir())
    except ModelLoadError as err:
        raise CommandError(str(err)) from err
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=1, desc="generate", unit="step", file=sys.stderr, leave=False)

    def progress(done: int, total: int, label: str) -> None:
        if bar is not None:
            bar.total = total
            bar.set_description(label)
            bar.update(done - bar.n)

    try:
        result = generate_level(
            SongAudio(native, rate, mono), names, options, models=models, out=out, seed=args.seed,
            progress=progress, decoding=decoding, decode_threads=args.threads,
        )  # fmt: skip
    except AudioError as err:
        raise CommandError(f"{song}: {err}") from err
    except ValueError as err:  # bad BPM, environment or options: one line
        raise CommandError(" ".join(str(err).split())) from err
    finally:
        if bar is not None:
            bar.close()
    for d in result.difficulties:
        print(d.summary())
    tempo = result.tempo
    print(
        f"wrote {result.path} ({result.duration_seconds:.1f} s, {tempo.bpm:.2f} BPM {tempo.source}, "
        f"first beat {tempo.first_beat_seconds:.3f} s, {result.total_seconds:.1f} s in all)"
    )
    return 0
