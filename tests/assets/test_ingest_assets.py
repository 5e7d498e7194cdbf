"""The ingest group through Dagster: definitions, materialisation, checks, sensor, incremental parse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from automapper_assets.defs.ingest.checks import every_zip_accounted_for, manifest_schema_and_keys
from automapper_assets.defs.ingest.sensors import new_zips_sensor
from automapper_assets.defs.resources import AutomapperPaths
from automapper_assets.pipeline import load_definitions, pipeline_keys
from automapper_ml.data.rawzips import list_zip_names, shard_of
from tests.ml.data.ingest_zips import DiffSpec, record, write_hostile, write_map_zip

REPO = Path(__file__).resolve().parents[2]
INGEST = ["map_manifest", "outlier_blacklist", "dataset_audit", "sample_weights"]


def _corpus(raw: Path) -> dict[str, str]:
    write_map_zip(
        raw,
        "ranked",
        [DiffSpec("Expert", arcs=2), DiffSpec("ExpertPlus", chains=1)],
        seed=1,
        sidecar=record(ranked=True),
    )
    write_map_zip(raw, "plain", [DiffSpec("Expert"), DiffSpec("ExpertPlus", requirements=["Chroma"])], seed=2)
    write_map_zip(raw, "noodle", [DiffSpec("Expert", requirements=["Noodle Extensions"])], seed=3)
    return write_hostile(raw)


def _materialise(instance: dg.DagsterInstance, keys: list[str]) -> dg.ExecuteInProcessResult:
    job = load_definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(instance=instance, asset_selection=[dg.AssetKey(k) for k in keys])


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    mats = result.asset_materializations_for_node(key)
    return {k: v.value for k, v in mats[-1].metadata.items()}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    _corpus(home / "raw")
    return home


@pytest.fixture(scope="module")
def materialised(home):
    old = os.environ.get("AUTOMAPPER_HOME")
    os.environ["AUTOMAPPER_HOME"] = str(home)
    try:
        with dg.instance_for_test() as instance:
            yield instance, _materialise(instance, INGEST)
    finally:
        if old is None:
            os.environ.pop("AUTOMAPPER_HOME", None)
        else:
            os.environ["AUTOMAPPER_HOME"] = old


def test_definitions_load():
    defs = load_definitions()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_map_zips", *INGEST} <= keys
    assert [k.to_user_string() for k in pipeline_keys(defs) if k.to_user_string() in INGEST] == INGEST
    assert graph.get(dg.AssetKey("raw_map_zips")).partitions_def is not None


@pytest.mark.slow
def test_dg_check_defs(tmp_path):
    env = {**os.environ, "AUTOMAPPER_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dg_cli = Path(sys.executable).parent / "dg"
    done = subprocess.run(
        [str(dg_cli), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def test_ingest_group_materialises(home, materialised):
    _, result = materialised
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert {c.check_name for c in checks} >= {
        "manifest_schema_and_keys",
        "blacklist_rows_have_reasons",
        "every_zip_accounted_for",
    }
    assert all(c.passed for c in checks)
    manifest = pl.read_parquet(home / "ingest" / "manifest.parquet")
    blacklist = pl.read_parquet(home / "ingest" / "blacklist.parquet")
    assert set(list_zip_names(home / "raw")) == set(manifest["zip_name"]) | set(blacklist["zip_name"])
    meta = _metadata(result, "map_manifest")
    assert meta["maps_parsed"] == 9 and meta["difficulties"] == manifest.height == 5
    audit = _metadata(result, "dataset_audit")
    assert audit["ranked_maps"] == 1.0 and "base64" in audit["plot"]
    assert (home / "ingest" / "audit" / "distributions.png").read_bytes().startswith(b"\x89PNG")
    weights = pl.read_parquet(home / "ingest" / "sample_weights.parquet")
    by = dict(zip(weights["zip_name"], weights["weight"], strict=True))
    from automapper_assets.defs.ingest.config import ingest_config

    rules = ingest_config().weights  # ranked.zip is ranked and holds arcs/chains
    assert by["ranked.zip"] == pytest.approx(rules.ranked_factor * rules.arc_chain_factor)
    assert by["plain.zip"] == pytest.approx(1.0)
    assert "noodle.zip" not in by


def test_adding_one_zip_parses_one(home, materialised):
    instance, _ = materialised
    write_map_zip(home / "raw", "late", [DiffSpec("Expert")], seed=11)
    os.environ["AUTOMAPPER_HOME"] = str(home)
    result = _materialise(instance, ["map_manifest"])
    assert _metadata(result, "map_manifest")["maps_parsed"] == 1


def test_schema_check_fails_on_broken_manifest(tmp_path):
    paths = AutomapperPaths(home=str(tmp_path))
    bad = pl.DataFrame(
        {"zip_name": ["a.zip", "a.zip"], "characteristic": ["Standard"] * 2, "difficulty": ["Expert"] * 2}
    )
    bad.write_parquet(paths.ingest / "manifest.parquet")
    result = manifest_schema_and_keys(paths=paths)
    assert not result.passed
    assert (
        "duplicate" in result.metadata["problems"].value
        and "missing column" in result.metadata["problems"].value
    )


def test_lost_zip_check_fails(tmp_path):
    paths = AutomapperPaths(home=str(tmp_path))
    write_map_zip(tmp_path / "raw", "orphan")
    pl.DataFrame({"zip_name": []}, schema={"zip_name": pl.String}).write_parquet(
        paths.ingest / "manifest.parquet"
    )
    pl.DataFrame({"zip_name": []}, schema={"zip_name": pl.String}).write_parquet(
        paths.ingest / "blacklist.parquet"
    )
    result = every_zip_accounted_for(paths=paths)
    assert not result.passed and result.metadata["lost"].value == 1


def test_sensor_fires_on_new_zip_only(tmp_path):
    paths = AutomapperPaths(home=str(tmp_path))
    empty = new_zips_sensor(dg.build_sensor_context(cursor=None, resources={"paths": paths}))
    assert not empty.run_requests
    write_map_zip(tmp_path / "raw", "first", seed=1)
    first = new_zips_sensor(dg.build_sensor_context(cursor=empty.cursor, resources={"paths": paths}))
    assert len(first.run_requests) == 1
    quiet = new_zips_sensor(dg.build_sensor_context(cursor=first.cursor, resources={"paths": paths}))
    assert not quiet.run_requests and quiet.cursor == first.cursor
    write_map_zip(tmp_path / "raw", "second", seed=2)
    second = new_zips_sensor(dg.build_sensor_context(cursor=quiet.cursor, resources={"paths": paths}))
    assert len(second.run_requests) == 1
    assert [e.partition for e in second.asset_events] == [shard_of("second.zip", 16)]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
