"""The catalogue: filtered, deduplicated, quota-capped with slack, and a lossless parquet round trip."""

from __future__ import annotations

from automapper_ml.beatsaver.catalog import candidate_caps, read_catalog, scan_catalog, write_catalog
from automapper_ml.beatsaver.filters import FilterOptions
from tests.ml.beatsaver.stub import diff, record


def rec(key: str, **kw) -> dict:
    return record(key, zip_hash=f"{len(key):x}".rjust(40, "a"), url=f"https://cdn.example/{key}.zip", **kw)


def test_scan_filters_dedupes_and_caps_per_quota():
    records = [rec(f"v{i}") for i in range(30)] + [rec(f"c{i}", diffs=[diff(chroma=True)]) for i in range(5)]
    records += [rec("ai", automapper=True), rec("v0"), rec("n0", diffs=[diff(ne=True)])]
    kept, skipped = scan_catalog(iter(records), FilterOptions(), {"vanilla": 10, "chroma": 2})
    ids = [r["id"] for r in kept]
    assert candidate_caps({"vanilla": 10, "chroma": 2}) == {"vanilla": 16, "chroma": 8}
    assert ids[:16] == [f"v{i}" for i in range(16)] and ids[16:] == [f"c{i}" for i in range(5)]
    assert skipped == {"quota_full": 14, "ai": 1, "duplicate": 1, "no_quota": 1}


def test_scan_without_quotas_stops_reading_only_at_the_end():
    pulled = []

    def listing():
        for i in range(7):
            pulled.append(i)
            yield rec(f"m{i}")

    kept, _ = scan_catalog(listing(), FilterOptions())
    assert len(kept) == 7 and pulled == list(range(7))
    assert scan_catalog(listing(), FilterOptions(), {"vanilla": 0}) == ([], {})


def test_parquet_round_trip_keeps_records_and_quotas(tmp_path):
    records = [rec("a1", ranked=True), rec("b2", diffs=[diff(chroma=True)], score=0.95)]
    path = tmp_path / "ingest" / "cat.parquet"
    assert write_catalog(records, path, {"vanilla": 3}) == 2
    back, quotas = read_catalog(path)
    assert back == records and quotas == {"vanilla": 3}
    assert write_catalog([], path) == 0 and read_catalog(path) == ([], {})
    assert [p.name for p in path.parent.iterdir()] == ["cat.parquet"]
