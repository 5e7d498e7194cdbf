"""Immutable, memory-mappable feature stores: segments of contiguous arrays plus snapshots.

Why this shape: training must not open thousands of small files (the seed's per-sample
`torch.load` starved its GPU), re-processing one new map must not rewrite a shard, and a
training run must read a consistent snapshot while the next materialisation writes.

    <store>/segments/<segment-id>/<array>.npy   one file per array name: the records' arrays
                                                 concatenated along their last axis
    <store>/segments/<segment-id>/records.parquet key, per-array offset/length, meta columns
    <store>/snapshots/<shard>-<hash>.parquet    which record (segment, row) each key uses now

Segments and snapshots are written once (temp folder/file, then rename) and never modified;
a new or changed map goes into a new segment and a new snapshot points at it, so the old
snapshot stays readable. `garbage_collect` removes segments no live snapshot references.
Arrays load with `np.load(mmap_mode="r")`: nothing is unpickled (`allow_pickle=False`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from automapper_ml.atomic import atomic_dir, atomic_path


@dataclass(slots=True)
class Record:
    """One item of a store: arrays share their last axis layout per name across records."""

    key: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, object] = field(default_factory=dict)  # scalar columns (str, int, float, bool)


def write_segment(store: str | os.PathLike, records: Sequence[Record]) -> str:
    """Write records as one new segment; returns its id. All records need the same array names,
    dtypes and leading dimensions (the last axis may differ in length, including 0)."""
    if not records:
        raise ValueError("a segment needs at least one record")
    names = sorted(records[0].arrays)
    for r in records:
        if sorted(r.arrays) != names:
            raise ValueError(f"record {r.key!r} has arrays {sorted(r.arrays)}, expected {names}")
    store = Path(store)
    (store / "segments").mkdir(parents=True, exist_ok=True)
    segment_id = uuid.uuid4().hex[:16]
    with atomic_dir(store / "segments" / segment_id, prefix=".tmp-", suffix="") as tmp:
        columns: dict[str, list] = {"key": [r.key for r in records]}
        for name in names:
            parts = [np.asarray(r.arrays[name]) for r in records]
            lengths = [p.shape[-1] if p.ndim else 1 for p in parts]
            offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            joined = np.concatenate([p.reshape(p.shape[:-1] + (-1,)) for p in parts], axis=-1)
            np.save(tmp / f"{name}.npy", joined, allow_pickle=False)
            columns[f"{name}__offset"] = offsets.tolist()
            columns[f"{name}__length"] = lengths
        meta_keys = sorted({k for r in records for k in r.meta})
        for k in meta_keys:
            columns[k] = [r.meta.get(k) for r in records]
        pl.DataFrame(columns).write_parquet(tmp / "records.parquet")
    return segment_id


def segment_records(store: str | os.PathLike, segment_id: str) -> pl.DataFrame:
    """The records table of one segment, with `segment` and `row` columns added."""
    df = pl.read_parquet(Path(store) / "segments" / segment_id / "records.parquet")
    return df.with_columns(pl.lit(segment_id).alias("segment"), pl.int_range(pl.len()).alias("row"))


def write_snapshot(store: str | os.PathLike, name: str, rows: pl.DataFrame) -> Path:
    """Write a snapshot table (one row per live key: segment, row, offsets, meta) and return its path.

    The file name carries a hash of the content, so equal content gives the same snapshot."""
    rows = rows.sort("key")
    if rows["key"].n_unique() != rows.height:
        raise ValueError(f"snapshot {name!r} has duplicate keys")
    digest = hashlib.sha256(rows.write_csv().encode()).hexdigest()[:16]
    out = Path(store) / "snapshots" / f"{name}-{digest}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        with atomic_path(out, prefix=".tmp-", suffix=".parquet") as tmp:
            rows.write_parquet(tmp)
    return out


class SnapshotReader:
    """Read-only view of one snapshot: `get(key)` returns memory-mapped array views."""

    def __init__(self, snapshot: str | os.PathLike) -> None:
        self.path = Path(snapshot)
        self.store = self.path.parent.parent
        self.table = pl.read_parquet(self.path)
        self._rows = {k: i for i, k in enumerate(self.table["key"].to_list())}
        self.array_names = sorted(c[: -len("__offset")] for c in self.table.columns if c.endswith("__offset"))
        self._maps: dict[tuple[str, str], np.ndarray] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return self.table.height

    def keys(self) -> list[str]:
        return self.table["key"].to_list()

    def meta(self, key: str) -> dict[str, object]:
        return self.table.row(self._rows[key], named=True)

    def array(self, segment: str, name: str) -> np.ndarray:
        """The whole memory-mapped array `name` of a segment (cached per reader)."""
        cache_key = (segment, name)
        if cache_key not in self._maps:
            path = self.store / "segments" / segment / f"{name}.npy"
            self._maps[cache_key] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._maps[cache_key]

    def get(self, key: str, names: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        row = self.table.row(self._rows[key], named=True)
        out = {}
        for name in names or self.array_names:
            start, length = row[f"{name}__offset"], row[f"{name}__length"]
            out[name] = self.array(row["segment"], name)[..., start : start + length]
        return out


def garbage_collect(store: str | os.PathLike, keep_snapshots: Iterable[str | os.PathLike]) -> list[str]:
    """Delete snapshots not in `keep_snapshots` and segments none of the kept ones reference."""
    store = Path(store)
    keep = {Path(p).name for p in keep_snapshots}
    live: set[str] = set()
    for snap in (store / "snapshots").glob("*.parquet"):
        if snap.name in keep:
            live |= set(pl.read_parquet(snap, columns=["segment"])["segment"].to_list())
        else:
            snap.unlink()
    removed = []
    for seg in (store / "segments").iterdir() if (store / "segments").exists() else []:
        if seg.is_dir() and seg.name not in live and not seg.name.startswith("."):
            shutil.rmtree(seg, ignore_errors=True)
            removed.append(seg.name)
    return removed
