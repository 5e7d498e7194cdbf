"""Segments + snapshots: contiguous, memory-mapped, immutable, garbage-collectable."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from automapper_ml.data.store import (
    Record,
    SnapshotReader,
    garbage_collect,
    segment_records,
    write_segment,
    write_snapshot,
)


def _record(key: str, n: int, seed: int) -> Record:
    rng = np.random.default_rng(seed)
    return Record(
        key=key,
        arrays={
            "mel": rng.normal(size=(4, n)).astype(np.float16),
            "onsets": np.arange(n // 3, dtype=np.int32),
        },
        meta={"duration": n / 10, "song": f"s{seed}"},
    )


def test_round_trip_views_are_memory_mapped(tmp_path):
    recs = [_record("a", 30, 1), _record("b", 0, 2), _record("c", 17, 3)]
    seg = write_segment(tmp_path, recs)
    snap = write_snapshot(tmp_path, "shard-00", segment_records(tmp_path, seg))
    reader = SnapshotReader(snap)
    assert sorted(reader.keys()) == ["a", "b", "c"]
    for r in recs:
        got = reader.get(r.key)
        assert np.array_equal(got["mel"], r.arrays["mel"])
        assert np.array_equal(got["onsets"], r.arrays["onsets"])
        assert reader.meta(r.key)["song"] == r.meta["song"]
    assert isinstance(reader.array(seg, "mel"), np.memmap)


def test_new_snapshot_leaves_old_one_readable_and_gc_keeps_live_segments(tmp_path):
    seg1 = write_segment(tmp_path, [_record("a", 10, 1), _record("b", 12, 2)])
    old = write_snapshot(tmp_path, "shard-00", segment_records(tmp_path, seg1))
    # "b" changes, "c" is new, "a" is kept from the first segment
    seg2 = write_segment(tmp_path, [_record("b", 20, 5), _record("c", 8, 6)])
    rows = pl.concat(
        [segment_records(tmp_path, seg1).filter(pl.col("key") == "a"), segment_records(tmp_path, seg2)]
    )
    new = write_snapshot(tmp_path, "shard-00", rows)
    assert new != old
    assert SnapshotReader(old).get("b")["mel"].shape == (4, 12)
    assert SnapshotReader(new).get("b")["mel"].shape == (4, 20)
    removed = garbage_collect(tmp_path, [new])
    assert removed == []  # both segments are referenced by the new snapshot
    assert not old.exists()
    assert SnapshotReader(new).get("a")["mel"].shape == (4, 10)


def test_snapshot_is_content_addressed_and_rejects_duplicates(tmp_path):
    seg = write_segment(tmp_path, [_record("a", 5, 1)])
    rows = segment_records(tmp_path, seg)
    assert write_snapshot(tmp_path, "s", rows) == write_snapshot(tmp_path, "s", rows)
    with pytest.raises(ValueError, match="duplicate"):
        write_snapshot(tmp_path, "s", pl.concat([rows, rows]))


def test_mismatched_records_are_refused(tmp_path):
    bad = Record("x", {"other": np.zeros(3)})
    with pytest.raises(ValueError, match="expected"):
        write_segment(tmp_path, [_record("a", 5, 1), bad])
    segments = tmp_path / "segments"
    assert not segments.exists() or not any(segments.iterdir())
