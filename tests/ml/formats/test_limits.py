"""Each bound of automapper_ml.limits that the map readers check: just inside reads, just outside is
one typed MapError with a one-line reason (never an OverflowError, a RecursionError or a machine
out of memory)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from automapper_ml.formats import reader
from automapper_ml.formats.errors import InvalidValueError, MapError, MapFormatError
from automapper_ml.formats.info_v2 import parse_bpm_info, parse_info_v2
from automapper_ml.formats.jsonvalues import json_depth_exceeds, load_json
from automapper_ml.formats.model import BeatMap, Difficulty
from automapper_ml.formats.reader import load_map
from automapper_ml.formats.v2 import parse_difficulty_v2
from automapper_ml.formats.v3 import parse_difficulty_v3
from automapper_ml.formats.v4 import parse_audio_data_v4, parse_difficulty_v4
from automapper_ml.limits import (
    MAX_ABS_BEAT,
    MAX_AUDIO_SECONDS,
    MAX_BPM,
    MAX_INT_DIGITS,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_OBJECTS_PER_DIFFICULTY,
    MAX_SAMPLE_RATE,
    MIN_BPM,
    MIN_SAMPLE_RATE,
)
from tests.ml.formats.minimal import INFO, V3


def _map(folder: Path, info: dict | bytes = INFO, diff: dict | bytes = V3, **extra: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {"Info.dat": info, "Expert.dat": diff, **extra}.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return folder


def _refused(call, cls: type[MapError] = MapError) -> MapError:
    with pytest.raises(cls) as info:
        call()
    assert str(info.value) and "\n" not in str(info.value)
    return info.value


def _diff() -> Difficulty:
    return Difficulty("Standard", "Expert", 7, "Expert.dat")


# -- JSON ------------------------------------------------------------------------------------------


def test_json_size_cap():
    inside = b"{}" + b" " * (MAX_JSON_BYTES - 2)
    assert load_json(inside, "Expert.dat") == {}
    err = _refused(lambda: load_json(inside + b" ", "Expert.dat"), MapFormatError)
    assert err.code == "too_large" and "Expert.dat" in str(err)


def test_json_depth_cap():
    def nested(depth: int) -> bytes:
        return b'{"a":' * (depth - 1) + b"[]" + b"}" * (depth - 1)

    assert json_depth_exceeds(json.loads(nested(MAX_JSON_DEPTH)), MAX_JSON_DEPTH) is False
    assert load_json(nested(MAX_JSON_DEPTH), "x.dat")
    assert _refused(lambda: load_json(nested(MAX_JSON_DEPTH + 1), "x.dat"), MapFormatError).code == "too_deep"
    # past Python's recursion limit the parser itself gives up: the same one-line error
    assert _refused(lambda: load_json(b"[" * 100_000 + b"]" * 100_000, "x.dat")).code == "too_deep"
    # many siblings are not depth: a wide, flat document passes
    assert load_json(json.dumps([[{}] * 10] * 10_000).encode(), "x.dat")


def test_integer_literal_digits_cap():
    inside = b'{"version": "3.3.0", "customData": {"id": ' + b"9" * MAX_INT_DIGITS + b"}}"
    assert load_json(inside, "x.dat")["customData"]["id"] == int("9" * MAX_INT_DIGITS)
    outside = inside.replace(b"9" * MAX_INT_DIGITS, b"-" + b"9" * (MAX_INT_DIGITS + 1))
    err = _refused(lambda: load_json(outside, "x.dat"), InvalidValueError)
    assert "x.dat" in str(err) and str(MAX_INT_DIGITS + 1) in str(err)


@pytest.mark.parametrize("where", ["bpm", "note"])
def test_401_digit_integers_are_one_line_errors(tmp_path, where):
    """The reported OverflowError: `_beatsPerMinute` or a note's time written as a 401-digit integer."""
    big = "1" * 401
    info = json.dumps(INFO).replace('"_beatsPerMinute": 120', f'"_beatsPerMinute": {big}').encode()
    diff = b'{"version": "3.3.0", "colorNotes": [{"b": ' + big.encode() + b"}]}"
    folder = _map(tmp_path, info=info) if where == "bpm" else _map(tmp_path, diff=diff)
    err = _refused(lambda: load_map(folder), InvalidValueError)
    assert ("Info.dat" if where == "bpm" else "Expert.dat") in str(err)


# -- object counts ---------------------------------------------------------------------------------


def _empties(n: int) -> bytes:
    return b"[" + b",".join([b"{}"] * n) + b"]"


def test_object_count_per_difficulty_v3():
    inside = json.loads(b'{"version": "3.3.0", "colorNotes": ' + _empties(MAX_OBJECTS_PER_DIFFICULTY) + b"}")
    diff = _diff()
    parse_difficulty_v3(inside, diff, "Expert.dat")
    assert len(diff.notes) == MAX_OBJECTS_PER_DIFFICULTY
    # one more, anywhere among the arrays that become objects (here a fake note), is refused unbuilt
    inside["customData"] = {"fakeColorNotes": [{}]}
    diff = _diff()
    err = _refused(lambda: parse_difficulty_v3(inside, diff, "Expert.dat"), InvalidValueError)
    assert err.code == "too_many_objects" and not diff.notes


def test_object_count_per_difficulty_v2_and_v4():
    v2 = json.loads(b'{"_version": "2.6.0", "_notes": ' + _empties(MAX_OBJECTS_PER_DIFFICULTY) + b"}")
    v2["_events"] = [{}]
    diff = _diff()
    assert _refused(lambda: parse_difficulty_v2(v2, diff, "Expert.dat")).code == "too_many_objects"
    assert not diff.notes
    notes = json.loads(_empties(MAX_OBJECTS_PER_DIFFICULTY - 1))
    v4 = {"version": "4.0.0", "colorNotes": notes, "colorNotesData": [{}]}
    show = {"version": "4.0.0", "eventBoxGroups": [{"t": 1, "e": [{"l": []}]}]}  # a group and a box: 2
    assert _refused(lambda: parse_difficulty_v4(v4, show, _diff())).code == "too_many_objects"
    show["eventBoxGroups"][0]["e"] = []  # the group alone: exactly at the cap
    diff = _diff()
    parse_difficulty_v4(v4, None, diff)
    assert len(diff.notes) == MAX_OBJECTS_PER_DIFFICULTY - 1


def test_object_count_counts_v4_light_box_events():
    show = {
        "version": "4.0.0",
        "eventBoxGroups": [{"t": 1, "e": [{"l": [{}] * MAX_OBJECTS_PER_DIFFICULTY}]}],
    }
    v4 = {"version": "4.0.0"}
    assert _refused(lambda: parse_difficulty_v4(v4, show, _diff())).code == "too_many_objects"


def test_twelve_million_empty_notes_are_refused_unparsed(tmp_path):
    """The reported attack: 12,000,001 `{}` notes (36 MB) took the reader past 6 GB. Over
    MAX_JSON_BYTES it is refused before parsing; under it, the object count refuses it unbuilt."""
    diff = b'{"version": "3.3.0", "colorNotes": ' + _empties(12_000_001) + b"}"
    assert len(diff) > MAX_JSON_BYTES
    err = _refused(lambda: load_map(_map(tmp_path, diff=diff)), MapFormatError)
    assert err.code == "too_large" and "Expert.dat" in str(err)


def test_object_count_per_map(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_OBJECTS_PER_MAP", 2)
    info = copy.deepcopy(INFO)
    entries = info["_difficultyBeatmapSets"][0]["_difficultyBeatmaps"]
    entries.append({"_difficulty": "Hard", "_difficultyRank": 5, "_beatmapFilename": "Hard.dat"})
    one = {"version": "3.3.0", "colorNotes": [{}]}
    assert len(load_map(_map(tmp_path / "a", info=info, diff=one, **{"Hard.dat": one})).difficulties) == 2
    two = {"version": "3.3.0", "colorNotes": [{}, {}]}
    folder = _map(tmp_path / "b", info=info, diff=one, **{"Hard.dat": two})
    assert _refused(lambda: load_map(folder), InvalidValueError).code == "too_many_objects"


# -- beats, tempo, sample rates --------------------------------------------------------------------


def test_beat_cap():
    diff = _diff()
    parse_difficulty_v3({"version": "3.3.0", "colorNotes": [{"b": MAX_ABS_BEAT}]}, diff, "Expert.dat")
    assert diff.notes[0].beat == MAX_ABS_BEAT
    outside = {"version": "3.3.0", "colorNotes": [{"b": MAX_ABS_BEAT * (1 + 1e-9)}]}
    err = _refused(lambda: parse_difficulty_v3(outside, _diff(), "Expert.dat"), InvalidValueError)
    assert "colorNotes[0].b" in str(err)


@pytest.mark.parametrize("bpm", [MIN_BPM, MAX_BPM])
def test_info_bpm_inside(bpm):
    assert parse_info_v2({**INFO, "_beatsPerMinute": bpm}).bpm == bpm


@pytest.mark.parametrize("bpm", [0, MIN_BPM * 0.999, MAX_BPM * 1.001, float("nan"), -120])
def test_info_bpm_outside(bpm):
    err = _refused(lambda: parse_info_v2({**INFO, "_beatsPerMinute": bpm}), InvalidValueError)
    assert "_beatsPerMinute" in str(err)


def test_bpm_changes():
    def changes(m: float) -> list[float]:
        diff = _diff()
        parse_difficulty_v3({"version": "3.3.0", "bpmEvents": [{"b": 2, "m": m}]}, diff, "Expert.dat")
        return [c.bpm for c in diff.bpm_changes]

    assert changes(MIN_BPM) == [MIN_BPM] and changes(MAX_BPM) == [MAX_BPM]
    assert changes(0) == [0]  # read, and skipped by Timing (the tempo before it holds), as always
    for bad in (MIN_BPM / 2, MAX_BPM * 1.001):
        assert "bpmEvents[0].m" in str(_refused(lambda bad=bad: changes(bad), InvalidValueError))
    v2 = {"_version": "2.6.0", "_events": [{"_time": 1, "_type": 100, "_floatValue": MAX_BPM * 2}]}
    assert "_events[0]._floatValue" in str(_refused(lambda: parse_difficulty_v2(v2, _diff(), "E.dat")))


def _region(end_sample: int, end_beat: float, start_sample: int = 0) -> dict:
    return {
        "_startSampleIndex": start_sample,
        "_endSampleIndex": end_sample,
        "_startBeat": 0,
        "_endBeat": end_beat,
    }


def test_bpm_info_regions():
    beatmap = parse_info_v2(INFO)
    # just inside MAX_BPM (1e6 beats a minute: 1e6 / 60 beats in one second of samples) and MIN_BPM
    for region in (_region(48000, MAX_BPM / 60 * 0.999), _region(48000 * 60, MIN_BPM * 1.001)):
        parse_bpm_info({"_songFrequency": 48000, "_regions": [region]}, beatmap)
        assert len(beatmap.bpm_regions) == 1
    for region in (_region(48000, MAX_BPM / 60 * 1.001), _region(48000 * 60, MIN_BPM * 0.99)):
        err = _refused(lambda r=region: parse_bpm_info({"_songFrequency": 48000, "_regions": [r]}, beatmap))
        assert "_regions[0]" in str(err) and "BPM" in str(err)
    far = _region(int(48000 * MAX_AUDIO_SECONDS) + 1, 10, start_sample=int(48000 * MAX_AUDIO_SECONDS) - 100)
    assert "past the" in str(
        _refused(lambda: parse_bpm_info({"_songFrequency": 48000, "_regions": [far]}, beatmap))
    )


def test_reported_region_attack_is_ignored_with_a_note(tmp_path):
    """BPMInfo.dat mapping samples 0..1 onto beats 0..100000: the editor-only file is skipped, noted."""
    bpm_info = {"_version": "2.0.0", "_songFrequency": 44100, "_songSampleCount": 44100 * 60}
    bpm_info["_regions"] = [_region(1, 100_000)]
    beatmap = load_map(_map(tmp_path, **{"BPMInfo.dat": bpm_info}))
    assert not beatmap.bpm_regions and beatmap.timing().bpm_at(10) == 120
    assert any("BPMInfo.dat: ignored" in line and "BPM" in line for line in beatmap.unconverted)


def test_audio_data_regions_refuse_the_map():
    """The same region through v4 AudioData.dat (which the game reads): the map is refused."""
    beatmap = BeatMap("4.0.1", "t", "a", "m", 120.0, "song.ogg")
    data = {
        "version": "4.0.0",
        "songFrequency": 44100,
        "bpmData": [{"si": 0, "ei": 1, "sb": 0, "eb": 100_000}],
    }
    err = _refused(lambda: parse_audio_data_v4(data, beatmap), InvalidValueError)
    assert "bpmData[0]" in str(err)
    data["bpmData"] = [{"si": 0, "ei": 44100, "sb": 0, "eb": 2}]  # 120 BPM
    parse_audio_data_v4(data, beatmap)
    assert beatmap.timing().bpm_at(1) == pytest.approx(120)


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, 0])
def test_song_frequency_inside(rate):
    beatmap = parse_info_v2(INFO)
    parse_bpm_info({"_songFrequency": rate, "_songSampleCount": 1000}, beatmap)
    assert beatmap.song_frequency == (rate or None)


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 2_147_483_647])
def test_song_frequency_outside(rate):
    err = _refused(lambda: parse_bpm_info({"_songFrequency": rate}, parse_info_v2(INFO)), InvalidValueError)
    assert "_songFrequency" in str(err)
    err = _refused(
        lambda: parse_audio_data_v4({"version": "4.0.0", "songFrequency": rate}, parse_info_v2(INFO))
    )
    assert "songFrequency" in str(err)
