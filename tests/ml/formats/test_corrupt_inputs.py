"""Broken maps give their MapError subclass with a specific code and a one-line message; never
anything else. Also: what must NOT be rejected (Mapping Extensions positions, junk customData)."""

from __future__ import annotations

import copy
import json
import random
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automapper_ml.formats.errors import (
    InvalidValueError,
    MapError,
    MapFormatError,
    MissingFileError,
    UnsupportedVersionError,
)
from automapper_ml.formats.model import BeatMap
from automapper_ml.formats.reader import check_objects_within, load_map

INFO = {
    "_version": "2.1.0",
    "_songName": "Broken",
    "_songAuthorName": "Artist",
    "_levelAuthorName": "Mapper",
    "_beatsPerMinute": 120,
    "_songFilename": "song.egg",
    "_difficultyBeatmapSets": [
        {
            "_beatmapCharacteristicName": "Standard",
            "_difficultyBeatmaps": [
                {
                    "_difficulty": "Expert",
                    "_difficultyRank": 7,
                    "_beatmapFilename": "Expert.dat",
                    "_customData": {"_requirements": ["Mapping Extensions"], "_difficultyLabel": "Hi"},
                }
            ],
        }
    ],
}
V3 = {
    "version": "3.3.0",
    "colorNotes": [{"b": 4, "x": 1, "y": 0, "c": 0, "d": 1}, {"b": 5.125, "x": 2, "y": 1, "c": 1, "d": 8}],
    "bombNotes": [{"b": 6, "x": 0, "y": 2}],
    "obstacles": [{"b": 8, "d": 2, "x": 0, "y": 0, "w": 1, "h": 5}],
    "basicBeatmapEvents": [{"b": 1, "et": 1, "i": 3}],
    "bpmEvents": [{"b": 0, "m": 120}],
}
V2 = {
    "_version": "2.2.0",
    "_notes": [
        {"_time": 4, "_lineIndex": 1, "_lineLayer": 0, "_type": 0, "_cutDirection": 1},
        {"_time": 5, "_lineIndex": 2, "_lineLayer": 0, "_type": 3, "_cutDirection": 0},
    ],
    "_obstacles": [{"_time": 8, "_lineIndex": 0, "_type": 1, "_duration": 2, "_width": 2}],
    "_events": [{"_time": 1, "_type": 1, "_value": 3}],
}


def _write_map(folder: Path, info: dict | str | bytes = INFO, diffs: dict | None = None, **extra) -> Path:
    """A map folder: Info.dat plus difficulty files (dict -> JSON; str/bytes written as is)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"Info.dat": info, **({"Expert.dat": V3} if diffs is None else diffs), **extra}
    for name, content in files.items():
        if isinstance(content, dict):
            content = json.dumps(content)
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def _error(path: Path, cls: type[MapError] = MapError, **kwargs) -> MapError:
    with pytest.raises(cls) as info:
        load_map(path, **kwargs)
    assert str(info.value) and "\n" not in str(info.value)
    return info.value


def test_valid_small_maps_parse(tmp_path: Path) -> None:
    beatmap = load_map(_write_map(tmp_path / "v3"))
    diff = beatmap.difficulties[0]
    assert (len(diff.notes), len(diff.bombs), len(diff.obstacles), len(diff.events)) == (2, 1, 1, 1)
    assert diff.notes[1].beat == 5.125 and diff.events[0].float_value == 1.0  # f defaults to 1
    assert diff.requirements == ("Mapping Extensions",) and diff.label == "Hi"
    v2 = load_map(_write_map(tmp_path / "v2", diffs={"Expert.dat": V2})).difficulties[0]
    assert (len(v2.notes), len(v2.bombs), len(v2.obstacles)) == (1, 1, 1)
    wall = v2.obstacles[0]
    assert (wall.y, wall.height, wall.width) == (2, 3, 2)  # crouch wall


@pytest.mark.parametrize(
    "content",
    [
        b'{"version": "3.3.0", "colorNotes": [',
        b"",
        b"\xff\xfe\x00garbage",
        b"[1, 2]",
        b'{"a": 1} trailing',
        b"{" * 50_000,
    ],
    ids=["cut", "empty", "bad-utf16", "array", "trailing", "deep"],
)
def test_bad_json_difficulty(tmp_path: Path, content: bytes) -> None:
    err = _error(_write_map(tmp_path, diffs={"Expert.dat": content}), MapFormatError)
    assert err.code == "bad_json"
    assert "Expert.dat" in str(err)


def test_bad_json_info_and_invalid_utf8(tmp_path: Path) -> None:
    assert _error(_write_map(tmp_path / "a", info="{not json"), MapFormatError).code == "bad_json"
    assert (
        _error(_write_map(tmp_path / "b", info=b'{"_songName": "\xff\xfe"}'), MapFormatError).code
        == "bad_json"
    )
    huge_int = b'{"version": "3.3.0", "colorNotes": [{"b": ' + b"9" * 5000 + b"}]}"
    assert _error(_write_map(tmp_path / "c", diffs={"Expert.dat": huge_int})).code in (
        "bad_json",
        "invalid_value",
    )


def test_bom_and_nul_padding_are_accepted(tmp_path: Path) -> None:
    text = json.dumps(V3).encode()
    beatmap = load_map(
        _write_map(
            tmp_path,
            info=b"\xef\xbb\xbf" + json.dumps(INFO).encode(),
            diffs={"Expert.dat": text + b"\n\x00\x00"},
        )
    )
    assert len(beatmap.difficulties[0].notes) == 2


def test_missing_files(tmp_path: Path) -> None:
    err = _error(_write_map(tmp_path / "a", diffs={}), MissingFileError)
    assert err.code == "missing_difficulty_file" and "Expert.dat" in str(err)
    no_info = tmp_path / "b"
    no_info.mkdir()
    (no_info / "Expert.dat").write_text(json.dumps(V3))
    assert _error(no_info, MissingFileError).code == "missing_info"
    # Two listed, one present: the present one is kept and the gap reported; strict refuses.
    info = copy.deepcopy(INFO)
    beatmaps = info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"]
    beatmaps.append({"_difficulty": "Hard", "_difficultyRank": 5, "_beatmapFilename": "Hard.dat"})
    folder = _write_map(tmp_path / "c", info=info)
    beatmap = load_map(folder)
    assert [d.key for d in beatmap.difficulties] == ["Standard/Expert"]
    assert any("Hard.dat" in line for line in beatmap.unconverted)
    assert _error(folder, MissingFileError, strict=True).code == "missing_difficulty_file"
    info["_difficultyBeatmapSets"] = []
    assert _error(_write_map(tmp_path / "d", info=info)).code == "no_difficulties"


@pytest.mark.parametrize(
    ("info_patch", "diff"),
    [
        ({"_version": "5.0.0"}, V3),
        ({"_version": "1.5.0"}, V3),
        ({}, {"version": "5.0.0", "colorNotes": []}),
        ({}, {"_version": "1.5.0", "_notes": []}),
        ({}, {"something": "else"}),
    ],
    ids=["info-5", "info-1.5", "diff-5", "diff-1.5", "diff-unrecognisable"],
)
def test_unknown_versions(tmp_path: Path, info_patch: dict, diff: dict) -> None:
    err = _error(
        _write_map(tmp_path, info={**INFO, **info_patch}, diffs={"Expert.dat": diff}), UnsupportedVersionError
    )
    assert err.code == "unsupported_version"


def test_info_without_version_or_shape(tmp_path: Path) -> None:
    info = {k: v for k, v in INFO.items() if k not in ("_version", "_difficultyBeatmapSets")}
    assert (
        _error(_write_map(tmp_path / "a", info=info), UnsupportedVersionError).code == "unsupported_version"
    )
    old = {k: v for k, v in INFO.items() if k != "_version"}  # early v2 maps omit _version
    assert load_map(_write_map(tmp_path / "b", info=old)).title == "Broken"


@pytest.mark.parametrize(
    ("raw_diff", "where"),
    [
        (b'{"version": "3.3.0", "colorNotes": [{"b": NaN, "x": 1}]}', "colorNotes[0].b"),
        (b'{"version": "3.3.0", "colorNotes": [{"b": 1}, {"b": Infinity}]}', "colorNotes[1].b"),
        (b'{"version": "3.3.0", "colorNotes": [{"b": -Infinity}]}', "colorNotes[0].b"),
        (b'{"version": "3.3.0", "bombNotes": [{"b": 1e999}]}', "bombNotes[0].b"),
        (b'{"_version": "2.0.0", "_notes": [{"_time": NaN, "_type": 0}]}', "_notes[0]._time"),
        (b'{"version": "3.3.0", "colorNotes": [{"b": 1, "x": "1"}]}', "colorNotes[0].x"),
        (b'{"_version": "2.0.0", "_notes": [{"_time": "4", "_type": 0}]}', "_notes[0]._time"),
        (b'{"version": "3.3.0", "colorNotes": [{"b": 1, "c": [0]}]}', "colorNotes[0].c"),
        (b'{"version": "3.3.0", "colorNotes": [{"b": 200000}]}', "colorNotes[0].b"),
        (b'{"version": "3.3.0", "obstacles": [{"b": 1, "d": 1e6}]}', "obstacles[0].d"),
        (b'{"version": "3.3.0", "basicBeatmapEvents": [{"b": 1, "f": NaN}]}', "basicBeatmapEvents[0].f"),
        (b'{"version": "3.3.0", "bpmEvents": [{"b": 1, "m": Infinity}]}', "bpmEvents[0].m"),
        (b'{"version": "3.3.0", "colorNotes": [5]}', "colorNotes[0]"),
        (b'{"version": "3.3.0", "colorNotes": {"b": 1}}', "colorNotes"),
        (b'{"version": "3.3.0", "lightColorEventBoxGroups": [{"b": NaN}]}', "lightColorEventBoxGroups[0].b"),
        (b'{"version": "3.3.0", "customData": {"fakeColorNotes": [{"b": NaN}]}}', "fakeColorNotes[0].b"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_invalid_values_name_file_array_and_index(tmp_path: Path, raw_diff: bytes, where: str) -> None:
    err = _error(_write_map(tmp_path, diffs={"Expert.dat": raw_diff}), InvalidValueError)
    assert err.code == "invalid_value"
    assert "Expert.dat" in str(err) and where in str(err), str(err)


def test_bad_info_values(tmp_path: Path) -> None:
    for i, bpm in enumerate((0, -120, "fast")):
        err = _error(_write_map(tmp_path / str(i), info={**INFO, "_beatsPerMinute": bpm}), InvalidValueError)
        assert "_beatsPerMinute" in str(err)


def test_mapping_extensions_and_junk_custom_data_are_kept(tmp_path: Path) -> None:
    diff = {
        "version": "3.3.0",
        "colorNotes": [
            {"b": 1, "x": 1500, "y": -2000, "c": 0, "d": 1100, "customData": "junk"},
            {"b": 2, "x": 4, "y": 3, "c": 1, "d": 8, "customData": {"uninteractable": True, "color": "red"}},
        ],
        "basicBeatmapEvents": [
            {"b": 1, "et": 4, "i": 1, "customData": {"color": [1, 0, 0], "lightID": [1, 2]}},
            {"b": 2, "et": 4, "i": 1, "customData": {"color": ["r"], "lightID": "x"}},
        ],
        "customData": {
            "fakeColorNotes": [{"b": 3}],
            "fakeObstacles": [{"b": 1, "d": 1, "w": 1, "h": 5}],
            "bogus": 1,
        },
    }
    d = load_map(_write_map(tmp_path, diffs={"Expert.dat": diff})).difficulties[0]
    assert (d.notes[0].x, d.notes[0].y, d.notes[0].direction) == (1500, -2000, 1100)
    assert d.notes[1].uninteractable and not d.notes[0].uninteractable
    assert d.events[0].color == (1.0, 0.0, 0.0) and d.events[0].light_id == (1, 2)
    assert d.events[1].color is None and d.events[1].light_id is None
    assert (len(d.notes), len(d.fake_notes), len(d.fake_obstacles)) == (2, 1, 1)


def test_v2_noodle_and_events(tmp_path: Path) -> None:
    diff = {
        "_version": "2.5.0",
        "_notes": [
            {"_time": 1, "_type": 0, "_customData": {"_fake": True}},
            {"_time": 2, "_type": 1, "_customData": {"_interactable": False}},
            {"_time": 3, "_type": 2},  # an unknown note type: reported, not counted
        ],
        "_obstacles": [{"_time": 1, "_type": 2, "_lineLayer": 1, "_height": 2, "_duration": 1, "_width": 1}],
        "_events": [
            {"_time": 0, "_type": 100, "_value": 0, "_floatValue": 150},
            {"_time": 1, "_type": 5, "_value": 1},
            {"_time": 2, "_type": 14, "_value": 4},
            {"_time": 3, "_type": 15, "_value": 0},
            {
                "_time": 4,
                "_type": 2,
                "_value": 1,
                "_floatValue": 0.5,
                "_customData": {"_color": [0, 1, 0, 1]},
            },
        ],
        "_customData": {"_bpmChanges": [{"_time": 8, "_bpm": 60}]},
    }
    d = load_map(_write_map(tmp_path, diffs={"Expert.dat": diff})).difficulties[0]
    assert (len(d.notes), len(d.fake_notes), len(d.bombs)) == (1, 1, 0)
    assert d.notes[0].uninteractable
    assert any("_type 2" in line for line in d.unconverted)
    assert (d.obstacles[0].y, d.obstacles[0].height) == (1, 2)
    assert [(c.beat, c.bpm) for c in d.bpm_changes] == [(0.0, 150.0), (8.0, 60.0)]
    assert [b.on for b in d.boosts] == [True]
    assert [(r.early, r.rotation) for r in d.rotations] == [(True, 15.0), (False, -60.0)]
    assert len(d.events) == 1 and d.events[0].float_value == 0.5 and d.events[0].color == (0.0, 1.0, 0.0, 1.0)


def _bpm_info(seconds: float) -> dict:
    return {
        "_version": "2.0.0",
        "_songFrequency": 44100,
        "_songSampleCount": int(seconds * 44100),
        "_regions": [],
    }


def test_wall_past_the_song_end(tmp_path: Path) -> None:
    diff = {"version": "3.3.0", "colorNotes": [{"b": 4}], "obstacles": [{"b": 2, "d": 936, "w": 1, "h": 5}]}
    folder = _write_map(tmp_path / "long", diffs={"Expert.dat": diff}, **{"BPMInfo.dat": _bpm_info(60.0)})
    err = _error(folder, InvalidValueError)
    assert err.code == "objects_past_end"
    assert "936" in str(err) and "60.0 s" in str(err)
    # Within the slack (max(5 s, 5%)) is fine: 60 s song, 120 BPM, object at 64 s.
    ok = {"version": "3.3.0", "colorNotes": [{"b": 128}]}
    assert load_map(_write_map(tmp_path / "ok", diffs={"Expert.dat": ok}, **{"BPMInfo.dat": _bpm_info(60.0)}))


def test_check_objects_within_directly() -> None:
    from automapper_ml.formats.model import Difficulty, Obstacle

    beatmap = BeatMap(
        info_version="2.0.0", title="t", artist="a", mapper="m", bpm=120, audio_filename="s.egg"
    )
    diff = Difficulty("Standard", "Expert", 7, "Expert.dat", obstacles=[Obstacle(0, 936, 0, 0, 1, 5)])
    with pytest.raises(InvalidValueError):
        check_objects_within(beatmap, diff, 60.0)
    check_objects_within(beatmap, diff, 470.0)  # 936 beats at 120 BPM = 468 s
    check_objects_within(beatmap, diff, 0.0)  # unknown length: nothing to check


def test_broken_bpm_info_is_ignored(tmp_path: Path) -> None:
    folder = _write_map(tmp_path, **{"BPMInfo.dat": "{oops"})
    beatmap = load_map(folder)
    assert beatmap.song_sample_count is None
    assert any("BPMInfo.dat" in line for line in beatmap.unconverted)


# -- fuzzing: any damage to bytes gives a MapError or a map, never another exception -------------


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(4)
        at = rng.randrange(len(buf)) if buf else 0
        if op == 0 and buf:
            buf[at] = rng.randrange(256)
        elif op == 1:
            buf[at:at] = rng.choice([b"NaN", b"-1e999", b'"x"', b"{", b"]", b"null", b"[]", b"9" * 20])
        elif op == 2:
            del buf[at : at + rng.randint(1, 20)]
        else:
            buf = buf[:at]
    return bytes(buf)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), target=st.sampled_from(["Info.dat", "Expert.dat", "v2", "zip"]))
def test_fuzzed_inputs_raise_only_map_errors(tmp_path_factory, seed: int, target: str) -> None:
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("fuzz")
    files = {
        "Info.dat": json.dumps(INFO).encode(),
        "Expert.dat": json.dumps(V3 if target != "v2" else V2).encode(),
    }
    if target == "zip":
        path = folder / "map.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        path.write_bytes(_mutate(path.read_bytes(), rng))
    else:
        key = "Expert.dat" if target == "v2" else target
        files[key] = _mutate(files[key], rng)
        path = _write_map(folder / "map", info=files["Info.dat"], diffs={"Expert.dat": files["Expert.dat"]})
    try:
        beatmap = load_map(path)
    except MapError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert isinstance(beatmap, BeatMap)


def test_legacy_chroma_values_and_name_aliases(tmp_path: Path) -> None:
    info = copy.deepcopy(INFO)
    info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"][0]["_difficulty"] = "Expert+"
    diff = {"_version": "2.0.0", "_notes": [], "_events": [{"_time": 1, "_type": 1, "_value": 2_016_777_215}]}
    d = load_map(_write_map(tmp_path, info=info, diffs={"Expert.dat": diff})).difficulties[0]
    assert d.name == "ExpertPlus"
    assert d.events[0].value == 2_016_777_215
    assert any("legacy Chroma" in line for line in d.unconverted)


def test_v4_reader_absent_is_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "automapper_ml.formats.v4", None)  # import now raises ImportError
    info = {"version": "4.0.0", "song": {"title": "x"}, "audio": {"bpm": 120}, "difficultyBeatmaps": []}
    assert _error(_write_map(tmp_path, info=info), UnsupportedVersionError).code == "unsupported_version"
