"""Writers: exact v3/v2/v4/Info JSON for a map built in code with every object kind, atomic
write_map to a folder and a zip, and load -> write -> load round trips over the real fixtures."""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
from pathlib import Path

import pytest

from automapper_ml.formats import model
from automapper_ml.formats.errors import InvalidValueError, UnsupportedVersionError
from automapper_ml.formats.writer import (
    SONG_FILENAME,
    beatmap_to_v4,
    difficulty_to_v2,
    difficulty_to_v3,
    info_to_v21,
    write_map,
)
from tests.conftest import fixture_params

OGG = b"OggS" + bytes(60)  # enough of an Ogg page header for the writer's format check
OBJECT_LISTS = (
    "notes",
    "bombs",
    "obstacles",
    "arcs",
    "chains",
    "events",
    "boosts",
    "rotations",
    "fake_notes",
    "fake_bombs",
    "fake_obstacles",
    "fake_chains",
)
BOX = {"b": 2.0, "g": 0, "e": [{"f": {"f": 1, "p": 1, "t": 0, "r": 0}, "w": 1.0, "d": 1, "r": 1.0, "t": 1}]}


def full_map() -> model.BeatMap:
    """Two difficulties; the Expert+ one has every object kind the model holds."""
    xp = model.Difficulty(
        "Standard",
        "ExpertPlus",
        9,
        "whatever.dat",
        njs=18.0,
        njs_offset=-0.25,
        label="Chaos",
        requirements=("Noodle Extensions",),
        suggestions=("Chroma",),
        notes=[
            model.ColorNote(1.0, 1, 0, 0, 1),
            model.ColorNote(1.5, 2, 1, 1, 8, angle=45, uninteractable=True),
        ],
        bombs=[model.BombNote(2.0, 0, 2)],
        obstacles=[
            model.Obstacle(3.0, 2.0, 0, 0, 1, 5),
            model.Obstacle(4.0, 1.0, 0, 2, 4, 3),
            model.Obstacle(5.0, 0.5, 3, 1, 1, 2),
        ],
        arcs=[model.Arc(0, 6.0, 1, 0, 1, 1.0, 7.0, 2, 2, 0, 0.5, mid_anchor=1)],
        chains=[model.Chain(1, 8.0, 2, 0, 1, 8.5, 2, 2, 5, squish=0.8)],
        events=[
            model.LightEvent(0.0, 1, 3, 1.0),
            model.LightEvent(0.5, 4, 1, 0.5, color=(1.0, 0.0, 0.5), light_id=(3,)),
            model.LightEvent(0.75, 2, 5, 1.0, color=(0.1, 0.2, 0.3, 0.4), light_id=(1, 2)),
        ],
        boosts=[model.BoostEvent(1.0, True), model.BoostEvent(9.0, False)],
        bpm_changes=[model.BpmChange(4.0, 240.0)],
        rotations=[model.RotationEvent(2.0, True, 15.0), model.RotationEvent(3.0, False, -45.0)],
        fake_notes=[model.ColorNote(1.25, 0, 0, 0, 0)],
        fake_bombs=[model.BombNote(2.25, 3, 0)],
        fake_obstacles=[model.Obstacle(6.0, 1.0, 0, 0, 1, 5)],
        fake_chains=[model.Chain(0, 9.0, 1, 1, 1, 9.5, 1, 2, 3)],
        light_box_groups={"lightColorEventBoxGroups": [BOX]},
        use_normal_events_as_compatible=True,
    )
    hard = model.Difficulty(
        "Standard",
        "Hard",
        5,
        "h.dat",
        njs=10.0,
        notes=[model.ColorNote(0.0, 0, 0, 0, 1)],
        bpm_changes=[model.BpmChange(4.0, 240.0)],
    )
    return model.BeatMap(
        info_version="2.1.0",
        title="Song",
        artist="Artist",
        mapper="Mapper",
        bpm=120.0,
        audio_filename="song.ogg",
        subtitle="Sub",
        preview_start=12.0,
        preview_duration=8.0,
        cover_filename="cover.jpg",
        environment_name="BillieEnvironment",
        difficulties=[xp, hard],  # Expert+ first: the Info must sort the set by rank
    )


def test_v3_has_exact_values() -> None:
    beatmap = full_map()
    v3 = difficulty_to_v3(beatmap, beatmap.difficulties[0])
    assert v3["version"] == "3.3.0"
    assert v3["bpmEvents"] == [{"b": 0.0, "m": 120.0}, {"b": 4.0, "m": 240.0}]
    assert v3["rotationEvents"] == [{"b": 2.0, "e": 0, "r": 15.0}, {"b": 3.0, "e": 1, "r": -45.0}]
    assert v3["colorNotes"] == [
        {"b": 1.0, "x": 1, "y": 0, "c": 0, "d": 1, "a": 0},
        {"b": 1.5, "x": 2, "y": 1, "c": 1, "d": 8, "a": 45, "customData": {"uninteractable": True}},
    ]
    assert v3["bombNotes"] == [{"b": 2.0, "x": 0, "y": 2}]
    assert v3["obstacles"] == [
        {"b": 3.0, "d": 2.0, "x": 0, "y": 0, "w": 1, "h": 5},
        {"b": 4.0, "d": 1.0, "x": 0, "y": 2, "w": 4, "h": 3},
        {"b": 5.0, "d": 0.5, "x": 3, "y": 1, "w": 1, "h": 2},
    ]
    assert v3["sliders"] == [
        {
            "c": 0,
            "b": 6.0,
            "x": 1,
            "y": 0,
            "d": 1,
            "mu": 1.0,
            "tb": 7.0,
            "tx": 2,
            "ty": 2,
            "tc": 0,
            "tmu": 0.5,
            "m": 1,
        }
    ]
    assert v3["burstSliders"] == [
        {"c": 1, "b": 8.0, "x": 2, "y": 0, "d": 1, "tb": 8.5, "tx": 2, "ty": 2, "sc": 5, "s": 0.8}
    ]
    assert v3["basicBeatmapEvents"] == [
        {"b": 0.0, "et": 1, "i": 3, "f": 1.0},
        {"b": 0.5, "et": 4, "i": 1, "f": 0.5, "customData": {"color": [1.0, 0.0, 0.5], "lightID": [3]}},
        {
            "b": 0.75,
            "et": 2,
            "i": 5,
            "f": 1.0,
            "customData": {"color": [0.1, 0.2, 0.3, 0.4], "lightID": [1, 2]},
        },
    ]
    assert v3["colorBoostBeatmapEvents"] == [{"b": 1.0, "o": True}, {"b": 9.0, "o": False}]
    assert v3["lightColorEventBoxGroups"] == [BOX]
    assert v3["lightRotationEventBoxGroups"] == [] and v3["vfxEventBoxGroups"] == []
    assert v3["_fxEventsCollection"] == {"_fl": [], "_il": []}
    assert v3["waypoints"] == [] and v3["basicEventTypesWithKeywords"] == {"d": []}
    assert v3["useNormalEventsAsCompatibleEvents"] is True
    assert v3["customData"] == {
        "fakeColorNotes": [{"b": 1.25, "x": 0, "y": 0, "c": 0, "d": 0, "a": 0}],
        "fakeBombNotes": [{"b": 2.25, "x": 3, "y": 0}],
        "fakeObstacles": [{"b": 6.0, "d": 1.0, "x": 0, "y": 0, "w": 1, "h": 5}],
        "fakeBurstSliders": [
            {"c": 0, "b": 9.0, "x": 1, "y": 1, "d": 1, "tb": 9.5, "tx": 1, "ty": 2, "sc": 3, "s": 1.0}
        ],
    }
    # Integer fields are JSON ints, beats JSON floats, whatever Python type the model held.
    text = json.dumps(v3)
    assert '"x": 1,' in text and '"b": 1.0,' in text and "NaN" not in text


def test_v3_types_and_bad_numbers() -> None:
    beatmap = full_map()
    diff = beatmap.difficulties[1]
    diff.notes = [model.ColorNote(2, 1.0, 0, 0, 1)]  # an int beat and a float line index
    note = difficulty_to_v3(beatmap, diff)["colorNotes"][0]
    assert type(note["b"]) is float and type(note["x"]) is int
    diff.notes = [model.ColorNote(float("nan"), 1, 0, 0, 1)]
    with pytest.raises(InvalidValueError, match=r"Standard/Hard colorNotes\[0\]"):
        difficulty_to_v3(beatmap, diff)
    diff.notes = [model.ColorNote(1.0, 1.5, 0, 0, 1)]
    with pytest.raises(InvalidValueError, match="integer"):
        difficulty_to_v3(beatmap, diff)


def test_bpm_events_follow_the_timing() -> None:
    beatmap = full_map()
    plain = beatmap.difficulties[1]
    plain.bpm_changes = []
    assert difficulty_to_v3(beatmap, plain)["bpmEvents"] == []  # constant at the Info BPM
    plain.bpm_changes = [model.BpmChange(0.0, 120.0)]
    assert difficulty_to_v3(beatmap, plain)["bpmEvents"] == []
    # v4-style: the tempo lives in AudioData regions (120 BPM for 8 beats, then 60 BPM).
    plain.bpm_changes = []
    beatmap.song_frequency = 1000
    beatmap.bpm_regions = [model.BpmRegion(0, 4000, 0.0, 8.0), model.BpmRegion(4000, 12000, 8.0, 16.0)]
    assert difficulty_to_v3(beatmap, plain)["bpmEvents"] == [{"b": 0.0, "m": 120.0}, {"b": 8.0, "m": 60.0}]


def test_info_v21() -> None:
    beatmap = full_map()
    info = info_to_v21(beatmap, {"Standard/ExpertPlus": "ExpertPlusStandard.dat", "song": "song.egg"})
    assert info["_version"] == "2.1.0"
    assert (info["_songName"], info["_songSubName"], info["_songAuthorName"]) == ("Song", "Sub", "Artist")
    assert info["_levelAuthorName"] == "Mapper" and info["_beatsPerMinute"] == 120.0
    assert (info["_previewStartTime"], info["_previewDuration"]) == (12.0, 8.0)
    assert (info["_songFilename"], info["_coverImageFilename"]) == ("song.egg", "cover.jpg")
    assert info["_environmentNames"] == ["BillieEnvironment"] and info["_colorSchemes"] == []
    assert (info["_shuffle"], info["_shufflePeriod"], info["_songTimeOffset"]) == (0.0, 0.5, 0.0)
    [standard] = info["_difficultyBeatmapSets"]
    assert standard["_beatmapCharacteristicName"] == "Standard"
    hard, xp = standard["_difficultyBeatmaps"]  # sorted by rank
    assert hard == {
        "_difficulty": "Hard",
        "_difficultyRank": 5,
        "_beatmapFilename": "h.dat",
        "_noteJumpMovementSpeed": 10.0,
        "_noteJumpStartBeatOffset": 0.0,
        "_beatmapColorSchemeIdx": 0,
        "_environmentNameIdx": 0,
    }
    assert xp["_beatmapFilename"] == "ExpertPlusStandard.dat" and xp["_noteJumpStartBeatOffset"] == -0.25
    assert xp["_customData"] == {
        "_requirements": ["Noodle Extensions"],
        "_suggestions": ["Chroma"],
        "_difficultyLabel": "Chaos",
    }


def test_v2_values() -> None:
    beatmap = full_map()
    with pytest.raises(UnsupportedVersionError, match="chains"):
        difficulty_to_v2(beatmap, beatmap.difficulties[0])
    v2 = difficulty_to_v2(beatmap, beatmap.difficulties[0], lossy=True)
    assert v2["_version"] == "2.6.0"
    types = [(n["_time"], n["_type"], n.get("_customData")) for n in v2["_notes"]]
    assert types == [
        (1.0, 0, None),
        (1.25, 0, {"_fake": True}),
        (1.5, 1, {"_interactable": False}),
        (2.0, 3, None),
        (2.25, 3, {"_fake": True}),
    ]
    walls = [
        (o["_type"], o.get("_lineLayer"), o.get("_height"), o.get("_customData")) for o in v2["_obstacles"]
    ]
    assert walls == [
        (0, None, None, None),
        (1, None, None, None),
        (2, 1, 2, None),
        (0, None, None, {"_fake": True}),
    ]
    events = [(e["_time"], e["_type"], e["_value"], e["_floatValue"]) for e in v2["_events"]]
    assert (0.0, 100, 0, 120.0) in events and (4.0, 100, 0, 240.0) in events
    assert (2.0, 14, 4, 1.0) in events and (3.0, 15, 1, 1.0) in events  # +15 -> 4, -45 -> 1
    assert (1.0, 5, 1, 1.0) in events and (9.0, 5, 0, 1.0) in events
    assert [e["_time"] for e in v2["_events"]] == sorted(e["_time"] for e in v2["_events"])
    chroma = [e["_customData"] for e in v2["_events"] if "_customData" in e]
    assert chroma[0] == {"_color": [1.0, 0.0, 0.5], "_lightID": [3]}
    assert v2["_customData"]["_BPMChanges"][1] == {
        "_time": 4.0,
        "_BPM": 240.0,
        "_beatsPerBar": 4,
        "_metronomeOffset": 4,
    }
    assert v2["_sliders"][0]["_sliderMidAnchorMode"] == 1


def test_v4_files() -> None:
    beatmap = full_map()
    files = beatmap_to_v4(beatmap)
    assert set(files) == {
        "Info.dat",
        "AudioData.dat",
        "ExpertPlusStandard.beatmap.dat",
        "ExpertPlusStandard.lightshow.dat",
        "HardStandard.beatmap.dat",
        "HardStandard.lightshow.dat",
    }
    audio = files["AudioData.dat"]
    # 120 BPM for 4 beats (2 s), then 240 BPM: two regions at whole samples of 44.1 kHz.
    assert audio["bpmData"][0] == {"si": 0, "ei": 88200, "sb": 0.0, "eb": 4.0}
    assert audio["bpmData"][1]["si"] == 88200 and audio["bpmData"][1]["sb"] == 4.0
    xp = files["ExpertPlusStandard.beatmap.dat"]
    assert len(xp["colorNotes"]) == 2 and xp["colorNotes"][1]["customData"] == {"uninteractable": True}
    assert xp["spawnRotationsData"] == [{"t": 0, "r": 15.0}, {"t": 1, "r": -45.0}]
    info = files["Info.dat"]
    assert info["version"] == "4.0.1" and info["audio"]["bpm"] == 120.0
    assert [d["difficulty"] for d in info["difficultyBeatmaps"]] == ["ExpertPlus", "Hard"]
    beatmap.difficulties[1].bpm_changes = []
    with pytest.raises(UnsupportedVersionError, match="one BPM map"):
        beatmap_to_v4(beatmap)


def test_write_folder_and_zip(tmp_path: Path) -> None:
    beatmap = full_map()
    folder = write_map(beatmap, tmp_path / "out" / "map", audio=OGG)
    assert sorted(p.name for p in folder.iterdir()) == [
        "ExpertPlusStandard.dat",
        "HardStandard.dat",
        "Info.dat",
        SONG_FILENAME,
    ]
    info = json.loads((folder / "Info.dat").read_text("utf-8"))
    assert info["_songFilename"] == "song.egg" and (folder / "song.egg").read_bytes() == OGG
    assert info["_coverImageFilename"] == ""  # no cover is written, so none is named
    v3 = json.loads((folder / "ExpertPlusStandard.dat").read_text("utf-8"))
    assert v3 == json.loads(json.dumps(difficulty_to_v3(beatmap, beatmap.difficulties[0])))

    audio_file = tmp_path / "a.ogg"
    audio_file.write_bytes(OGG)
    archive = write_map(beatmap, tmp_path / "map.zip", audio=audio_file)
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == ["Info.dat", "ExpertPlusStandard.dat", "HardStandard.dat", "song.egg"]
        assert zf.read("song.egg") == OGG
        assert json.loads(zf.read("Info.dat"))["_songFilename"] == "song.egg"
    first = archive.read_bytes()
    write_map(beatmap, archive, audio=OGG)  # replaced whole, byte for byte the same
    assert archive.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ogg", "map.zip", "out"]  # no temp files left


def test_write_failure_leaves_nothing(tmp_path: Path) -> None:
    beatmap = full_map()
    beatmap.difficulties[1].light_box_groups = {"vfxEventBoxGroups": [{"b": float("inf")}]}
    for name in ("bad", "bad.zip"):
        with pytest.raises(InvalidValueError):
            write_map(beatmap, tmp_path / name, audio=OGG)
    with pytest.raises(InvalidValueError, match="Ogg"):
        write_map(full_map(), tmp_path / "bad2", audio=b"RIFF....WAVE")
    assert list(tmp_path.iterdir()) == []
    # A good map over an existing folder replaces it; a failing one leaves the old map intact.
    good = write_map(full_map(), tmp_path / "m")
    (good / "stale.txt").write_text("old")
    write_map(full_map(), good)
    assert not (good / "stale.txt").exists()
    with pytest.raises(InvalidValueError):
        write_map(beatmap, good)
    assert (good / "Info.dat").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    with pytest.raises(UnsupportedVersionError):
        write_map(full_map(), tmp_path / "v5", version="5")


# ---------------------------------------------------------------- read back through the readers


def _reader():
    return pytest.importorskip("automapper_ml.formats.reader", reason="the map reader is not written yet")


def _non_empty_groups(groups: dict) -> dict:
    empty = (None, [], {}, {"_fl": [], "_il": []})
    return {k: v for k, v in groups.items() if v not in empty}


def assert_same_objects(
    before: model.BeatMap, after: model.BeatMap, *, boxes: bool = True, seconds_tol: float = 1e-6
) -> None:
    """Every object list equal field by field, difficulty metadata kept, seconds equal at every beat used."""
    assert sorted(d.key for d in after.difficulties) == sorted(d.key for d in before.difficulties)
    for a in before.difficulties:
        b = after.difficulty(a.characteristic, a.name)
        for name in OBJECT_LISTS:
            got, want = getattr(b, name), getattr(a, name)
            assert len(got) == len(want), f"{a.key}.{name}: {len(got)} != {len(want)}"
            if got != want:  # dataclass equality is field by field; name the first difference
                i = next(i for i, (x, y) in enumerate(zip(got, want, strict=True)) if x != y)
                assert got[i] == want[i], f"{a.key}.{name}[{i}]"
        meta = ("rank", "njs", "njs_offset", "label", "requirements", "suggestions")
        assert [getattr(b, m) for m in meta] == [getattr(a, m) for m in meta]
        assert b.use_normal_events_as_compatible == a.use_normal_events_as_compatible
        if boxes:
            assert _non_empty_groups(b.light_box_groups) == _non_empty_groups(a.light_box_groups)
        ta, tb = before.timing(a), after.timing(b)
        beats = {0.0, a.last_object_beat()} | {n.beat for n in a.notes} | {e.beat for e in a.events}
        worst = max(abs(ta.to_seconds(x) - tb.to_seconds(x)) for x in beats)
        assert worst <= seconds_tol, f"{a.key}: seconds differ by {worst:.3g} s"


def _lossy_v2(beatmap: model.BeatMap) -> model.BeatMap:
    """What a v2 file can hold: no chains, no note angles, no v3 lighting flags."""
    diffs = [
        dataclasses.replace(
            d,
            chains=[],
            fake_chains=[],
            use_normal_events_as_compatible=False,
            notes=[dataclasses.replace(n, angle=0) for n in d.notes],
            fake_notes=[dataclasses.replace(n, angle=0) for n in d.fake_notes],
        )
        for d in beatmap.difficulties
    ]
    return dataclasses.replace(beatmap, difficulties=diffs)


def _v4_seconds_tol(beatmap: model.BeatMap) -> float:
    # v4 BPM regions start on whole samples: times agree to within half a sample.
    return 0.5 / (beatmap.song_frequency or 44100) + 1e-9


@pytest.mark.parametrize("version", ["2", "3", "4"])
def test_code_map_reads_back(tmp_path: Path, version: str) -> None:
    reader = _reader()
    beatmap = full_map()
    if version == "2":
        beatmap = _lossy_v2(beatmap)
    out = write_map(beatmap, tmp_path / "map.zip", audio=OGG, version=version)
    again = reader.load_map(out)
    assert again.title == "Song" and again.bpm == 120.0 and again.audio_filename == "song.egg"
    tol = _v4_seconds_tol(beatmap) if version == "4" else 1e-6
    assert_same_objects(beatmap, again, boxes=version == "3", seconds_tol=tol)


@pytest.mark.parametrize("folder", fixture_params())
def test_fixture_round_trip_v3(tmp_path: Path, folder: Path) -> None:
    reader = _reader()
    beatmap = reader.load_map(folder)
    again = reader.load_map(write_map(beatmap, tmp_path / "m", version="3"))
    assert_same_objects(beatmap, again)
    assert again.mapper == beatmap.mapper and math.isclose(again.bpm, beatmap.bpm)


@pytest.mark.parametrize("folder", fixture_params())
def test_fixture_round_trip_v2_and_v4(tmp_path: Path, folder: Path) -> None:
    reader = _reader()
    beatmap = reader.load_map(folder)
    v2_map = _lossy_v2(beatmap)
    assert_same_objects(v2_map, reader.load_map(write_map(v2_map, tmp_path / "v2", version="2")), boxes=False)
    again = reader.load_map(write_map(beatmap, tmp_path / "v4", version="4"))
    assert_same_objects(beatmap, again, boxes=False, seconds_tol=_v4_seconds_tol(beatmap))
