"""Nothing one input does reaches another (issue #14 part 1), through the ingest and features groups.

Each test writes two good maps of their own songs (different lengths and note counts) plus one
hostile input into a fresh raw/, then runs what the main job runs: observe `raw_map_zips`,
materialise the ingest group, every feature shard that holds a zip, and `frame_index`; then runs
it all again. No step may fail; the good maps reach the frame index with their own audio
(frames) and their own notes (groups); the hostile input is ingested safely or quarantined with
a readable reason; the rerun parses nothing again.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import soundfile as sf
from dagster._core.definitions.observe import observe

from automapper_assets.defs.ingest.config import ingest_config
from automapper_assets.defs.ingest.raw import raw_map_zips
from automapper_assets.defs.resources import AutomapperPaths
from automapper_assets.pipeline import load_definitions
from automapper_ml import audio
from automapper_ml.data.rawzips import scan_raw, shard_of
from tests.ml.data.ingest_zips import DiffSpec, record, write_map_zip

INGEST = ["map_manifest", "outlier_blacklist", "dataset_audit", "sample_weights"]
GOOD = {"good_a.zip": (16.0, 40), "good_b.zip": (18.0, 30)}  # zip -> (song seconds, notes)


@dataclass
class Graph:
    """What one pass over the graph left."""

    manifest: pl.DataFrame
    blacklist: pl.DataFrame
    index: pl.DataFrame
    quarantine: pl.DataFrame  # features/quarantine.parquet
    meta: dict[str, dict]  # asset (or "asset[shard]") -> its last materialisation's metadata
    indexed_all: bool  # the frame index's every_trainable_difficulty_indexed check passed


def _write_good(raw: Path) -> None:
    for i, (name, (seconds, notes)) in enumerate(GOOD.items()):
        write_map_zip(raw, name[:-4], [DiffSpec("Expert", notes=notes)], seconds=seconds, seed=10 + i)


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = result.asset_materializations_for_node(key)
    return {k: v.value for k, v in mats[-1].metadata.items()}


def _run_graph(home: Path, instance: dg.DagsterInstance) -> Graph:
    defs = load_definitions()
    job = defs.resolve_implicit_global_asset_job_def()
    paths = AutomapperPaths(home=str(home))
    observe([raw_map_zips], instance=instance, resources={"paths": paths})
    meta: dict[str, dict] = {}
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(k) for k in INGEST])
    assert result.success
    meta["map_manifest"] = _metadata(result, "map_manifest")
    count = ingest_config().shard_count
    shards = sorted({shard_of(e.name, count) for e in scan_raw(home / "raw")})
    for key in ("audio_features", "map_tokens"):
        for shard in shards:
            result = job.execute_in_process(
                instance=instance, asset_selection=[dg.AssetKey(key)], partition_key=shard
            )
            assert result.success
            meta[f"{key}[{shard}]"] = _metadata(result, key)
    result = job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey("frame_index")])
    assert result.success
    meta["frame_index"] = _metadata(result, "frame_index")
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    return Graph(
        manifest=pl.read_parquet(home / "ingest" / "manifest.parquet"),
        blacklist=pl.read_parquet(home / "ingest" / "blacklist.parquet"),
        index=pl.read_parquet(home / "features" / "frame_index.parquet"),
        quarantine=pl.read_parquet(home / "features" / "quarantine.parquet"),
        meta=meta,
        indexed_all=checks["every_trainable_difficulty_indexed"],
    )


@pytest.fixture
def run_twice(tmp_path, monkeypatch):
    """Run the graph over <tmp>/home twice on one instance; returns (first, second)."""
    home = tmp_path / "home"
    monkeypatch.setenv("AUTOMAPPER_HOME", str(home))
    monkeypatch.delenv("AUTOMAPPER_RAW", raising=False)

    def run() -> tuple[Graph, Graph]:
        with dg.instance_for_test() as instance:
            first = _run_graph(home, instance)
            second = _run_graph(home, instance)
        assert second.meta["map_manifest"]["maps_parsed"] == 0  # the parse cache was saved
        assert second.index.equals(first.index)
        return first, second

    return home / "raw", run


def _assert_own_features(index: pl.DataFrame, expected: dict[str, tuple[float, int]]) -> None:
    """Each zip of `expected` is in the index once, with its own song's frames and its own notes."""
    for name, (seconds, notes) in expected.items():
        rows = index.filter(pl.col("zip_name") == name)
        assert rows.height == 1, (name, index["zip_name"].to_list())
        frames = seconds * audio.SAMPLE_RATE / audio.HOP_LENGTH
        assert abs(rows["n_frames"][0] - frames) <= 2, (name, rows["n_frames"][0], frames)
        assert rows["n_groups"][0] == notes, (name, rows["n_groups"][0])


def _blacklisted(graph: Graph, zip_name: str) -> dict:
    rows = graph.blacklist.filter((pl.col("zip_name") == zip_name) & (pl.col("scope") != "difficulty"))
    assert rows.height >= 1, graph.blacklist
    row = rows.row(0, named=True)
    assert row["rule"] and row["reason"].strip()
    return row


def test_lone_surrogate_title_is_kept_as_its_escape(run_twice):
    raw, run = run_twice
    _write_good(raw)
    write_map_zip(raw, "surrogate", [DiffSpec("Expert", notes=25)], title="\ud800", seconds=17.0, seed=3)
    first, _ = run()
    assert first.manifest.filter(pl.col("zip_name") == "surrogate.zip")["title"].unique().to_list() == [
        "\\ud800"
    ]
    _assert_own_features(first.index, {**GOOD, "surrogate.zip": (17.0, 25)})


def test_hostile_sidecars_cost_nothing(run_twice):
    raw, run = run_twice
    _write_good(raw)
    text = record()
    text.update(id="\ud800", uploaded="\ud800", tags=["\ud800"])
    write_map_zip(raw, "side_text", [DiffSpec("Expert", notes=25)], seconds=17.0, seed=4, sidecar=text)
    huge = record()
    huge["stats"] = {"score": 10**400, "upvotes": 1, "downvotes": 0}  # 401 digits: float() overflows
    write_map_zip(raw, "side_score", [DiffSpec("Expert", notes=35)], seconds=19.0, seed=5, sidecar=huge)
    first, _ = run()
    rows = {r["zip_name"]: r for r in first.manifest.iter_rows(named=True)}
    assert rows["side_text.zip"]["map_id"] == "\\ud800" and rows["side_text.zip"]["tags"] == ["\\ud800"]
    assert rows["side_score.zip"]["rating"] is None and rows["side_score.zip"]["upvotes"] == 1
    _assert_own_features(first.index, {**GOOD, "side_text.zip": (17.0, 25), "side_score.zip": (19.0, 35)})


def test_file_name_that_is_not_utf8_is_observed_and_ingested(run_twice):
    raw, run = run_twice
    _write_good(raw)
    write_map_zip(raw, "cafe", [DiffSpec("Expert", notes=25)], seconds=17.0, seed=6)
    os.rename(raw / "cafe.zip", os.fsencode(raw) + b"/caf\xe9.zip")  # Latin-1, not UTF-8
    first, _ = run()
    _assert_own_features(first.index, {**GOOD, "caf\\xe9.zip": (17.0, 25)})
    assert (
        first.index.filter(pl.col("zip_name") == "caf\\xe9.zip")["key"][0] == "caf\\xe9.zip/Standard/Expert"
    )


def test_zip_names_differing_in_case_are_two_maps_that_never_mix(run_twice):
    raw, run = run_twice
    write_map_zip(raw, "x", [DiffSpec("Expert", notes=27)], seconds=16.0, seed=7)
    write_map_zip(raw, "upper", [DiffSpec("Expert", notes=33)], seconds=19.0, seed=8)
    (raw / "upper.zip").rename(raw / "x.ZIP")
    first, _ = run()
    _assert_own_features(first.index, {"x.zip": (16.0, 27), "x.ZIP": (19.0, 33)})
    assert first.index["song_id"].n_unique() == 2
    assert first.meta["frame_index"]["quarantined_maps"] == 0 and first.indexed_all


def test_a_map_that_crashes_its_shard_is_quarantined_and_its_neighbours_keep_their_features(
    run_twice, monkeypatch
):
    raw, run = run_twice
    _write_good(raw)
    count = ingest_config().shard_count
    boom = next(
        f"boom{i}.zip"
        for i in range(1000)
        if shard_of(f"boom{i}.zip", count) == shard_of("good_a.zip", count)
    )
    write_map_zip(raw, boom[:-4], [DiffSpec("Expert", notes=25)], seconds=17.0, seed=9)

    import automapper_assets.defs.features.assets as feature_assets

    real = feature_assets.audio_records

    def audio_records(entry):
        if entry.map_id == boom:  # what decoding a hostile song did: not a MapError or AudioError
            raise MemoryError("Unable to allocate 3.9 GiB for an array with shape (1025, 2583000)")
        return real(entry)

    monkeypatch.setattr(feature_assets, "audio_records", audio_records)
    first, second = run()
    _assert_own_features(first.index, GOOD)
    shard = f"audio_features[{shard_of(boom, count)}]"
    assert first.meta[shard]["failures"] == 1 and first.meta[shard]["records"] == 1  # good_a
    for graph in (first, second):
        rows = graph.quarantine.filter(pl.col("zip_name") == boom)
        assert (
            rows.height == 1 and rows["stage"][0] == "audio_features" and rows["rule"][0] == "internal_error"
        )
        assert "MemoryError: Unable to allocate 3.9 GiB" in rows["reason"][0]
        assert graph.meta["frame_index"]["quarantined_maps"] == 1
        assert graph.meta["frame_index"]["quarantined_difficulties"] == 1
        assert boom in graph.meta["frame_index"]["quarantined"]
        assert not graph.indexed_all


def _flac_zeros(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(rate * 60, dtype=np.int16)
        for start in range(0, int(seconds * rate), len(block)):
            f.write(block[: min(len(block), int(seconds * rate) - start)])
    return buf.getvalue()


def test_silent_and_overlong_songs_are_blacklisted_and_never_decoded(run_twice, monkeypatch):
    raw, run = run_twice
    _write_good(raw)
    write_map_zip(raw, "silent", [DiffSpec("Expert")], seconds=20.0, audio=_flac_zeros(20.0))
    write_map_zip(raw, "long", [DiffSpec("Expert")], seconds=20.0, audio=_flac_zeros(31 * 60.0))

    decoded: list[int] = []
    real = audio.load_audio

    def load_audio(source, *args, **kwargs):
        decoded.append(len(source))
        return real(source, *args, **kwargs)

    monkeypatch.setattr(audio, "load_audio", load_audio)
    first, _ = run()
    _assert_own_features(first.index, GOOD)
    assert len(decoded) == 2  # the two good songs, once each (the rerun reuses their records)
    silent = _blacklisted(first, "silent.zip")
    assert silent["rule"] == "silent_audio" and "-120.0 dBFS" in silent["reason"]
    long = _blacklisted(first, "long.zip")
    assert long["rule"] == "audio_too_long" and "header states 31.0 minutes" in long["reason"]
    count = ingest_config().shard_count
    for name, rule in (("silent.zip", "silent_audio"), ("long.zip", "audio_too_long")):
        meta = first.meta[f"audio_features[{shard_of(name, count)}]"]
        assert meta["skipped"] >= 1 and rule in meta["quarantined"]
    assert first.meta["frame_index"]["quarantined_maps"] == 0 and first.indexed_all  # blacklisted, not lost


def test_zip_keys_of_undecodable_names_never_collide(tmp_path):
    """A non-UTF-8 name whose escaped form is another file's real name gets a key of its own."""
    from automapper_ml.data.rawzips import list_zip_keys

    raw = tmp_path / "raw"
    raw.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Info.dat", "{}")
    for name in (b"caf\xe9.zip", b"caf\\xe9.zip", b"plain.zip"):
        with open(os.fsencode(raw) + b"/" + name, "wb") as f:
            f.write(buf.getvalue())
    keys = list_zip_keys(raw)
    assert len(set(keys)) == 3 and "caf\\xe9.zip" in keys and "plain.zip" in keys
    assert all(k.endswith(".zip") and k.encode("utf-8") for k in keys)
