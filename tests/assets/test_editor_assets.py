"""The editor group in the main job: the demo songs' synthetic edit pairs land in <home>/edits,
edit_pairs is observed, edit_alignment recovers their pointers against the truth (one plot a pair),
a pair that is not an edit of its raw song or cannot be decoded is blacklisted with a reason while
the others still align, and an unchanged home has nothing stale."""

from __future__ import annotations

import shutil

import polars as pl
import pytest

from automapper_assets.pipeline import run_pipeline
from automapper_ml.synth import DemoConfig


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path))
    return tmp_path


@pytest.mark.slow
def test_editor_group_on_the_demo_corpus(home):
    lines: list[str] = []
    first = run_pipeline(
        home, groups=("editor",), log=lines.append, demo_config=DemoConfig(n_songs=2, n_reference=1)
    )
    assert any("2 edit pairs" in line for line in lines) and "observed edit_pairs" in lines
    assert first["rounds"] == 1
    table = pl.read_parquet(home / "editor" / "alignment.parquet")
    assert table.height == 2 and pl.read_parquet(home / "editor" / "blacklist.parquet").is_empty()
    # the aligner recovers the known edits through Vorbis
    assert table["exact"].min() >= 0.97 and table["within_5"].min() >= 0.99 and table["cut_f1"].min() == 1.0
    assert (table["edit_frames"] == table["pointers"].list.len()).all()
    assert (table["distance_db"] < 4.0).all()
    for name in table["pair"]:
        assert (home / "editor" / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"

    assert run_pipeline(home, groups=("editor",), log=lines.append)["rounds"] == 0  # nothing stale

    names = sorted(table["pair"])
    # a pair whose edit is another song's, and a pair whose edit is not audio
    shutil.copytree(home / "edits" / names[0], home / "edits" / "mismatch")
    shutil.copyfile(home / "edits" / names[1] / "edit.ogg", home / "edits" / "mismatch" / "edit.ogg")
    (home / "edits" / "mismatch" / "truth.json").unlink()
    (home / "edits" / "garbage").mkdir()
    shutil.copyfile(home / "edits" / names[0] / "raw.ogg", home / "edits" / "garbage" / "raw.ogg")
    (home / "edits" / "garbage" / "edit.wav").write_bytes(b"RIFF not really")
    (home / "edits" / "lonely").mkdir()
    (home / "edits" / "lonely" / "raw.ogg").write_bytes(b"")
    assert run_pipeline(home, groups=("editor",), log=lines.append)["rounds"] == 1
    reasons = dict(pl.read_parquet(home / "editor" / "blacklist.parquet").iter_rows())
    assert set(reasons) == {"mismatch", "garbage", "lonely"}
    assert "dB" in reasons["mismatch"] and "edit" in reasons["lonely"] and reasons["garbage"]
    assert sorted(pl.read_parquet(home / "editor" / "alignment.parquet")["pair"]) == names
