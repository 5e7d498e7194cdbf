"""Where the feature stores live and which snapshot is each shard's current one.

<home>/features/stores/<store version>/ holds segments and snapshots (automapper_ml.data.store);
heads/<shard>.txt names the shard's current snapshot (empty file: the shard has no record).
A version bump (AUDIO_FEATURES_VERSION, TOKENIZER_VERSION, the hop) opens a new store folder,
so a training run reading the old one is never disturbed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from automapper_assets.defs.ingest.config import ingest_config
from automapper_assets.defs.ingest.raw import scan
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.data.features import ZipEntry, audio_store_version, token_store_version
from automapper_ml.data.rawzips import shard_of


def audio_store(paths: AutomapperPaths) -> Path:
    return paths.folder("features", "stores", audio_store_version())


def token_store(paths: AutomapperPaths) -> Path:
    return paths.folder("features", "stores", token_store_version())


def shard_entries(paths: AutomapperPaths, shard: str) -> list[ZipEntry]:
    """The readable zips of one shard, now."""
    count = ingest_config().shard_count
    return [
        ZipEntry(e.stem, paths.raw / e.name, e.sha256)
        for e in scan(paths)
        if not e.problem and shard_of(e.name, count) == shard
    ]


def head_snapshot(store: Path, shard: str) -> Path | None:
    head = store / "heads" / f"{shard}.txt"
    if not head.exists():
        return None
    name = head.read_text().strip()
    return store / "snapshots" / name if name else None


def set_head(store: Path, shard: str, snapshot: Path | None) -> None:
    heads = store / "heads"
    heads.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=heads)
    with os.fdopen(fd, "w") as f:
        f.write(snapshot.name if snapshot is not None else "")
    os.replace(tmp, heads / f"{shard}.txt")


def read_heads(store: Path, root: Path, path_column: str, meta: list[str]) -> pl.DataFrame:
    """(key, <path_column> relative to root, *meta) for every record of every shard's head."""
    frames = []
    for shard in sorted(p.stem for p in (store / "heads").glob("*.txt")):
        snap = head_snapshot(store, shard)
        if snap is None:
            continue
        table = pl.read_parquet(snap, columns=["key", *meta])
        frames.append(table.with_columns(pl.lit(str(snap.relative_to(root))).alias(path_column)))
    if not frames:
        return pl.DataFrame(schema={"key": pl.String, path_column: pl.String, **{m: pl.Int64 for m in meta}})
    return pl.concat(frames)
