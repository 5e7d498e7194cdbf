"""Generate the demo corpus: rendered songs with human-style maps (v2, v3, v4; some with BeatSaver
records, some songs mapped twice), one broken zip per blacklist and safety rule, and reference
songs. Writes into <home>/raw and <home>/reference; home is --home, else $AUTOMAPPER_HOME, else
./data. The same --seed always writes the same bytes. Refuses a non-empty raw/ unless --force."""

from __future__ import annotations

import argparse
import sys
import time

from automapper_ml import paths
from automapper_ml.cli import CommandError
from automapper_ml.synth import DemoConfig, generate_demo_corpus

DEFAULTS = DemoConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="data folder (default: $AUTOMAPPER_HOME or ./data)")
    parser.add_argument(
        "--songs", type=int, default=DEFAULTS.n_songs, help=f"distinct songs (default {DEFAULTS.n_songs})"
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULTS.seed, help=f"random seed (default {DEFAULTS.seed})"
    )
    parser.add_argument(
        "--min-seconds",
        type=float,
        default=DEFAULTS.min_seconds,
        help=f"shortest song (default {DEFAULTS.min_seconds:g})",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULTS.max_seconds,
        help=f"longest song (default {DEFAULTS.max_seconds:g})",
    )
    parser.add_argument("--no-broken", action="store_true", help="leave out the broken zips")
    parser.add_argument("--force", action="store_true", help="write even if raw/ already holds files")


def run(args: argparse.Namespace) -> int:
    home = paths.home(args.home)
    raw = home / "raw"
    if raw.exists() and not raw.is_dir():
        raise CommandError(f"{raw} exists and is not a folder")
    if raw.is_dir() and any(raw.iterdir()) and not args.force:
        raise CommandError(f"{raw} is not empty; pass --force to write the demo corpus into it anyway")
    try:
        config = DemoConfig(
            seed=args.seed,
            n_songs=args.songs,
            min_seconds=args.min_seconds,
            max_seconds=args.max_seconds,
            include_broken=not args.no_broken,
        )
    except ValueError as err:
        raise CommandError(str(err)) from None
    start = time.monotonic()
    report = generate_demo_corpus(
        home, config, progress=lambda line: print(line, file=sys.stderr, flush=True)
    )
    print(report.summary())
    print(f"done in {time.monotonic() - start:.1f} s")
    return 0
