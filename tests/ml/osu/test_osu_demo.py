"""The osu! demo charter (synth/osu.py) over a few short composed songs: byte-identical sets per
seed, every map valid for the judge and read by rosu-pp-py, objects only on the composition's onsets,
new combos on downbeats, and star ratings rising with the difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from automapper_ml.evaluation.osu import judge_map, map_problems, rhythm_figures
from automapper_ml.evaluation.osu_stars import osu_stars, stars_available
from automapper_ml.formats.osu import Circle, OsuMap, Slider, Spinner, osu_bytes, read_osu, read_osz
from automapper_ml.synth.audio import encode_ogg, render_song
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.corpus import DemoConfig, plan_corpus
from automapper_ml.synth.osu import (
    AUDIO_NAME,
    OSU_DIFFICULTIES,
    chart_osu,
    downbeats,
    osu_demo_songs,
    song_beat,
    timing_points,
    write_osu_demo,
)

SONGS = [compose_song(11, 20.0), compose_song(12, 24.0, bpm_change=True), compose_song(13, 22.0)]
WINDOW_S = 0.010


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("osu_demo")
    return write_osu_demo(out, SONGS, seed=5)


@pytest.fixture(scope="module")
def charts() -> list[list[OsuMap]]:
    """Every difficulty of every test song, easiest first."""
    return [[chart_osu(song, name, seed=5) for name in OSU_DIFFICULTIES] for song in SONGS]


def onsets(song) -> np.ndarray:
    """Seconds of every rendered hit and every held note (chord, bass) start, sorted."""
    timing = song.timing()
    tones = [timing.to_seconds(t.beat) for t in (*song.chords, *song.bass)]
    return np.unique(np.concatenate([song.hit_seconds(), tones]))


def test_same_seed_same_bytes(written, tmp_path):
    again = write_osu_demo(tmp_path / "again", SONGS, seed=5)
    assert [p.name for p in again] == [p.name for p in written]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(again, written, strict=True))
    other = write_osu_demo(tmp_path / "other", SONGS[:1], seed=6)
    assert other[0].read_bytes() != written[0].read_bytes()
    with pytest.raises(ValueError, match="1 audio files for 2 songs"):
        write_osu_demo(tmp_path / "bad", SONGS[:2], audio=[b"OggS"])


def test_sets_read_back_valid_with_audio(written):
    for path, song in zip(written, SONGS, strict=True):
        osz = read_osz(path, with_files=True)
        assert not osz.refused
        assert 2 <= len(osz.beatmaps) <= 3
        assert osz.audio() == encode_ogg(render_song(song))
        assert all(m.general.audio_filename == AUDIO_NAME for _, m in osz.beatmaps)
        names = sorted((m.metadata.version for _, m in osz.beatmaps), key=OSU_DIFFICULTIES.index)
        first = OSU_DIFFICULTIES.index(names[0])  # neighbouring difficulties
        assert names == list(OSU_DIFFICULTIES[first : first + len(names)])
        for name, m in osz.beatmaps:
            assert read_osu(osu_bytes(m), name) == m
            assert map_problems(m) == []
            figures = judge_map(m)
            assert figures["objects_outside"] == figures["path_points_outside"] == 0
            assert figures["sliders_invalid"] == 0


def test_every_object_kind_and_curve_present(charts):
    objects = [o for maps in charts for m in maps for o in m.hit_objects]
    kinds = {type(o) for o in objects}
    assert kinds == {Circle, Slider, Spinner}
    sliders = [o for o in objects if isinstance(o, Slider)]
    assert {s.curve_type for s in sliders} == {"L", "B", "P"}
    assert any(s.slides > 1 for s in sliders)  # repeats on long holds
    for maps in charts:
        for m in maps:
            assert map_problems(m) == []


def test_objects_sit_on_the_composition_onsets(charts):
    for song, maps in zip(SONGS, charts, strict=True):
        ref_times = onsets(song)
        reference = OsuMap(hit_objects=tuple(Circle(0, 0, t * 1000.0) for t in ref_times))
        for m in maps:
            times = np.array([o.time for o in m.hit_objects]) / 1000.0
            nearest = np.abs(ref_times[None, :] - times[:, None]).min(axis=1)
            assert nearest.max() <= WINDOW_S, m.metadata.version
            assert rhythm_figures(m, reference)["rhythm_precision_10ms"] == 1.0
            # against the onsets it mapped (one per object), F1 is 1: no two objects share an onset
            mapped = ref_times[np.abs(ref_times[None, :] - times[:, None]).argmin(axis=1)]
            chosen = OsuMap(hit_objects=tuple(Circle(0, 0, t * 1000.0) for t in mapped))
            assert rhythm_figures(m, chosen)["rhythm_f1_10ms"] == 1.0


def test_new_combos_on_downbeats(charts):
    for song, maps in zip(SONGS, charts, strict=True):
        bars = downbeats(song)
        for m in maps:
            previous_bar = None
            for i, o in enumerate(m.hit_objects):
                beat = round(song_beat(song, o.time / 1000.0) * 4) / 4
                bar = max(b for b in bars if b <= beat)
                if beat in bars or isinstance(o, Spinner) or i == 0:
                    assert o.new_combo, (m.metadata.version, o)
                elif o.new_combo:  # only a bar's first object or the one after a spinner
                    assert bar != previous_bar or isinstance(m.hit_objects[i - 1], Spinner)
                previous_bar = bar


def test_timing_points_follow_the_tempo_map():
    for song in SONGS:
        red = [p for p in timing_points(song) if p.uninherited]
        first = song.timing().to_seconds(song.sections[0].start_beat) * 1000
        assert red[0].time == round(first)
        assert red[0].beat_length == pytest.approx(60_000.0 / song.bpm)
        assert [p.bpm for p in red[1:]] == pytest.approx([c.bpm for c in song.bpm_changes])


@pytest.mark.skipif(not stars_available(), reason="rosu-pp-py is not installed")
def test_rosu_reads_every_map_and_stars_rise(written, charts):
    for path in written:
        for name, m in read_osz(path).beatmaps:
            stars = osu_stars(m)
            assert stars.mode == "Osu"
            counts = [sum(isinstance(o, k) for o in m.hit_objects) for k in (Circle, Slider, Spinner)]
            assert [stars.circles, stars.sliders, stars.spinners] == counts, name
    for maps in charts:
        ratings = [osu_stars(m).stars for m in maps]
        assert ratings == sorted(ratings) and len(set(ratings)) == len(ratings), ratings


@pytest.mark.skipif(not stars_available(), reason="rosu-pp-py is not installed")
def test_demo_corpus_songs_chart_valid_and_ordered():
    """The default demo corpus's own songs (30-45 s, charted without audio): no judge problem, every
    object on an onset, and stars rising with the difficulty on every song."""
    config = DemoConfig(n_songs=6)
    songs = osu_demo_songs(config)
    assert [s.title for s in songs] == [p.title for p in plan_corpus(config)[0]]
    for song in songs:
        ref_times = onsets(song)
        ratings = []
        for name in OSU_DIFFICULTIES:
            m = chart_osu(song, name)
            assert map_problems(m) == [], (song.title, name)
            times = np.array([o.time for o in m.hit_objects]) / 1000.0
            assert np.abs(ref_times[None, :] - times[:, None]).min(axis=1).max() <= WINDOW_S
            ratings.append(osu_stars(m).stars)
        assert ratings == sorted(ratings), (song.title, ratings)
