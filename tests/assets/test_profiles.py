"""Profiles pick every stage's preset at once and enter the code versions; --raw reads a folder in place."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from automapper_assets.pipeline import main as pipeline_main
from automapper_assets.pipeline import run_pipeline
from automapper_ml.training.profiles import STAGES, load_profile, profile_names
from tests.ml.data.ingest_zips import DiffSpec, write_map_zip

REPO = Path(__file__).resolve().parents[2]


def test_every_profile_resolves_to_presets_that_load():
    from automapper_ml.pretrained.build import stage_settings

    assert {"demo", "cpu", "gpu"} <= set(profile_names())
    for name in profile_names():
        profile = load_profile(name)
        for stage in STAGES:
            assert stage_settings(stage, profile.preset(stage)) is not None
    assert load_profile().name == "demo"  # the main job's default
    with pytest.raises(ValueError, match="no profile"):
        load_profile("nope")


def _code_versions(profile: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "AUTOMAPPER_PROFILE"}
    if profile:
        env["AUTOMAPPER_PROFILE"] = profile
    code = (
        "from automapper_assets.defs.training import assets as a\n"
        "print(a.ONSET_CODE_VERSION, a.SEQUENCE_CODE_VERSION, a.LIGHTING_CODE_VERSION)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_the_profile_is_part_of_each_training_code_version():
    demo, cpu = _code_versions(None), _code_versions("cpu")
    assert len(demo) == len(cpu) == 3
    for d, c, stage in zip(demo, cpu, STAGES, strict=True):
        assert d != c and f"preset-{load_profile('cpu').preset(stage)}" in c, stage


def _listing(folder: Path) -> dict[str, tuple[int, str]]:
    return {
        p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) for p in folder.iterdir()
    }


@pytest.mark.slow
def test_raw_folder_is_read_in_place_and_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path / "home"))
    zips = tmp_path / "my_maps"
    for i in range(3):
        write_map_zip(zips, f"map{i}", [DiffSpec("Expert"), DiffSpec("Hard")], seed=i)
    before = _listing(zips)
    home = tmp_path / "home"
    result = run_pipeline(home, groups=("ingest",), log=lambda *a: None, raw_dir=zips)
    assert result["rounds"] == 3
    manifest = pl.read_parquet(home / "ingest" / "manifest.parquet")
    assert set(manifest["zip_name"]) == {f"map{i}.zip" for i in range(3)}
    assert _listing(zips) == before  # nothing added, changed or touched
    assert not (home / "raw").exists()  # no copy, no demo corpus
    assert "AUTOMAPPER_RAW" not in os.environ  # the override held for that call only


def test_raw_folder_without_zips_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster_home"))
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path / "home"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no .zip files"):
        pipeline_main(["--home", str(tmp_path / "home"), "--raw", str(tmp_path / "empty")])
