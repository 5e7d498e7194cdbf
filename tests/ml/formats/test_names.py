"""Output names come from the fixed vocabulary (five difficulty names, the known characteristics),
never from map text: `_difficulty: "../../escaped/rel_"` once made `convert` write two folders up,
and `-o x.zip` wrote zip-slip members."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import pytest

from automapper_ml.cli import main
from automapper_ml.formats.errors import InvalidValueError, MapFormatError
from automapper_ml.formats.info_v2 import parse_info_v2
from automapper_ml.formats.model import (
    CHARACTERISTICS,
    DIFFICULTY_NAMES,
    BeatMap,
    ColorNote,
    Difficulty,
    canonical_characteristic,
    canonical_difficulty,
)
from automapper_ml.formats.reader import load_map
from automapper_ml.formats.v4 import parse_info_v4
from automapper_ml.formats.writer import map_documents, write_map
from automapper_ml.formats.writer_v3 import difficulty_filename
from tests.ml.formats.minimal import INFO, V3

HOSTILE = ["../../escaped/rel_", "/tmp/abs_", "..\\..\\win_", "Expert/../../x", "C:evil", "Expert\x00"]


def _info(characteristic: str = "Standard", difficulty: str = "Expert", extra: bool = False) -> dict:
    info = copy.deepcopy(INFO)
    entry = info["_difficultyBeatmapSets"][0]
    entry["_beatmapCharacteristicName"] = characteristic
    entry["_difficultyBeatmaps"][0]["_difficulty"] = difficulty
    if extra:  # a second, well-named set pointing at the same file
        info["_difficultyBeatmapSets"].append(
            {
                "_beatmapCharacteristicName": "Standard",
                "_difficultyBeatmaps": [
                    {"_difficulty": "Hard", "_difficultyRank": 5, "_beatmapFilename": "Expert.dat"}
                ],
            }
        )
    return info


def _map(folder: Path, info: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Info.dat").write_text(json.dumps(info))
    (folder / "Expert.dat").write_text(json.dumps(V3))
    return folder


def test_vocabulary_folds_case_and_aliases():
    assert [canonical_difficulty(n.lower()) for n in DIFFICULTY_NAMES] == list(DIFFICULTY_NAMES)
    assert canonical_difficulty("Expert+") == "ExpertPlus" and canonical_difficulty(" hard ") == "Hard"
    assert [canonical_characteristic(c.upper()) for c in CHARACTERISTICS] == list(CHARACTERISTICS)
    for name in [*HOSTILE, "", "Insane", "Standard2"]:
        assert canonical_difficulty(name) is None and canonical_characteristic(name) is None


@pytest.mark.parametrize("name", HOSTILE)
def test_reader_skips_unknown_difficulty_names(name):
    beatmap = parse_info_v2(_info(difficulty=name, extra=True))
    assert [d.key for d in beatmap.difficulties] == ["Standard/Hard"]
    assert any("unknown difficulty name" in line for line in beatmap.unconverted)


@pytest.mark.parametrize("name", HOSTILE)
def test_reader_skips_unknown_characteristics(name):
    beatmap = parse_info_v2(_info(characteristic=name, extra=True))
    assert [d.key for d in beatmap.difficulties] == ["Standard/Hard"]
    assert any("unknown characteristic" in line for line in beatmap.unconverted)


def test_v4_reader_skips_unknown_names():
    entry = {"characteristic": "../up", "difficulty": "Expert", "beatmapDataFilename": "E.beatmap.dat"}
    good = {"characteristic": "standard", "difficulty": "expertplus", "beatmapDataFilename": "X.beatmap.dat"}
    info = {"version": "4.0.1", "audio": {"bpm": 120}, "difficultyBeatmaps": [entry, good]}
    beatmap = parse_info_v4(info)
    assert [d.key for d in beatmap.difficulties] == ["Standard/ExpertPlus"]
    assert any("unknown characteristic" in line for line in beatmap.unconverted)


def test_a_map_with_only_hostile_names_is_one_line(tmp_path):
    with pytest.raises(MapFormatError) as err:
        load_map(_map(tmp_path, _info(difficulty="../../escaped/rel_")))
    assert err.value.code == "no_difficulties" and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("characteristic", "name"),
    [("../../escaped", "Expert"), ("Standard", "../../escaped/rel_"), ("/abs", "Hard")],
)
def test_writers_refuse_names_outside_the_vocabulary(tmp_path, characteristic, name):
    """A model built in code (not read) with a bad name: no writer turns it into a file name."""
    diff = Difficulty(characteristic, name, 7, "x.dat", notes=[ColorNote(1.0, 1, 0, 0, 1)])
    beatmap = BeatMap("2.1.0", "t", "a", "m", 120.0, "song.egg", difficulties=[diff])
    with pytest.raises(InvalidValueError):
        difficulty_filename(diff)
    for version in ("2", "3", "4"):
        with pytest.raises(InvalidValueError):
            map_documents(beatmap, version=version)
    with pytest.raises(InvalidValueError):
        write_map(beatmap, tmp_path / "out.zip")
    assert list(tmp_path.iterdir()) == []


def test_writers_use_the_canonical_spelling(tmp_path):
    diff = Difficulty("standard", "expert+", 9, "x.dat", notes=[ColorNote(1.0, 1, 0, 0, 1)])
    beatmap = BeatMap("2.1.0", "t", "a", "m", 120.0, "song.egg", difficulties=[diff])
    docs = map_documents(beatmap, version="3")
    assert list(docs) == ["Info.dat", "ExpertPlusStandard.dat"]
    info_set = docs["Info.dat"]["_difficultyBeatmapSets"][0]
    assert info_set["_beatmapCharacteristicName"] == "Standard"
    assert info_set["_difficultyBeatmaps"][0]["_difficulty"] == "ExpertPlus"
    v4 = map_documents(beatmap, version="4")
    entry = v4["Info.dat"]["difficultyBeatmaps"][0]
    assert (entry["characteristic"], entry["difficulty"]) == ("Standard", "ExpertPlus")
    twice = BeatMap("2.1.0", "t", "a", "m", 120.0, "song.egg", difficulties=[diff, copy.deepcopy(diff)])
    twice.difficulties[1].characteristic = "Standard"  # the same file under another spelling
    with pytest.raises(MapFormatError, match="appears twice"):
        map_documents(twice)


@pytest.mark.parametrize("where", ["difficulty", "characteristic"])
@pytest.mark.parametrize("name", ["../../escaped/rel_", "/tmp/automapper_abs_"])
def test_convert_writes_only_inside_its_output(tmp_path, capsys, where, name):
    """The reported attack, through the CLI, into a folder and into a zip."""
    info = _info(**{where: name}, extra=True)
    source = _map(tmp_path / "in", info)
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    for out in (work / "out", work / "out.zip"):
        assert main(["convert", str(source), "-o", str(out)]) == 0, capsys.readouterr().err
        assert "wrote" in capsys.readouterr().out
    names = sorted(p.name for p in (work / "out").iterdir())
    assert names == ["HardStandard.dat", "Info.dat"]
    with zipfile.ZipFile(work / "out.zip") as zf:
        assert sorted(zf.namelist()) == names
    outside = [p for p in tmp_path.rglob("*") if "escaped" in p.name or "rel_" in p.name or "abs_" in p.name]
    assert outside == [] and not Path("/tmp/automapper_abs_Standard.dat").exists()
