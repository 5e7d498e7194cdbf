"""The filtered BeatSaver catalogue as a table: what the Dagster `beatsaver_catalog` asset
writes and `beatsaver_downloads` reads back.

One row per eligible map, with the fields the rest of the pipeline looks at (category,
rating, ranked flags, upload time, version hash) and the whole record as JSON in
`record_json`, so the download step writes the same sidecar the CLI would.

The catalogue cannot know which zips will fail verification, so per quota category it keeps
a little more than the quota (`QUOTA_SLACK`); the download step applies the exact quotas.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from automapper_ml.atomic import atomic_path
from automapper_ml.beatsaver.filters import (
    FilterOptions,
    download_url,
    ineligibility,
    is_ai,
    map_category,
    map_rating,
    map_uploaded,
    version_hash,
)

QUOTA_SLACK = 0.1  # keep quota * (1 + slack) + 5 candidates per category
CATALOG_COLUMNS = (
    "id",
    "hash",
    "category",
    "rating",
    "upvotes",
    "downvotes",
    "ranked",
    "qualified",
    "bl_ranked",
    "ai",
    "uploaded",
    "name",
    "download_url",
    "quota",
    "record_json",
)


def candidate_caps(quotas: Mapping[str, int]) -> dict[str, int]:
    return {c: math.ceil(n * (1 + QUOTA_SLACK)) + 5 if n > 0 else 0 for c, n in quotas.items()}


def scan_catalog(
    records: Iterable[Mapping[str, Any]],
    filters: FilterOptions,
    quotas: Mapping[str, int] | None = None,
) -> tuple[list[dict], Counter]:
    """Eligible records in listing order (deduplicated, within the quota caps) and skip counts.

    Consumes `records` lazily and stops once every quota category has its candidates."""
    caps = candidate_caps(quotas or {})
    kept: list[dict] = []
    per_category: Counter = Counter()
    skipped: Counter = Counter()
    seen: set[str] = set()
    if caps and all(n == 0 for n in caps.values()):
        return kept, skipped
    for record in records:
        reason = ineligibility(record, filters)
        if reason is None and record["id"] in seen:
            reason = "duplicate"
        category = map_category(record) if reason is None else ""
        if reason is None and caps:
            if category not in caps:
                reason = "no_quota"
            elif per_category[category] >= caps[category]:
                reason = "quota_full"
        if reason is not None:
            skipped[reason] += 1
            continue
        seen.add(record["id"])
        per_category[category] += 1
        kept.append(dict(record))
        if caps and all(per_category[c] >= n for c, n in caps.items()):
            break
    return kept, skipped


def catalog_row(record: Mapping[str, Any]) -> dict[str, Any]:
    stats = record.get("stats") if isinstance(record.get("stats"), Mapping) else {}
    uploaded = map_uploaded(record)
    return {
        "id": record["id"],
        "hash": version_hash(record),
        "category": map_category(record),
        "rating": map_rating(record),
        "upvotes": stats.get("upvotes") if isinstance(stats.get("upvotes"), int) else None,
        "downvotes": stats.get("downvotes") if isinstance(stats.get("downvotes"), int) else None,
        "ranked": record.get("ranked") is True,
        "qualified": record.get("qualified") is True,
        "bl_ranked": record.get("blRanked") is True,
        "ai": is_ai(record),
        "uploaded": uploaded.isoformat() if uploaded else None,
        "name": str(record.get("name", "")),
        "download_url": download_url(record),
        "record_json": json.dumps(record, ensure_ascii=False),
    }


def write_catalog(
    records: Iterable[Mapping[str, Any]], path: Path, quotas: Mapping[str, int] | None = None
) -> int:
    """Write the catalogue parquet atomically; returns the row count.

    `quota` holds the quota of the row's category (null without quotas), so the download
    step applies the same quotas the catalogue was built for."""
    import polars as pl

    quotas = dict(quotas or {})
    rows = [catalog_row(r) for r in records]
    for row in rows:
        row["quota"] = quotas.get(row["category"])
    schema = {
        "id": pl.String,
        "hash": pl.String,
        "category": pl.String,
        "rating": pl.Float64,
        "upvotes": pl.Int64,
        "downvotes": pl.Int64,
        "ranked": pl.Boolean,
        "qualified": pl.Boolean,
        "bl_ranked": pl.Boolean,
        "ai": pl.Boolean,
        "uploaded": pl.String,
        "name": pl.String,
        "download_url": pl.String,
        "quota": pl.Int64,
        "record_json": pl.String,
    }
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".part") as tmp:
        frame.write_parquet(tmp)
    return len(rows)


def read_catalog(path: Path) -> tuple[list[dict], dict[str, int]]:
    """The records a catalogue holds, in its order (parsed back from `record_json`), and its quotas."""
    import polars as pl

    frame = pl.read_parquet(path, columns=["category", "quota", "record_json"])
    quotas = {c: int(q) for c, q in zip(frame["category"], frame["quota"], strict=True) if q is not None}
    return [json.loads(text) for text in frame["record_json"].to_list()], quotas
