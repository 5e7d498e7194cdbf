"""The main job end to end on a small demo corpus: generate, observe, materialise layer by layer."""

from __future__ import annotations

import os

import dagster as dg
import polars as pl
import pytest

from automapper_assets.pipeline import run_pipeline
from automapper_assets.runs import PID_TAG, lock_holder
from automapper_ml.synth import BROKEN_KINDS, DemoConfig
from tests.ml.data.ingest_zips import DiffSpec, write_map_zip

# broken_<kind>.zip -> the blacklist rule it must get (the unsafe-zip family names its own code).
EXPECTED_RULE = {
    "zip_slip": "zip_slip",
    "absolute_path": "absolute_path",
    "symlink": "symlink",
    "zip_bomb": "too_large",
    "truncated_zip": "truncated",
    "not_a_zip": "not_a_zip",
    "bad_json": "bad_json",
    "missing_difficulty": "missing_difficulty_file",
    "missing_info": "missing_info",
    "unknown_version": "unsupported_version",
    "nan_value": "invalid_value",
    "long_wall": "objects_past_end",
    "no_expert": "no_standard_expert",
    "short_song": "song_too_short",
    "few_notes": "too_few_notes",
    "too_dense": "too_dense",
    "wall_heavy": "wall_heavy",
    "noodle_only": "excluded_category",
    "mapping_extensions": "excluded_category",
    "vivify": "excluded_category",
    "ai_map": "ai_made",
    "bad_audio": "undecodable_audio",
}


@pytest.mark.slow
def test_main_job_on_demo_corpus(tmp_path, monkeypatch):
    # run_pipeline sets both variables for the process; monkeypatch restores them afterwards.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path))
    lines: list[str] = []
    # The ingest layers only: the whole graph (training included) is exercised with one-epoch smoke
    # presets in tests/assets/test_versioning.py; the demo presets would take minutes here.
    ingest = ("ingest",)
    first = run_pipeline(
        tmp_path, groups=ingest, log=lines.append, demo_config=DemoConfig(n_songs=2, n_reference=1)
    )
    assert any("generated the demo corpus" in line for line in lines)
    assert first["rounds"] == 3  # manifest -> blacklist -> audit + weights
    assert (tmp_path / "dagster_home" / "dagster.yaml").exists()
    assert os.environ["DAGSTER_HOME"] == str(tmp_path / "dagster_home")
    # every run names this process as its launcher (automapper_assets/runs.py), none is left in flight
    runs = dg.DagsterInstance.get().get_runs()
    assert runs and {r.tags.get(PID_TAG) for r in runs} == {str(os.getpid())}
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert lock_holder(tmp_path) is None  # the one-job lock went with the job

    manifest = pl.read_parquet(tmp_path / "ingest" / "manifest.parquet")
    blacklist = pl.read_parquet(tmp_path / "ingest" / "blacklist.parquet")
    zips = {p.name for p in (tmp_path / "raw").glob("*.zip")}
    assert zips == set(manifest["zip_name"]) | set(blacklist["zip_name"])
    assert set(EXPECTED_RULE) == set(BROKEN_KINDS)
    for kind, rule in EXPECTED_RULE.items():
        rules = set(blacklist.filter(pl.col("zip_name") == f"broken_{kind}.zip")["rule"])
        assert rule in rules, (kind, rules)

    again = run_pipeline(tmp_path, groups=ingest, log=lines.append)
    assert again["rounds"] == 0  # nothing stale

    write_map_zip(tmp_path / "raw", "late", [DiffSpec("Expert")], seed=5)
    third = run_pipeline(tmp_path, groups=ingest, log=lines.append)
    assert third["rounds"] == 3
    assert "late.zip" in set(pl.read_parquet(tmp_path / "ingest" / "manifest.parquet")["zip_name"])
