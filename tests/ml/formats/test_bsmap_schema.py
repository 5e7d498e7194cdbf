"""The files we write pass the schemas of KivalEvan's bsmap (tools/bsmap-check) with zero issues,
and the check itself can fail: a deliberately broken file is reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from automapper_ml.formats.writer import write_map
from tests.conftest import beatsaber_fixture_dirs
from tests.ml.formats.bsmap import bsmap_issues, failing, require_bsmap
from tests.ml.formats.test_writer import OGG, full_map


def _json_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".dat")


def test_written_v3_map_passes(tmp_path: Path) -> None:
    folder = write_map(full_map(), tmp_path / "map", audio=OGG)
    files = _json_files(folder)
    assert [p.name for p in files] == ["ExpertPlusStandard.dat", "HardStandard.dat", "Info.dat"]
    report = bsmap_issues(files)
    assert len(report) == 3
    assert failing(report) == {}


@pytest.mark.parametrize("version", ["2", "4"])
def test_written_v2_and_v4_maps_pass(tmp_path: Path, version: str) -> None:
    beatmap = full_map()
    if version == "2":
        for d in beatmap.difficulties:  # what v2 can hold
            d.chains, d.fake_chains = [], []
            for n in d.notes:
                n.angle = 0
    folder = write_map(beatmap, tmp_path / "map", version=version)
    report = bsmap_issues(_json_files(folder))
    assert len(report) == (3 if version == "2" else 6)
    assert failing(report) == {}


def test_broken_files_are_reported(tmp_path: Path) -> None:
    folder = write_map(full_map(), tmp_path / "map")
    diff = json.loads((folder / "HardStandard.dat").read_text("utf-8"))
    diff["colorNotes"][0]["c"] = "red"
    diff["obstacles"] = [{"b": 1.0, "d": 1.0, "x": 1.5, "y": 0, "w": 1, "h": 5}]
    broken = tmp_path / "broken.dat"
    broken.write_text(json.dumps(diff), "utf-8")
    info = json.loads((folder / "Info.dat").read_text("utf-8"))
    info["_difficultyBeatmapSets"][0]["_beatmapCharacteristicName"] = "Sideways"
    del info["_songSubName"]
    broken_info = tmp_path / "Info.dat"
    broken_info.write_text(json.dumps(info), "utf-8")
    not_json = tmp_path / "garbage.dat"
    not_json.write_text("{not json", "utf-8")

    report = bsmap_issues([broken, broken_info, not_json, folder / "Info.dat"])
    paths = {Path(k).name if Path(k).parent != folder else "good": v for k, v in report.items()}
    assert {i["path"] for i in paths["broken.dat"]} == {"colorNotes[0].c", "obstacles[0].x"}
    assert any("Sideways" in i["message"] for i in paths["Info.dat"])
    assert paths["garbage.dat"] and "cannot read JSON" in paths["garbage.dat"][0]["message"]
    assert paths["good"] == []


def test_fixture_v3_exports_pass(tmp_path: Path) -> None:
    """Every fixture map, read and written as v3: all difficulty files and Info.dat, zero issues."""
    require_bsmap()
    reader = pytest.importorskip("automapper_ml.formats.reader", reason="the map reader is not written yet")
    dirs = beatsaber_fixture_dirs()
    if not dirs:
        pytest.skip("../shared/fixtures is absent")
    files: list[Path] = []
    for folder in dirs:
        out = write_map(reader.load_map(folder), tmp_path / folder.name, version="3")
        files += _json_files(out)
    report = bsmap_issues(files)
    assert len(report) == len(files) >= 2 * len(dirs)
    assert failing(report) == {}
