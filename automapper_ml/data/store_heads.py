"""Shard heads and quarantine lists of a feature store (plain files; the features assets call these).

<store>/heads/<shard>.txt names the shard's current snapshot (empty file: the shard has no record);
<store>/quarantine/<shard>.parquet lists the shard's maps without a record and why (failed or
skipped). Both are replaced atomically, so a reader sees the old head or the new one.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from automapper_ml.atomic import write_parquet_atomic, write_text_atomic
from automapper_ml.data.features import Quarantined
from automapper_ml.data.frame_index import FAILURE_SCHEMA

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "map_id": pl.String,
    "zip_sha": pl.String,
    "rule": pl.String,
    "reason": pl.String,
    "kind": pl.String,  # failed (read and failed) | skipped (the screen kept it from being read)
}


def head_snapshot(store: Path, shard: str) -> Path | None:
    head = store / "heads" / f"{shard}.txt"
    if not head.exists():
        return None
    name = head.read_text().strip()
    return store / "snapshots" / name if name else None


def set_head(store: Path, shard: str, snapshot: Path | None) -> None:
    heads = store / "heads"
    heads.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        heads / f"{shard}.txt", snapshot.name if snapshot is not None else "", prefix=".tmp-", suffix=""
    )


def write_quarantine(store: Path, shard: str, failed: list[Quarantined], skipped: list[Quarantined]) -> None:
    """Replace the shard's quarantine list with this run's."""
    rows = [
        {**q._asdict(), "kind": kind} for kind, qs in (("failed", failed), ("skipped", skipped)) for q in qs
    ]
    write_parquet_atomic(
        pl.DataFrame(rows, schema=QUARANTINE_SCHEMA), store / "quarantine" / f"{shard}.parquet"
    )


def read_quarantine(store: Path, shards: list[str], stage: str) -> pl.DataFrame:
    """FAILURE_SCHEMA rows (stage = `stage`) of the quarantine lists of `shards`."""
    frames = [
        pl.read_parquet(path).select(
            pl.lit(stage).alias("stage"), *[c for c in FAILURE_SCHEMA if c != "stage"]
        )
        for shard in shards
        if (path := store / "quarantine" / f"{shard}.parquet").exists()
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=FAILURE_SCHEMA)


def read_heads(
    store: Path, root: Path, path_column: str, meta: dict[str, pl.DataType], shards: list[str]
) -> pl.DataFrame:
    """(key, <path_column> relative to root, *meta) for every record of the heads of `shards`
    (the current ones: heads of another shard count, left by a re-sharding, are not read)."""
    frames = []
    for shard in sorted(shards):
        snap = head_snapshot(store, shard)
        if snap is None:
            continue
        table = pl.read_parquet(snap, columns=["key", *meta]).cast(meta)  # type: ignore[arg-type]
        frames.append(table.with_columns(pl.lit(str(snap.relative_to(root))).alias(path_column)))
    if not frames:
        return pl.DataFrame(schema={"key": pl.String, **meta, path_column: pl.String})
    return pl.concat(frames)
