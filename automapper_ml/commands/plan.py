"""List every unsynced asset (per shard for sharded ones) with its cause, and what a re-materialisation
would cascade to: a dry run before the nightly retrain. Runs `python -m automapper_assets.plan` in a
fresh process (this library never imports Dagster), which reads Dagster's own stale status from the
persistent instance under <home>/dagster_home."""

from __future__ import annotations

import argparse
import subprocess
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="data root (default: $AUTOMAPPER_HOME or ./data)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-observe", action="store_true", help="do not observe raw_map_zips first")


def run(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "automapper_assets.plan"]
    if args.home:
        command += ["--home", args.home]
    if args.json:
        command.append("--json")
    if args.no_observe:
        command.append("--no-observe")
    return subprocess.run(command, check=False).returncode
