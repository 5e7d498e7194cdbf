"""Tempo detection on synthetic click tracks at known BPM and phase; beat alignment; grid snapping."""

from __future__ import annotations

import numpy as np
import pytest

from automapper_ml.audio import AudioError
from automapper_ml.formats.model import ColorNote
from automapper_ml.generation.tempo import (
    beat_timing,
    detect_tempo,
    snap_beats,
    snap_notes,
    user_tempo,
)

SR = 22050


def click_track(
    bpm: float, phase: float, seconds: float = 30.0, sr: int = SR, eighths: bool = False, seed: int = 0
) -> np.ndarray:
    """(n,) float32: a 5 ms-decay 1 kHz click on every beat (and a softer one between with `eighths`)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    length = int(0.03 * sr)
    t = np.arange(length) / sr
    click = (np.sin(2 * np.pi * 1000 * t) * np.exp(-t / 0.005)).astype(np.float32)
    step = 60.0 / bpm / (2 if eighths else 1)
    for k in range(int(seconds / step) + 1):
        at = phase + k * step
        if at >= seconds - 0.1:
            break
        i = int(round(at * sr))
        y[i : i + length] += (1.0 if k % 2 == 0 or not eighths else 0.6) * click[: len(y) - i]
    return y + 0.01 * rng.standard_normal(len(y)).astype(np.float32)


def phase_error(found: float, true: float, bpm: float) -> float:
    period = 60.0 / bpm
    return abs((found - true + period / 2) % period - period / 2)


@pytest.mark.parametrize(("bpm", "phase"), [(87, 0.31), (128, 0.05), (174, 0.2), (100, 0.0), (140.5, 0.37)])
def test_click_track_bpm_and_phase(bpm: float, phase: float) -> None:
    est = detect_tempo(click_track(bpm, phase), SR)
    assert est.source == "detected"
    assert abs(est.bpm / bpm - 1) < 0.01, est  # an octave error fails here too
    assert phase_error(est.first_beat_seconds, phase, bpm) < 0.020, est
    assert 0 <= est.first_beat_seconds < 60.0 / est.bpm
    assert est.confidence > 0.5


def test_other_sample_rate_and_stereo() -> None:
    y = click_track(128, 0.12, sr=44100)
    est = detect_tempo(np.stack([y, y], axis=1), 44100)
    assert abs(est.bpm / 128 - 1) < 0.01
    assert phase_error(est.first_beat_seconds, 0.12, 128) < 0.020


def test_ambiguous_octaves_prefer_beat_saber_range() -> None:
    # Documented ambiguity: even eighths at 87 BPM score like 174 BPM; 174 is inside 100-200.
    est = detect_tempo(click_track(87, 0.2, eighths=True), SR)
    assert abs(est.bpm / 174 - 1) < 0.01
    # 240 BPM clicks score exactly like 120: the preferred octave is taken.
    est = detect_tempo(click_track(240, 0.2), SR)
    assert abs(est.bpm / 120 - 1) < 0.01


def test_user_bpm_detects_phase_only() -> None:
    est = detect_tempo(click_track(128, 0.21), SR, bpm=128.0)
    assert est.bpm == 128.0 and est.source == "user_bpm_detected_phase"
    assert phase_error(est.first_beat_seconds, 0.21, 128) < 0.020


def test_silence_and_bad_audio() -> None:
    est = detect_tempo(np.zeros(SR * 5, np.float32), SR)
    assert est.source == "default" and est.confidence == 0.0
    with pytest.raises(AudioError):
        detect_tempo(np.array([0.0, np.nan] * 100), SR)
    with pytest.raises(AudioError):
        detect_tempo(np.zeros(0), SR)
    with pytest.raises(ValueError):
        user_tempo(0.0)


def test_beat_timing_puts_the_first_beat_on_an_integer_beat() -> None:
    align = beat_timing(120.0, 0.3)  # period 0.5 s
    assert align.first_beat == 1 and align.pad_seconds == pytest.approx(0.2)
    assert align.to_beats(0.3) == pytest.approx(1.0)
    assert align.to_beats(0.3 + 0.5 * 7) == pytest.approx(8.0)
    assert align.to_seconds(align.to_beats(12.34)) == pytest.approx(12.34)
    # The padded audio's Timing (what the map uses) agrees with to_beats.
    assert align.timing.to_beats(0.3 + align.pad_seconds) == pytest.approx(1.0)
    padded = align.pad_audio(np.ones(100, np.float32), 1000)
    assert len(padded) == 300 and padded[:200].sum() == 0
    on_zero = beat_timing(128.0, 0.0)
    assert on_zero.first_beat == 0 and on_zero.pad_seconds == 0.0
    folded = beat_timing(60.0, 2.25)  # a phase past a beat is folded into one period
    assert folded.first_beat_seconds == pytest.approx(0.25) and folded.to_beats(2.25) == pytest.approx(3.0)


def test_snap_beats_to_eighths_and_sixths() -> None:
    got = snap_beats(np.array([0.01, 0.124, 0.16, 0.34, 0.5, 2.9, 1.0 / 3 + 0.004]))
    assert got == pytest.approx([0.0, 0.125, 1 / 6, 1 / 3, 0.5, 2.875, 1 / 3])
    assert snap_beats(np.array([0.3]), (4,)) == pytest.approx([0.25])
    with pytest.raises(ValueError):
        snap_beats(np.array([1.0]), (0,))


def test_snap_notes_keeps_one_time_per_hand() -> None:
    notes = [
        ColorNote(1.01, 1, 0, 0, 1),
        ColorNote(1.01, 1, 1, 0, 1),  # a stack at the same original time: kept together
        ColorNote(0.97, 3, 0, 0, 1),  # another original time, farther from beat 1: dropped
        ColorNote(1.03, 2, 0, 1, 1),  # the other hand keeps its note
    ]
    out = snap_notes(notes)
    red = [n for n in out if n.color == 0]
    assert all(n.beat == 1.0 for n in out)
    assert {(n.x, n.y) for n in red} == {(1, 0), (1, 1)}
    assert len([n for n in out if n.color == 1]) == 1
    assert notes[0].beat == 1.01  # inputs untouched
