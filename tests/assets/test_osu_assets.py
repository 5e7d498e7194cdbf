"""The osu group in the main job: the demo corpus's osu! sets land in <home>/osu_raw, osu_raw is
observed, osu_manifest and osu_blacklist materialise (bad sets rejected with a reason), a new file
makes exactly the group stale again, and a home without .osz files skips the group with a line
that says so."""

from __future__ import annotations

import json

import polars as pl
import pytest

from automapper_assets.pipeline import run_pipeline
from automapper_ml.formats.osu import read_osz
from automapper_ml.synth import DemoConfig
from tests.ml.data.ingest_zips import DiffSpec, write_map_zip


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_osu_group_on_the_demo_corpus(home):
    lines: list[str] = []
    first = run_pipeline(
        home, groups=("osu",), log=lines.append, demo_config=DemoConfig(n_songs=2, n_reference=1)
    )
    assert any("2 osu! sets" in line for line in lines) and "observed osu_raw" in lines
    assert first["rounds"] == 6  # manifest -> blacklist -> tokens -> model -> snapshots -> evaluation
    sets = sorted((home / "osu_raw").glob("*.osz"))
    manifest = pl.read_parquet(home / "osu" / "manifest.parquet")
    assert len(sets) == 2 and set(manifest["set_file"]) == {p.name for p in sets}
    assert manifest.height >= 4  # 2-3 difficulties a set
    assert pl.read_parquet(home / "osu" / "blacklist.parquet").filter(pl.col("scope") == "set").is_empty()
    tokens = pl.read_parquet(home / "osu" / "tokens.parquet")
    assert tokens.height == manifest.height and set(tokens["split"]) == {"train", "val"}
    assert (tokens["n_tokens"] == tokens["tokens"].list.len()).all()
    assert (home / "models" / "osu" / "best.pt").is_file()
    snapshots = json.loads((home / "osu" / "snapshots" / "snapshots.json").read_text())
    assert len(snapshots) == 1  # the one val set (two sets: no held-out one)
    (entry,) = snapshots.values()
    (snap,) = read_osz(home / "osu" / "snapshots" / entry["snapshot"]).beatmaps
    assert len(snap[1].hit_objects) == entry["objects"] > 0
    evaluation = json.loads((home / "osu" / "evaluation.json").read_text())["summary"]
    assert evaluation["model"]["cases"] == 1 and 0 <= evaluation["model"]["rhythm_f1_50ms"] <= 1
    assert evaluation["beat circles"]["cases"] == 1

    assert run_pipeline(home, groups=("osu",), log=lines.append)["rounds"] == 0  # nothing stale

    (home / "osu_raw" / "broken.osz").write_bytes(b"not a zip at all")
    # manifest and blacklist change; the tokens do not, so the model and what follows stay fresh
    assert run_pipeline(home, groups=("osu",), log=lines.append)["rounds"] == 3
    rejected = pl.read_parquet(home / "osu" / "rejected.parquet")
    assert rejected.filter(pl.col("set_file") == "broken.osz")["code"].to_list() == ["not_a_zip"]
    assert "broken.osz" in set(pl.read_parquet(home / "osu" / "blacklist.parquet")["set_file"])
    assert pl.read_parquet(home / "osu" / "manifest.parquet").height == manifest.height


@pytest.mark.slow
def test_nothing_usable_is_a_failure_not_an_empty_result(home):
    (home / "osu_raw").mkdir()
    (home / "osu_raw" / "broken.osz").write_bytes(b"not a zip at all")
    with pytest.raises(SystemExit, match="osu_blacklist"):
        run_pipeline(
            home, groups=("osu",), log=lambda line: None, demo_config=DemoConfig(n_songs=2, n_reference=1)
        )


@pytest.mark.slow
def test_a_home_without_osz_skips_the_group(home):
    raw = home / "zips"
    raw.mkdir()
    write_map_zip(raw, "one", [DiffSpec("Expert")], seed=3)
    lines: list[str] = []
    result = run_pipeline(home, groups=("osu",), log=lines.append, raw_dir=raw)
    assert any("the osu group is skipped" in line for line in lines)
    assert result["rounds"] == 0 and not (home / "osu" / "manifest.parquet").exists()
