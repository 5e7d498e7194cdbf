"""osu! maps without an osu! model: the baselines evaluation.osu_songs compares the model with.

- `beat_circles`: a circle on every beat of the detected tempo (on the grid `automapper osu generate`
  gives the model: generation.osu_song.song_timing_points), from the first to the last of the song's
  onsets (a trivial rhythm that knows the tempo);
- `onset_circles`: a circle on every onset `librosa.onset.onset_detect` finds, moved to osu!'s
  timeline as the model's grid is (onsets only: what a model adds beyond hearing attacks).

Both take (song path, human map) like every evaluation.osu_songs mapper and use nothing of the human map.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from automapper_ml.formats.osu.model import Circle, OsuMap, TimingPoint


def _circles(times_ms: np.ndarray, timing_points: tuple[TimingPoint, ...]) -> OsuMap:
    """Circles at the times, walking a small loop around the playfield centre (positions do not
    enter the rhythm figures)."""
    objs = []
    for i, t in enumerate(np.unique(np.round(times_ms, 3))):
        angle = i * 0.9
        objs.append(
            Circle(
                x=256 + 120 * math.cos(angle),
                y=192 + 90 * math.sin(angle),
                time=float(t),
                new_combo=i % 8 == 0,
            )
        )
    return OsuMap(timing_points=timing_points, hit_objects=tuple(objs))


def _song_onsets(song: Path) -> tuple[np.ndarray, np.ndarray]:
    import librosa

    from automapper_ml.audio import SAMPLE_RATE, load_audio

    y = load_audio(song)
    return y, librosa.onset.onset_detect(y=y, sr=SAMPLE_RATE, units="time", backtrack=False) * 1000.0


def beat_circles(song: Path, human: OsuMap) -> OsuMap:
    from automapper_ml.audio import SAMPLE_RATE
    from automapper_ml.generation.osu_song import song_timing_points
    from automapper_ml.generation.tempo import detect_tempo

    y, onsets = _song_onsets(song)
    tempo = detect_tempo(y, SAMPLE_RATE)
    points = song_timing_points(tempo, song)
    period = 60_000.0 / tempo.bpm
    first = points[0].time
    lo, hi = (onsets.min(), onsets.max()) if len(onsets) else (0.0, len(y) / SAMPLE_RATE * 1000.0)
    beats = first + period * np.arange(
        math.ceil((lo - first) / period), math.floor((hi - first) / period) + 1
    )
    return _circles(beats, points)


def onset_circles(song: Path, human: OsuMap) -> OsuMap:
    from automapper_ml.generation.osu_song import MP3_TIMELINE_MS, is_mp3

    _, onsets = _song_onsets(song)
    onsets = onsets - (MP3_TIMELINE_MS if is_mp3(song) else 0.0)
    return _circles(onsets, (TimingPoint(0.0, 500.0),))


__all__ = ["beat_circles", "onset_circles"]
