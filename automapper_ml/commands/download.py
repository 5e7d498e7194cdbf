"""Download map zips from BeatSaver into <home>/raw, each with a <id>.json sidecar holding its
BeatSaver record. Pages through the search API, keeps maps with a Standard characteristic,
a rating of at least --min-rating, uploaded in --min-year or later, not AI-flagged (unless
--include-ai) and, with --max-nps, no Standard Expert/Expert+ above that NPS. Quotas
(--quota vanilla:10000 --quota chroma:2000 ...) count maps per category (vanilla, chroma,
noodle, mapping_extensions, vivify); with any quota, other categories are skipped. Rerunning
resumes: complete maps are not downloaded again. Home is --home, else $AUTOMAPPER_HOME,
else ./data; the API root is --base-url, else $BEATSAVER_BASE_URL, else the public API."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from automapper_ml import paths
from automapper_ml.beatsaver.client import BeatSaverClient, BeatSaverError, ClientOptions, base_url_from_env
from automapper_ml.beatsaver.download import DownloadInterrupted, DownloadOptions, download_maps
from automapper_ml.beatsaver.filters import FilterOptions, parse_quotas

SORT_ORDERS = ("Rating", "Latest", "Relevance")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--home", help="data folder (default: $AUTOMAPPER_HOME or ./data)")
    parser.add_argument(
        "--base-url", help="API root (default: $BEATSAVER_BASE_URL or https://api.beatsaver.com)"
    )
    parser.add_argument(
        "--quota", action="append", metavar="CATEGORY:N", help="maps wanted per category (repeatable)"
    )
    parser.add_argument(
        "--min-rating", type=float, default=0.8, help="minimum stats.score, 0..1 (default 0.8)"
    )
    parser.add_argument(
        "--min-year", type=int, default=2022, help="earliest upload year (default 2022; 0 = any)"
    )
    parser.add_argument(
        "--max-nps", type=float, help="skip maps whose Standard Expert/Expert+ exceed this NPS"
    )
    parser.add_argument("--include-ai", action="store_true", help="keep maps flagged automapper / declaredAi")
    parser.add_argument("--limit", type=int, help="stop after N new downloads")
    parser.add_argument("--max-pages", type=int, help="read at most N search pages")
    parser.add_argument(
        "--sort-order", choices=SORT_ORDERS, default="Rating", help="search order (default Rating)"
    )
    parser.add_argument(
        "--min-interval", type=float, default=0.2, help="seconds between two requests (default 0.2)"
    )
    parser.add_argument(
        "--max-retries", type=int, default=5, help="retries on 429/5xx/network errors (default 5)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from automapper_ml.cli import CommandError

    try:
        quotas = parse_quotas(args.quota)
    except ValueError as err:
        raise CommandError(str(err)) from None
    for name, value in (
        ("--limit", args.limit),
        ("--max-pages", args.max_pages),
        ("--max-retries", args.max_retries),
    ):
        if value is not None and value < 0:
            raise CommandError(f"{name} must be >= 0")
    if args.min_interval < 0 or not 0 <= args.min_rating <= 1:
        raise CommandError("--min-interval must be >= 0 and --min-rating within 0..1")
    if args.max_nps is not None and not args.max_nps > 0:
        raise CommandError("--max-nps must be > 0")
    filters = FilterOptions(
        min_rating=args.min_rating or None,
        min_year=args.min_year or None,
        max_nps=args.max_nps,
        include_ai=args.include_ai,
    )
    client = BeatSaverClient(
        ClientOptions(
            base_url=base_url_from_env(args.base_url),
            min_interval_s=args.min_interval,
            max_retries=args.max_retries,
        )
    )
    options = DownloadOptions(filters=filters, quotas=quotas, limit=args.limit, progress=not args.no_progress)
    records = client.iter_search(sort_order=args.sort_order, max_pages=args.max_pages)
    previous = _sigterm_as_interrupt()
    try:
        summary = download_maps(records, client, paths.home(args.home), options)
    except BeatSaverError as err:
        raise CommandError(str(err)) from None
    except DownloadInterrupted as err:
        print(err.summary.format(), file=sys.stderr)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    print(summary.format(), file=sys.stderr)
    return 0


def _sigterm_as_interrupt():
    """Let `kill` (SIGTERM) stop a download as cleanly as Ctrl-C: temp files removed, summary printed."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, interrupt)
