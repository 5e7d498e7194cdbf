"""The song editor's signal half (issue 17): the aligner recovers known edits exactly, pointers
render back to the edit without clicks, ops follow the pointers, and pairs that are not edits of
the raw song are refused with a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest

from automapper_ml.audio import SAMPLE_RATE, load_audio
from automapper_ml.editing.align import JUMP_COST, align_audio, align_frames
from automapper_ml.editing.assemble import CLICK_LIMIT, join_clicks, pointer_joins, render_pointers
from automapper_ml.editing.pointers import OP, STOP, cut_frames, frame_ops, segments
from automapper_ml.synth.audio import encode_ogg, render_song
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.edits import edit_song, plan_runs, render_runs


@pytest.fixture(scope="module")
def song_and_raw():
    song = compose_song(4242, 50.0)
    return song, render_song(song, SAMPLE_RATE)


def _through_ogg(samples: np.ndarray) -> np.ndarray:
    return load_audio(io.BytesIO(encode_ogg(samples, SAMPLE_RATE)).getvalue())


def test_segments_ops_and_cuts_follow_the_pointers():
    p = np.array([5, 6, 7, 20, 21, 10, 11, 12, STOP, -1])
    assert [(s.edit_start, s.raw_start, s.length) for s in segments(p)] == [(0, 5, 3), (3, 20, 2), (5, 10, 3)]
    assert cut_frames(p).tolist() == [0, 3, 5]
    # the intro was cut (raw frame 5 first): the cut mark wins over the fade on frame 0
    ops = frame_ops(p, np.array([-6, -2, 0, 0, 0, 0, 0, -3]))
    assert ops.tolist() == [OP["SKIP"], OP["FADE_IN"], OP["COPY"], OP["SKIP"], OP["LOOP_END"],
                            OP["LOOP_START"], OP["COPY"], OP["STOP"]]  # fmt: skip
    assert cut_frames(np.arange(4)).tolist() == []  # an untouched song has no cut


def test_viterbi_prefers_continuity_and_takes_a_jump_worth_it():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(60, 16)).astype(np.float32)
    raw /= np.linalg.norm(raw, axis=1, keepdims=True)
    truth = np.r_[np.arange(10, 30), np.arange(45, 55), np.arange(20, 28)]
    path, cost = align_frames(raw[truth], raw)
    assert path.tolist() == truth.tolist()
    assert cost == pytest.approx(2 * JUMP_COST / len(truth), abs=1e-4)  # two jumps, every frame matched
    with pytest.raises(ValueError, match="empty"):
        align_frames(raw[:0], raw)


@pytest.mark.parametrize("rules", [("cut_intro", "drop_chorus"), ("loop_bars", "fade_out"), ("shorten",)])
def test_aligner_recovers_synthetic_edits_through_vorbis(song_and_raw, rules):
    song, raw = song_and_raw
    runs = plan_runs(song, rules, target_seconds=30.0)
    edit, truth, _ = render_runs(raw, SAMPLE_RATE, runs, 40 if "fade_out" in rules else 0)
    assert len(runs) > 1 or runs[0][0] > 0 or len(truth) < len(raw) // 1024 - 40  # the rule did edit
    result = align_audio(_through_ogg(raw), _through_ogg(edit))
    n = min(len(result.pointers), len(truth))
    assert abs(len(result.pointers) - len(truth)) <= 1
    assert np.mean(result.pointers[:n] == truth[:n]) >= 0.98
    assert np.mean(np.abs(result.pointers[:n] - truth[:n]) <= 5) >= 0.99
    assert result.problem() is None, result.distance_db
    true_cuts = cut_frames(truth)
    assert len(result.cuts) == len(true_cuts) and np.all(np.abs(result.cuts - true_cuts) <= 1)
    if "fade_out" in rules:
        assert (result.ops[-20:-1] == OP["FADE_OUT"]).all()


def test_unrelated_audio_is_refused_with_a_reason(song_and_raw):
    _, raw = song_and_raw
    other = render_song(compose_song(7, 30.0), SAMPLE_RATE)
    result = align_audio(raw, other)
    assert result.problem() is not None and "dB" in result.problem()


def test_crossfaded_joins_do_not_click_where_hard_cuts_do():
    t = np.arange(SAMPLE_RATE * 4) / SAMPLE_RATE
    raw = (0.5 * np.sin(2 * np.pi * 110 * t) + 0.3 * np.sin(2 * np.pi * 173 * t)).astype(np.float32)
    pointers = np.r_[np.arange(0, 20), np.arange(47, 70)]  # a jump between unrelated phases
    joins = pointer_joins(pointers, SAMPLE_RATE)
    smooth = render_pointers(raw, SAMPLE_RATE, pointers)
    hard = render_pointers(raw, SAMPLE_RATE, pointers, crossfade_seconds=1 / SAMPLE_RATE)
    assert len(joins) == 1
    (click,), (hard_click,) = (
        join_clicks(smooth, raw, SAMPLE_RATE, joins),
        join_clicks(hard, raw, SAMPLE_RATE, joins),
    )
    assert click <= CLICK_LIMIT < 10 * CLICK_LIMIT < hard_click
    # a run copies the raw exactly away from its joins
    hop = len(smooth) / len(pointers)
    a = int(25 * hop)
    assert np.allclose(smooth[a : a + 500], raw[int(52 * hop) : int(52 * hop) + 500], atol=1e-3)


def test_edit_song_pairs_are_reproducible_and_shorter(song_and_raw):
    song, raw = song_and_raw
    a = edit_song(song, raw, SAMPLE_RATE, np.random.default_rng(3))
    b = edit_song(song, raw, SAMPLE_RATE, np.random.default_rng(3))
    assert a.rules == b.rules and np.array_equal(a.pointers, b.pointers) and np.array_equal(a.edit, b.edit)
    assert a.rules and a.pointers.min() >= 0 and a.pointers.max() < len(raw) / 1024
    assert len(cut_frames(a.pointers)) >= 1 or len(a.pointers) < len(raw) / 1024 - 40
