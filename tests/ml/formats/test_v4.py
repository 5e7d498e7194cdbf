"""The v4 reader: the real v4 fixture map, hand-built AudioData/lightshow files, and bad inputs."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from automapper_ml.formats.errors import InvalidValueError, MapError, UnsupportedVersionError
from automapper_ml.formats.model import BeatMap, Difficulty
from automapper_ml.formats.v4 import parse_audio_data_v4, parse_difficulty_v4, parse_info_v4
from tests.conftest import beatsaber_fixture_dirs


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8-sig"))


def _info_path(folder: Path) -> Path | None:
    return next((p for p in folder.iterdir() if p.name.lower() == "info.dat"), None)


def _v4_dirs() -> list[Path]:
    """Fixture folders whose Info.dat declares a 4.x version."""
    out = []
    for folder in beatsaber_fixture_dirs():
        info = _info_path(folder)
        if info is not None and str(_load(info).get("version", "")).startswith("4"):
            out.append(folder)
    return out


def _v4_params() -> list:
    dirs = _v4_dirs()
    if not dirs:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no v4 map under ../shared/fixtures"))]
    return [pytest.param(d, id=d.name) for d in dirs]


def _read_fixture(folder: Path) -> tuple[BeatMap, dict[str, tuple[dict, dict | None]]]:
    """Parse a v4 fixture folder through the v4 functions only; also return each difficulty's raw JSON."""
    beatmap = parse_info_v4(_load(_info_path(folder)))
    if beatmap.audio_data_filename:
        parse_audio_data_v4(_load(folder / beatmap.audio_data_filename), beatmap)
    raw = {}
    for diff in beatmap.difficulties:
        data = _load(folder / diff.filename)
        lightshow = _load(folder / diff.lightshow_filename) if diff.lightshow_filename else None
        parse_difficulty_v4(data, lightshow, diff)
        raw[diff.key] = (data, lightshow)
    return beatmap, raw


@pytest.mark.parametrize("folder", _v4_params())
def test_fixture_counts_equal_raw_arrays(folder: Path) -> None:
    beatmap, raw = _read_fixture(folder)
    assert beatmap.difficulties
    for diff in beatmap.difficulties:
        data, lightshow = raw[diff.key]
        assert diff.version == data["version"]
        assert len(diff.notes) == len(data.get("colorNotes", []))
        assert len(diff.bombs) == len(data.get("bombNotes", []))
        assert len(diff.obstacles) == len(data.get("obstacles", []))
        assert len(diff.arcs) == len(data.get("arcs", []))
        assert len(diff.chains) == len(data.get("chains", []))
        assert len(diff.rotations) == len(data.get("spawnRotations", []))
        if lightshow is None:
            continue
        assert len(diff.events) + len(diff.boosts) == len(lightshow.get("basicEvents", [])) + len(
            lightshow.get("colorBoostEvents", [])
        )
        kinds = Counter(g.get("t", 0) for g in lightshow.get("eventBoxGroups", []))
        groups = diff.light_box_groups
        assert len(groups.get("lightColorEventBoxGroups", [])) == kinds[1]
        assert len(groups.get("lightRotationEventBoxGroups", [])) == kinds[2]
        assert len(groups.get("lightTranslationEventBoxGroups", [])) == kinds[3]
        assert len(groups.get("vfxEventBoxGroups", [])) == kinds[4]
        # every v4 box and every event reference survives the conversion
        v4_boxes = sum(
            len(g.get("e", [])) for g in lightshow.get("eventBoxGroups", []) if g.get("t") in (1, 2, 3, 4)
        )
        v3_boxes = sum(
            len(g["e"])
            for key in (
                "lightColorEventBoxGroups",
                "lightRotationEventBoxGroups",
                "lightTranslationEventBoxGroups",
                "vfxEventBoxGroups",
            )
            for g in groups.get(key, [])
        )
        assert v3_boxes == v4_boxes


@pytest.mark.parametrize("folder", _v4_params())
def test_fixture_objects_come_from_their_data_index(folder: Path) -> None:
    beatmap, raw = _read_fixture(folder)
    checked_note = 0
    for diff in beatmap.difficulties:
        data, _ = raw[diff.key]
        notes_data = data["colorNotesData"]
        for k, obj in enumerate(data["colorNotes"]):
            if obj.get("i", 0) == 0:
                continue  # a note pointing at entry 0 cannot tell a right index from a default one
            src = notes_data[obj["i"]]
            note = diff.notes[k]
            assert note.beat == obj.get("b", 0)
            assert (note.x, note.y, note.color, note.direction, note.angle) == (
                src.get("x", 0),
                src.get("y", 0),
                src.get("c", 0),
                src.get("d", 0),
                src.get("a", 0),
            )
            checked_note += 1
        for k, obj in enumerate(data.get("arcs", [])):
            head, tail = notes_data[obj.get("hi", 0)], notes_data[obj.get("ti", 0)]
            arc = diff.arcs[k]
            assert (arc.beat, arc.tail_beat) == (obj.get("hb", 0), obj.get("tb", 0))
            assert (arc.x, arc.y, arc.direction, arc.color) == (
                head.get("x", 0),
                head.get("y", 0),
                head.get("d", 0),
                head.get("c", 0),
            )
            assert (arc.tail_x, arc.tail_y, arc.tail_direction) == (
                tail.get("x", 0),
                tail.get("y", 0),
                tail.get("d", 0),
            )
    assert checked_note > 0


def test_heavenly_jumpstyle_fixture_by_hand() -> None:
    folder = next((d for d in _v4_dirs() if d.name == "heavenly_jumpstyle_v4"), None)
    if folder is None:
        pytest.skip("heavenly_jumpstyle_v4 fixture absent")
    beatmap, _ = _read_fixture(folder)
    assert beatmap.title == "Heavenly jumpstlye"
    assert beatmap.artist == "INNXCENCE, Sxilwix, and TWXNY"
    assert beatmap.mapper == "Jack"  # "Jack" (ExpertPlus) and "jack" (Hard) are one mapper
    assert beatmap.bpm == 60.0
    assert beatmap.environment_name == "Monstercat2Environment"
    assert [(d.key, d.rank, d.lightshow_filename) for d in beatmap.difficulties] == [
        ("Standard/ExpertPlus", 9, "Common.lightshow.dat"),
        ("Standard/Hard", 5, "Common.lightshow.dat"),
    ]
    assert beatmap.song_duration is None  # songDuration 0.0 means "not stated"
    assert beatmap.audio_duration == pytest.approx(5047744 / 44100)
    # the fixture's one region maps 5047743 samples onto 114.4613... beats: 60 BPM, starting at 0 s
    timing = beatmap.timing(beatmap.difficulties[0])
    assert timing.to_seconds(100.0) == pytest.approx(100.0 * (5047743 / 44100) / 114.46131896972656)
    expert = beatmap.difficulties[0]
    # ExpertPlus colorNotes[1] = {"b": 1.0, "i": 1} -> colorNotesData[1] = {"x": 2, "c": 1}
    assert (expert.notes[1].beat, expert.notes[1].x, expert.notes[1].y, expert.notes[1].color) == (
        1.0,
        2,
        0,
        1,
    )
    assert expert.arcs[0].beat == 11.0 and expert.arcs[0].tail_beat == 13.0
    assert expert.unconverted == []


# --------------------------------------------------------------------------------------------- AudioData


def _info(**audio) -> dict:
    return {
        "version": "4.0.1",
        "song": {"title": "T", "subTitle": "S", "author": "A"},
        "audio": {"songFilename": "song.ogg", "bpm": 120.0, "audioDataFilename": "AudioData.dat", **audio},
        "coverImageFilename": "cover.png",
        "environmentNames": ["WeaveEnvironment"],
        "difficultyBeatmaps": [
            {
                "characteristic": "Standard",
                "difficulty": "Expert",
                "beatmapAuthors": {"mappers": ["Ann", "Bo"], "lighters": ["Cy"]},
                "noteJumpMovementSpeed": 18.0,
                "noteJumpStartBeatOffset": -0.5,
                "beatmapDataFilename": "Expert.beatmap.dat",
                "lightshowDataFilename": "Lights.lightshow.dat",
                "customData": {
                    "_requirements": ["Chroma"],
                    "_suggestions": ["Cinema"],
                    "_difficultyLabel": "Hi",
                },
            },
            {
                "characteristic": "Lawless",
                "difficulty": "ExpertPlus",
                "beatmapAuthors": {"mappers": ["bo", "Dee"]},
                "beatmapDataFilename": "Lawless.beatmap.dat",
            },
        ],
    }


def test_info_fields_and_mapper_union() -> None:
    beatmap = parse_info_v4(_info(songDuration=95.5, previewStartTime=12.0, previewDuration=8.0))
    assert (beatmap.info_version, beatmap.title, beatmap.subtitle, beatmap.artist) == ("4.0.1", "T", "S", "A")
    assert beatmap.mapper == "Ann, Bo, Dee"
    assert (beatmap.preview_start, beatmap.preview_duration, beatmap.cover_filename) == (
        12.0,
        8.0,
        "cover.png",
    )
    assert beatmap.audio_data_filename == "AudioData.dat"
    assert beatmap.audio_duration == 95.5  # songDuration until a sample count is known
    expert, lawless = beatmap.difficulties
    assert (expert.rank, expert.njs, expert.njs_offset, expert.label) == (7, 18.0, -0.5, "Hi")
    assert expert.requirements == ("Chroma",) and expert.suggestions == ("Cinema",)
    assert (lawless.key, lawless.rank, lawless.lightshow_filename) == ("Lawless/ExpertPlus", 9, None)


def test_info_skips_unknown_difficulty_with_a_note() -> None:
    info = _info()
    info["difficultyBeatmaps"][1]["difficulty"] = "Insane"
    beatmap = parse_info_v4(info)
    assert [d.key for d in beatmap.difficulties] == ["Standard/Expert"]
    assert any("Insane" in line for line in beatmap.unconverted)


def test_audio_data_two_regions_timing_by_hand() -> None:
    beatmap = parse_info_v4(_info(songDuration=1.0))
    audio = {
        "version": "4.0.0",
        "songSampleCount": 44100 * 30,
        "songFrequency": 44100,
        # 0-10 s hold beats 0-20 (120 BPM); 10-20 s hold beats 20-30 (60 BPM)
        "bpmData": [
            {"si": 0, "ei": 441000, "sb": 0.0, "eb": 20.0},
            {"si": 441000, "ei": 882000, "sb": 20.0, "eb": 30.0},
        ],
        "lufsData": [{"si": 0, "ei": 10, "l": -2.0}],
    }
    parse_audio_data_v4(audio, beatmap)
    assert beatmap.song_frequency == 44100 and len(beatmap.bpm_regions) == 2
    assert beatmap.audio_duration == 30.0  # the sample count wins over songDuration
    timing = beatmap.timing(beatmap.difficulties[0])
    assert timing.to_seconds(10.0) == pytest.approx(5.0)
    assert timing.to_seconds(25.0) == pytest.approx(15.0)  # 10 s + 5 beats at 1 s/beat
    assert timing.to_beats(15.0) == pytest.approx(25.0)
    assert timing.bpm_at(25.0) == pytest.approx(60.0)


# --------------------------------------------------------------------------------------------- lightshow


def _lightshow() -> dict:
    return {
        "version": "4.0.0",
        "basicEvents": [{"b": 1.0, "i": 0}, {"b": 2.0, "i": 1}, {"b": 3.0, "i": 2}, {"b": 4.0}],
        "basicEventsData": [
            {"t": 1, "i": 5, "f": 0.5, "customData": {"color": [1, 0, 0], "lightID": [1, 2]}},
            {"t": 5, "i": 1},
            {"t": 100, "f": 140.0},
        ],
        "colorBoostEvents": [{"b": 8.0, "i": 1}, {"b": 9.0}],
        "colorBoostEventsData": [{"b": 0}, {"b": 1}],
        "eventBoxGroups": [
            {
                "b": 2.0,
                "g": 3,
                "t": 1,
                "e": [{"f": 1, "e": 0, "l": [{"b": 0.0, "i": 0}, {"b": 0.5, "i": 1}, {"b": 1.0, "i": 2}]}],
            },
            {"b": 4.0, "g": 1, "t": 2, "e": [{"f": 0, "e": 0, "l": [{"b": 0.25, "i": 0}]}]},
            {"b": 5.0, "g": 2, "t": 3, "e": [{"e": 0, "l": [{"i": 0}]}]},
            {
                "b": 6.0,
                "g": 4,
                "t": 4,
                "e": [{"e": 0, "l": [{"b": 0.0, "i": 0}, {"b": 1.0, "i": 0}, {"b": 0.0}]}],
            },
            {"b": 7.0, "g": 0, "t": 0, "e": []},
        ],
        "indexFilters": [
            {"f": 1, "p": 0, "t": 1},
            {"c": 2, "f": 0, "p": 4, "t": 1, "r": 1, "n": 2, "s": 7, "l": 0.5, "d": 3},
        ],
        "lightColorEventBoxes": [{"w": 1.5, "d": 2, "s": 0.25, "t": 1, "b": 1, "e": 3}],
        "lightColorEvents": [
            {"p": 0, "e": -1, "c": 1, "b": 0.75, "f": 4, "sb": 0.2, "sf": 1},
            {"p": 1, "c": 2},
            {"e": 5, "c": 0, "b": 1.0},
        ],
        "lightRotationEventBoxes": [{"w": 2.0, "d": 1, "s": 45.0, "t": 2, "b": 1, "e": 1, "a": 1, "f": 1}],
        "lightRotationEvents": [{"p": 1, "e": 2, "r": 90.0, "d": 2, "l": 3}],
        "lightTranslationEventBoxes": [{"s": 3.6, "t": 1, "a": 2, "f": 1}],
        "lightTranslationEvents": [{"e": 3, "t": -0.5}],
        "fxEventBoxes": [{"w": 1.0, "d": 1, "s": 0.5, "t": 1, "e": 4}],
        "floatFxEvents": [{"p": 1, "e": 3, "v": 100.0}],
        "waypoints": [{"b": 1.0}],
        "waypointsData": [{"x": 1}],
        "useNormalEventsAsCompatibleEvents": True,
    }


def _beatmap_file() -> dict:
    return {
        "version": "4.1.0",
        "colorNotes": [{"b": 1.0, "i": 1}, {"b": 2.0, "r": 15}],
        "colorNotesData": [{"x": 1, "y": 0, "c": 0, "d": 1}, {"x": 3, "y": 2, "c": 1, "d": 7, "a": 15}],
        "bombNotes": [{"b": 3.0}],
        "bombNotesData": [{"x": 2, "y": 1}],
        "obstacles": [{"b": 4.0}],
        "obstaclesData": [{"d": 2.5, "x": 0, "y": 2, "w": 2, "h": 3}],
        "arcs": [{"hb": 1.0, "tb": 2.0, "hi": 1, "ti": 0, "ai": 0}],
        "arcsData": [{"m": 0.75, "tm": 1.25, "a": 2}],
        "chains": [{"hb": 5.0, "tb": 5.5, "i": 0, "ci": 0}],
        "chainsData": [{"tx": 2, "ty": 2, "c": 4, "s": 0.5}],
        "spawnRotations": [{"b": 6.0, "i": 0}],
        "spawnRotationsData": [{"t": 1, "r": -15.0}],
        "njsEvents": [{"b": 1.0}],
        "njsEventData": [{"d": 2.0}],
    }


def _diff() -> Difficulty:
    return Difficulty(
        "Standard", "Expert", 7, "Expert.beatmap.dat", lightshow_filename="Lights.lightshow.dat"
    )


def test_synthetic_beatmap_objects() -> None:
    diff = _diff()
    parse_difficulty_v4(_beatmap_file(), None, diff)
    assert diff.version == "4.1.0"
    n0, n1 = diff.notes
    assert (n0.beat, n0.x, n0.y, n0.color, n0.direction, n0.angle) == (1.0, 3, 2, 1, 7, 15)
    assert (n1.beat, n1.x, n1.y, n1.color, n1.direction) == (2.0, 1, 0, 0, 1)
    assert (diff.bombs[0].x, diff.bombs[0].y) == (2, 1)
    wall = diff.obstacles[0]
    assert (wall.beat, wall.duration, wall.x, wall.y, wall.width, wall.height) == (4.0, 2.5, 0, 2, 2, 3)
    arc = diff.arcs[0]  # head from colorNotesData[1], tail from [0], shape from arcsData[0]
    assert (arc.color, arc.beat, arc.x, arc.y, arc.direction, arc.head_multiplier) == (1, 1.0, 3, 2, 7, 0.75)
    assert (arc.tail_beat, arc.tail_x, arc.tail_y, arc.tail_direction, arc.tail_multiplier) == (
        2.0,
        1,
        0,
        1,
        1.25,
    )
    assert arc.mid_anchor == 2
    chain = diff.chains[0]
    assert (chain.color, chain.beat, chain.x, chain.y, chain.direction) == (0, 5.0, 1, 0, 1)
    assert (chain.tail_beat, chain.tail_x, chain.tail_y, chain.slices, chain.squish) == (5.5, 2, 2, 4, 0.5)
    rot = diff.rotations[0]
    assert (rot.beat, rot.early, rot.rotation) == (6.0, False, -15.0)
    assert any("1 NJS events" in line for line in diff.unconverted)
    assert any("1 objects carry a per-object lane rotation" in line for line in diff.unconverted)


def test_synthetic_lightshow_basic_events_and_boosts() -> None:
    diff = _diff()
    parse_difficulty_v4(_beatmap_file(), _lightshow(), diff)
    # event 0 keeps Chroma; event 1 is a legacy boost; event 2 a legacy BPM change (dropped, noted);
    # event 3 omits `i` and therefore points at basicEventsData[0]
    assert [(e.beat, e.type, e.value, e.float_value) for e in diff.events] == [
        (1.0, 1, 5, 0.5),
        (4.0, 1, 5, 0.5),
    ]
    assert diff.events[0].color == (1.0, 0.0, 0.0) and diff.events[0].light_id == (1, 2)
    assert [(b.beat, b.on) for b in diff.boosts] == [(2.0, True), (8.0, True), (9.0, False)]
    assert diff.use_normal_events_as_compatible is True
    assert any("BPM change" in line for line in diff.unconverted)
    assert any("1 waypoints" in line for line in diff.unconverted)


def test_synthetic_lightshow_box_groups_convert_to_v3() -> None:
    diff = _diff()
    parse_difficulty_v4(_beatmap_file(), _lightshow(), diff)
    groups = diff.light_box_groups
    assert set(groups) == {
        "lightColorEventBoxGroups",
        "lightRotationEventBoxGroups",
        "lightTranslationEventBoxGroups",
        "vfxEventBoxGroups",
        "_fxEventsCollection",
    }
    # colour: the v3 shape of lightshow.md (3.3.0 tab), field by field
    (color_group,) = groups["lightColorEventBoxGroups"]
    assert (color_group["b"], color_group["g"]) == (2.0, 3)
    (box,) = color_group["e"]
    assert box["f"] == {"c": 2, "f": 0, "p": 4, "t": 1, "r": 1, "n": 2, "s": 7, "l": 0.5, "d": 3}
    assert (box["w"], box["d"], box["r"], box["t"], box["b"], box["i"]) == (1.5, 2, 0.25, 1, 1, 3)
    assert set(box) == {"f", "w", "d", "r", "t", "b", "i", "e"}
    e0, e1, e2 = box["e"]
    assert e0 == {"b": 0.0, "i": 0, "c": 1, "s": 0.75, "f": 4, "sb": 0.2, "sf": 1}  # easing -1 -> instant
    assert (e1["b"], e1["i"], e1["c"]) == (0.5, 2, 2)  # p=1 -> extend
    assert (e2["b"], e2["i"], e2["s"]) == (1.0, 1, 1.0)  # easing 5 -> transition, noted as lossy
    assert any("1 light colour events use an easing" in line for line in diff.unconverted)
    # rotation: v4 box `f` (invert axis) is v3 `r`; v4 event `d` (direction) is v3 `o`
    (rot_group,) = groups["lightRotationEventBoxGroups"]
    (rbox,) = rot_group["e"]
    assert rbox["f"]["f"] == 1 and rbox["f"]["t"] == 1
    assert (rbox["w"], rbox["d"], rbox["s"], rbox["t"], rbox["b"], rbox["i"], rbox["a"], rbox["r"]) == (
        2.0,
        1,
        45.0,
        2,
        1,
        1,
        1,
        1,
    )
    assert rbox["l"] == [{"b": 0.25, "p": 1, "e": 2, "r": 90.0, "o": 2, "l": 3}]
    # translation: every omitted field is 0, the filter defaults to indexFilters[0]
    (tbox,) = groups["lightTranslationEventBoxGroups"][0]["e"]
    assert (tbox["s"], tbox["t"], tbox["a"], tbox["r"], tbox["w"]) == (3.6, 1, 2, 1, 0.0)
    assert tbox["l"] == [{"b": 0.0, "p": 0, "e": 3, "t": -0.5}]
    # FX: boxes hold indices into _fxEventsCollection._fl, whose entries carry the beat offsets
    (fbox,) = groups["vfxEventBoxGroups"][0]["e"]
    fl = groups["_fxEventsCollection"]["_fl"]
    assert [fl[i] for i in fbox["l"]] == [
        {"b": 0.0, "p": 1, "i": 3, "v": 100.0},
        {"b": 1.0, "p": 1, "i": 3, "v": 100.0},
        {"b": 0.0, "p": 1, "i": 3, "v": 100.0},
    ]
    assert len(fl) == 2 and groups["_fxEventsCollection"]["_il"] == []
    assert (fbox["s"], fbox["i"]) == (0.5, 4)
    # the type-0 group cannot be carried and says so
    assert any("1 event box groups of type 0" in line for line in diff.unconverted)


def test_lightshow_without_box_groups_leaves_them_empty() -> None:
    diff = _diff()
    parse_difficulty_v4(_beatmap_file(), {"version": "4.0.0", "basicEvents": []}, diff)
    assert diff.light_box_groups == {} and diff.events == []


# ---------------------------------------------------------------------------------------------- bad input


def test_index_out_of_range_names_file_array_and_index() -> None:
    data = _beatmap_file()
    data["colorNotes"][1]["i"] = 9
    with pytest.raises(InvalidValueError) as err:
        parse_difficulty_v4(data, None, _diff())
    assert "Expert.beatmap.dat" in str(err.value) and "colorNotes[1].i = 9" in str(err.value)
    assert "colorNotesData" in str(err.value)
    assert err.value.code == "invalid_value"


@pytest.mark.parametrize(
    ("array", "key"),
    [("arcs", "ti"), ("arcs", "ai"), ("chains", "ci"), ("spawnRotations", "i"), ("obstacles", "i")],
)
def test_other_indices_out_of_range(array: str, key: str) -> None:
    data = _beatmap_file()
    data[array][0][key] = -1
    with pytest.raises(InvalidValueError, match=rf"{array}\[0\]\.{key} = -1"):
        parse_difficulty_v4(data, None, _diff())


def test_lightshow_index_out_of_range() -> None:
    show = _lightshow()
    show["eventBoxGroups"][0]["e"][0]["l"][2]["i"] = 3
    with pytest.raises(InvalidValueError, match=r"Lights\.lightshow\.dat.*lightColorEvents \(3 entries\)"):
        parse_difficulty_v4(_beatmap_file(), show, _diff())
    show = _lightshow()
    show["eventBoxGroups"][1]["e"][0]["f"] = 2
    with pytest.raises(InvalidValueError, match="indexFilters"):
        parse_difficulty_v4(_beatmap_file(), show, _diff())


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2e5, "12"])
def test_bad_beats_raise(bad: object) -> None:
    data = _beatmap_file()
    data["colorNotes"][0]["b"] = bad
    with pytest.raises(InvalidValueError, match=r"colorNotes\[0\]\.b"):
        parse_difficulty_v4(data, None, _diff())
    show = _lightshow()
    show["eventBoxGroups"][0]["e"][0]["l"][0]["b"] = bad
    with pytest.raises(InvalidValueError):
        parse_difficulty_v4(_beatmap_file(), show, _diff())


def test_unknown_major_versions_raise() -> None:
    bad = copy.deepcopy(_beatmap_file())
    bad["version"] = "5.0.0"
    with pytest.raises(UnsupportedVersionError):
        parse_difficulty_v4(bad, None, _diff())
    show = _lightshow()
    show["version"] = "5.0.0"
    with pytest.raises(UnsupportedVersionError):
        parse_difficulty_v4(_beatmap_file(), show, _diff())
    with pytest.raises(UnsupportedVersionError):
        parse_info_v4({**_info(), "version": "5.0.0"})
    with pytest.raises(UnsupportedVersionError):
        parse_audio_data_v4({"version": "3.0.0", "songFrequency": 44100}, parse_info_v4(_info()))


def test_bad_info_and_audio_values_raise() -> None:
    with pytest.raises(InvalidValueError, match="audio.bpm"):
        parse_info_v4(_info(bpm=0))
    with pytest.raises(InvalidValueError, match="audio.bpm"):
        parse_info_v4(_info(bpm=math.nan))
    audio = {
        "version": "4.0.0",
        "songFrequency": 44100,
        "bpmData": [{"si": 0, "ei": 10, "sb": 0, "eb": math.inf}],
    }
    with pytest.raises(InvalidValueError, match=r"bpmData\[0\]\.eb"):
        parse_audio_data_v4(audio, parse_info_v4(_info()))


def test_malformed_custom_data_is_never_fatal() -> None:
    data = _beatmap_file()
    data["customData"] = {
        "fakeColorNotes": [{"b": 1.0, "x": 1, "y": 1, "c": 0, "d": 8}, {"b": "x"}],
        "junk": 5,
    }
    data["colorNotesData"][0]["customData"] = "not an object"
    show = _lightshow()
    show["basicEventsData"][0]["customData"] = {"color": ["red"], "lightID": "all"}
    diff = _diff()
    parse_difficulty_v4(data, show, diff)
    assert len(diff.notes) == 2 and diff.fake_notes == []
    assert any("fake objects ignored" in line for line in diff.unconverted)
    assert diff.events[0].color is None and diff.events[0].light_id is None


def test_fake_objects_go_to_fake_lists() -> None:
    data = _beatmap_file()
    data["customData"] = {
        "fakeColorNotes": [{"b": 7.0, "x": 2, "y": 1, "c": 1, "d": 0}, {"b": 8.0, "i": 1}],
        "fakeBombNotes": [{"b": 9.0, "x": 0, "y": 0}],
    }
    diff = _diff()
    parse_difficulty_v4(data, None, diff)
    assert len(diff.notes) == 2  # fakes never count as notes
    assert [(n.beat, n.x, n.y, n.color) for n in diff.fake_notes] == [(7.0, 2, 1, 1), (8.0, 3, 2, 1)]
    assert [(b.beat, b.x) for b in diff.fake_bombs] == [(9.0, 0)]


def test_errors_are_map_errors() -> None:
    # the reader relies on every bad-input failure being a MapError (it becomes a blacklist reason)
    data = _beatmap_file()
    data["obstacles"] = "nope"
    with pytest.raises(MapError):
        parse_difficulty_v4(data, None, _diff())
    data = _beatmap_file()
    data["bombNotes"] = [3]
    with pytest.raises(MapError):
        parse_difficulty_v4(data, None, _diff())


@pytest.mark.parametrize("folder", _v4_params())
def test_load_map_gives_the_same_counts(folder: Path) -> None:
    from automapper_ml.formats.reader import load_map

    direct, _ = _read_fixture(folder)
    loaded = load_map(folder)
    assert (loaded.title, loaded.mapper, loaded.bpm, loaded.audio_duration) == (
        direct.title,
        direct.mapper,
        direct.bpm,
        direct.audio_duration,
    )

    def counts(d: Difficulty) -> tuple:
        boxes = {k: len(v) for k, v in d.light_box_groups.items() if k != "_fxEventsCollection"}
        return (
            d.key,
            len(d.notes),
            len(d.bombs),
            len(d.obstacles),
            len(d.arcs),
            len(d.chains),
            len(d.events),
            len(d.boosts),
            len(d.rotations),
            boxes,
        )

    assert [counts(d) for d in loaded.difficulties] == [counts(d) for d in direct.difficulties]
