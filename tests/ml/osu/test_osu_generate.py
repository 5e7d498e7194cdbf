"""`automapper osu generate`: a song in, an .osz out that the independent calculator (rosu-pp-py)
reads, every object in the playfield, every slider valid, the star rating within 1.0 of the request;
the request, spacing fit and timeline helpers on their own; bad input in one line."""

from __future__ import annotations

import math
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from automapper_ml.cli import main
from automapper_ml.evaluation.osu import judge_map, slider_path, slider_problems
from automapper_ml.evaluation.osu_stars import osu_stars
from automapper_ml.formats.osu import read_osz
from automapper_ml.formats.osu.model import PLAYFIELD_HEIGHT, PLAYFIELD_WIDTH, Slider
from automapper_ml.generation.osu_song import (
    MP3_TIMELINE_MS,
    STAR_TABLE,
    OsuRequest,
    OsuRequestError,
    fit_spacing,
    scale_spacing,
    song_timing_points,
)
from automapper_ml.generation.tempo import TempoEstimate, user_tempo
from automapper_ml.pretrained.osu import OSU_MODEL_FILE
from automapper_ml.synth import DemoConfig
from automapper_ml.synth.osu import osu_demo_songs, write_osu_demo

needs_model = pytest.mark.skipif(not OSU_MODEL_FILE.is_file(), reason="no shipped osu! model")


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("osu_demo")
    write_osu_demo(folder, osu_demo_songs(DemoConfig(n_songs=1, n_reference=0)))
    (osz,) = sorted(folder.glob("*.osz"))
    return osz


@pytest.fixture(scope="module")
def demo_song(demo_set, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("osu_song")
    with zipfile.ZipFile(demo_set) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".ogg"))
        (folder / "song.ogg").write_bytes(zf.read(name))
    return folder / "song.ogg"


def _inside(x: float, y: float) -> bool:
    return 0 <= x <= PLAYFIELD_WIDTH and 0 <= y <= PLAYFIELD_HEIGHT


# ------------------------------------------------------------------------------ request


def test_request_fills_the_difficulty_from_the_corpus_table():
    table = np.asarray(STAR_TABLE)
    assert (np.diff(table[:, 0]) > 0).all() and (np.diff(table[:, 1]) >= 0).all()  # AR grows with stars
    easy, hard = OsuRequest(stars=2.0).difficulty(), OsuRequest(stars=6.0).difficulty()
    assert easy.ar < hard.ar and easy.od < hard.od and easy.hp <= hard.hp
    d = OsuRequest(stars=4.0, ar=9.5).difficulty()
    assert d.ar == 9.5 and d.od == OsuRequest(stars=4.0).difficulty().od  # asked fields are kept
    assert OsuRequest().target == 4.0  # nothing asked: the default star rating
    assert OsuRequest(ar=8, cs=4, od=7, hp=5).target is None  # the fields are the request
    assert "stars" in OsuRequest(stars=5).version_name() and "AR8" in OsuRequest(ar=8).version_name()


@pytest.mark.parametrize(
    "kwargs", [{"stars": 0.0}, {"stars": math.nan}, {"stars": 11}, {"ar": -1}, {"cs": 10.5}]
)
def test_bad_requests_are_errors(kwargs):
    with pytest.raises(OsuRequestError):
        OsuRequest(**kwargs)


# ------------------------------------------------------------------------------ spacing fit


def test_scale_spacing_moves_positions_only_and_stays_inside(demo_set):
    (_, m), *_ = read_osz(demo_set).beatmaps
    assert scale_spacing(m, 1.0) == m  # the demo maps keep 32 px inside: nothing to move
    for factor in (0.3, 1.0, 2.5):
        scaled = scale_spacing(m, factor)
        assert [o.time for o in scaled.hit_objects] == [o.time for o in m.hit_objects]
        assert [type(o) for o in scaled.hit_objects] == [type(o) for o in m.hit_objects]
        for before, after in zip(m.hit_objects, scaled.hit_objects, strict=True):
            assert _inside(after.x, after.y)
            if isinstance(after, Slider):
                assert after.length == before.length and not slider_problems(after)
                assert all(_inside(*p) for p in slider_path(after))
                offset = np.subtract(slider_path(after), slider_path(before))
                assert np.allclose(offset, offset[0])  # moved whole: same shape
    near = judge_map(scale_spacing(m, 0.3))["spacing_median"]
    far = judge_map(scale_spacing(m, 2.5))["spacing_median"]
    assert near < judge_map(m)["spacing_median"] < far


def test_fit_spacing_moves_the_star_rating_towards_the_target(demo_set):
    (_, m), *_ = read_osz(demo_set).beatmaps
    before = osu_stars(m).stars
    for target in (before - 1.0, before + 1.0):
        fitted, factor, stars = fit_spacing(m, target)
        assert abs(stars - target) < abs(before - target)
        assert stars == pytest.approx(osu_stars(fitted).stars)
        assert (factor < 1) == (target < before)


# ------------------------------------------------------------------------------ timeline


def test_an_mp3_grid_moves_to_osus_timeline(tmp_path):
    tempo = TempoEstimate(120.0, 0.1, 0.5, "detected")
    mp3, ogg = tmp_path / "a.mp3", tmp_path / "a.ogg"
    mp3.write_bytes(b"")
    ogg.write_bytes(b"")
    (p_mp3,), (p_ogg,) = song_timing_points(tempo, mp3), song_timing_points(tempo, ogg)
    assert p_ogg.time == 100.0 and p_mp3.time == pytest.approx(100.0 - MP3_TIMELINE_MS)
    assert p_mp3.beat_length == p_ogg.beat_length == 500.0
    early = song_timing_points(replace(tempo, first_beat_seconds=0.01), mp3)[0]
    assert early.time == pytest.approx(10.0 - MP3_TIMELINE_MS + 500.0)  # never before 0: a beat later
    assert song_timing_points(user_tempo(120.0, 0.1), mp3)[0].time == 100.0  # the user's time is kept


# ------------------------------------------------------------------------------ the command


@needs_model
@pytest.mark.parametrize("stars", [2.5, 5.0])
def test_generate_writes_a_map_the_judge_reads(demo_song, tmp_path, capsys, stars):
    out = tmp_path / "song.osz"
    assert main(["osu", "generate", str(demo_song), "--stars", str(stars), "-o", str(out), "-q"]) == 0
    said = capsys.readouterr().out
    assert f"wrote {out}" in said
    osz = read_osz(out, with_files=True)
    ((_, m),) = osz.beatmaps
    assert m.general.audio_filename in osz.files  # the song travels with the map
    with zipfile.ZipFile(out) as zf:  # the calculator reads the written bytes, not our model of them
        rating = osu_stars(zf.read(next(n for n in zf.namelist() if n.endswith(".osu"))))
    assert (
        rating.mode == "Osu" and rating.circles + rating.sliders + rating.spinners == len(m.hit_objects) > 20
    )
    assert abs(rating.stars - stars) <= 1.0
    figures = judge_map(m)
    assert figures["objects_outside"] == 0 and figures["path_points_outside"] == 0
    assert figures["sliders_invalid"] == 0
    times = [o.time for o in m.hit_objects]
    assert times == sorted(times) and times[-1] <= 1000 * 60  # inside the song


@needs_model
def test_same_seed_same_map(demo_song, tmp_path):
    paths = [tmp_path / f"{i}.osz" for i in range(2)]
    for p in paths:
        assert main(["osu", "generate", str(demo_song), "--seed", "3", "-o", str(p), "-q"]) == 0
    assert paths[0].read_bytes() == paths[1].read_bytes()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--stars", "0"], "--stars must be between"),
        (["--ar", "12"], "--ar must be between"),
        (["-o", "out.zip"], "the output is an .osz set"),
        (["--model", "no-such.pt"], "no-such.pt"),
    ],
)
def test_bad_arguments_are_one_line(demo_song, tmp_path, capsys, args, needle, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["osu", "generate", str(demo_song), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "\n" not in err and "Traceback" not in err


@needs_model
def test_a_silent_song_is_refused_in_one_line(tmp_path, capsys):
    import soundfile as sf

    song = tmp_path / "silence.wav"
    sf.write(song, np.zeros(22050 * 20, dtype=np.float32), 22050)
    rc = main(["osu", "generate", str(song), "-o", str(tmp_path / "x.osz"), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "silent" in err and "\n" not in err
    assert not (tmp_path / "x.osz").exists()
