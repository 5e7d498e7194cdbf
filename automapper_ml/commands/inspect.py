"""Count a map's objects per difficulty: notes, bombs, walls, arcs, chains, lighting events,
boosts, BPM changes, Noodle fake objects, duration (s) and NPS, with the format version of
every file. PATH is a map folder or a map zip."""

from __future__ import annotations

import argparse
import json

from automapper_ml.formats.reader import load_map
from automapper_ml.formats.summary import summarize

COLUMNS = (
    ("difficulty", "difficulty"),
    ("version", "ver"),
    ("notes", "notes"),
    ("bombs", "bombs"),
    ("walls", "walls"),
    ("arcs", "arcs"),
    ("chains", "chains"),
    ("events", "events"),
    ("boosts", "boosts"),
    ("bpm_changes", "bpm"),
    ("fake_objects", "fakes"),
    ("duration_s", "secs"),
    ("nps", "nps"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="map folder or .zip")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    summary = summarize(load_map(args.path))
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    print(format_summary(summary))
    return 0


def format_summary(summary: dict) -> str:
    """An aligned table, one row per difficulty, under a line of map metadata."""
    head = (
        f"{summary.get('title', '')} - {summary.get('artist', '')} (mapped by {summary.get('mapper', '')}); "
        f"Info.dat {summary.get('info_version', '?')}, {summary.get('bpm', 0):g} BPM"
    )
    rows = [[label for _, label in COLUMNS]]
    for key, diff in summary["difficulties"].items():
        row = []
        for field, _ in COLUMNS:
            value = key if field == "difficulty" else diff.get(field, "")
            row.append(f"{value:.2f}" if isinstance(value, float) else str(value))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [head, ""]
    for i, row in enumerate(rows):
        lines.append(
            "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths)))
        )
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
