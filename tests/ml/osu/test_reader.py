"""The .osu reader and v14 writer: parse -> write -> parse on every fixture, other modes refused
with their name, and broken input refused with one line naming the file and the line."""

from __future__ import annotations

import pytest

from automapper_ml.formats.errors import InvalidValueError, MapError, MapFormatError, UnsupportedVersionError
from automapper_ml.formats.osu import (
    Circle,
    Slider,
    Spinner,
    UnsupportedModeError,
    load_osu,
    osu_bytes,
    read_osu,
)
from automapper_ml.formats.osu.reader import MAX_OSU_BYTES, MAX_SLIDES
from tests.ml.osu.fixtures import OTHER_MODES, other_mode_fixtures, standard_fixtures

SMALL = """osu file format v14

[General]
AudioFilename: audio.mp3
Mode: 0

[Metadata]
Title:Small
Version:Test

[Difficulty]
OverallDifficulty:7

[TimingPoints]
100,500,4,2,0,60,1,0
1100,-50,4,2,0,60,0,1

[HitObjects]
256,192,100,5,0,0:0:0:0:
100,100,600,38,2,B|200:100|200:200,2,150,2|0|8,0:0|1:2|0:0,0:0:0:0:
256,192,1600,12,0,3000,0:0:0:0:
"""


def small(text: str = SMALL, **replace: str) -> bytes:
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode()


@pytest.mark.parametrize("path", standard_fixtures())
def test_fixture_round_trips_through_v14(path):
    m = load_osu(path)
    again = read_osu(osu_bytes(m), path.name)
    assert again == m
    assert again.version == 14
    assert m.hit_objects, "an osu!standard fixture holds hit objects"


@pytest.mark.parametrize("path", other_mode_fixtures())
def test_other_modes_are_refused_with_their_name(path):
    with pytest.raises(UnsupportedModeError) as err:
        load_osu(path)
    assert err.value.mode_name == OTHER_MODES[path.name]
    assert OTHER_MODES[path.name] in str(err.value) and "\n" not in str(err.value)


def test_small_map_reads_every_part():
    m = read_osu(small(), "small.osu")
    circle, slider, spinner = m.hit_objects
    assert isinstance(circle, Circle) and circle.new_combo and circle.combo_skip == 0
    assert isinstance(slider, Slider) and slider.new_combo and slider.combo_skip == 2
    assert slider.curve_type == "B" and slider.anchors == ((200, 100), (200, 200))
    assert slider.slides == 2 and slider.length == 150
    assert slider.edge_sounds == (2, 0, 8) and slider.edge_sets == ((0, 0), (1, 2), (0, 0))
    assert isinstance(spinner, Spinner) and spinner.end_time == 3000
    assert m.difficulty.ar == 7 == m.difficulty.od  # no ApproachRate: the game uses OD
    assert [p.uninherited for p in m.timing_points] == [True, False]
    assert m.timing_points[0].bpm == 120 and m.timing_points[1].slider_velocity == 2


def test_old_versions_take_the_games_defaults_and_offset():
    old = small(**{"v14": "v3", "100,500,4,2,0,60,1,0\n1100,-50,4,2,0,60,0,1": "100,500"})
    m = read_osu(old, "old.osu")
    assert m.version == 3
    (point,) = m.timing_points
    assert point.time == 124 and point.meter == 4 and point.volume == 100 and point.uninherited
    assert m.hit_objects[0].time == 124  # v3/v4 play 24 ms late
    assert read_osu(osu_bytes(m), "x.osu") == m


def test_slider_without_edge_sounds_gets_its_own_hitsound_per_edge():
    m = read_osu(small(**{",2,150,2|0|8,0:0|1:2|0:0,0:0:0:0:": ",1,150"}), "s.osu")
    assert m.hit_objects[1].edge_sounds == (2, 2) and m.hit_objects[1].edge_sets == ((0, 0), (0, 0))


@pytest.mark.parametrize(
    ("edit", "error", "words"),
    [
        (
            {"256,192,100,5": "256,nan,100,5"},
            InvalidValueError,
            "line 19: [HitObjects] y 'nan' is not a finite",
        ),
        ({"256,192,100,5": "256,1e999,100,5"}, InvalidValueError, "finite"),
        ({"256,192,100,5": "256,1e10,100,5"}, InvalidValueError, "out of range"),
        ({"256,192,100,5,0,0:0:0:0:": "256,192"}, MapFormatError, "fewer than 5 fields"),
        ({",2,150,": ",two,150,"}, InvalidValueError, "slider slides"),
        ({",2,150,": f",{MAX_SLIDES + 1},150,"}, InvalidValueError, "outside 1.."),
        ({"B|200:100": "X|200:100"}, MapFormatError, "curve type"),
        ({"B|200:100": "B|200;100"}, MapFormatError, "anchor"),
        ({"256,192,100,5": "256,192,100,128"}, MapFormatError, "hold note"),
        ({"256,192,100,5": "256,192,100,64"}, MapFormatError, "none of circle"),
        ({"100,500,4,2,0,60,1,0": "100"}, MapFormatError, "fewer than 2 fields"),
        ({"v14": "v15"}, UnsupportedVersionError, "v15"),
        ({"Mode: 0": "Mode: 7"}, UnsupportedModeError, "unknown mode"),
        ({"Mode: 0": "Mode: x"}, InvalidValueError, "Mode"),
        ({"[HitObjects]": "[Colours]\nCombo1 : 1,2\n[HitObjects]"}, MapFormatError, "colour"),
    ],
)
def test_broken_input_is_one_line_naming_file_and_line(edit, error, words):
    with pytest.raises(error) as err:
        read_osu(small(**edit), "broken.osu")
    message = str(err.value)
    assert words in message and "broken.osu" in message and "\n" not in message


@pytest.mark.parametrize("data", [b"", b"hello world\n", b"\xff\xfe\x00", b"osu file format v14\n"])
def test_not_an_osu_file_is_a_map_error(data):
    try:
        m = read_osu(data, "junk.osu")
    except MapError as err:
        assert "junk.osu" in str(err)
    else:
        assert m.hit_objects == ()


def test_size_cap_is_checked_before_parsing():
    with pytest.raises(MapFormatError) as err:
        read_osu(b" " * (MAX_OSU_BYTES + 1), "big.osu")
    assert err.value.code == "too_large"


def test_missing_file_is_a_map_error(tmp_path):
    with pytest.raises(MapError) as err:
        load_osu(tmp_path / "none.osu")
    assert err.value.code == "not_found"
