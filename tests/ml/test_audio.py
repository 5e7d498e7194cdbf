"""The frame <-> time rule, checked on synthetic clicks, and the decoding/feature shapes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from automapper_ml import audio
from automapper_ml.formats.model import BpmChange, Timing


def _clicks(times: np.ndarray, seconds: float) -> np.ndarray:
    x = np.zeros(int(seconds * audio.SAMPLE_RATE), dtype=np.float32)
    for t in times:
        i = int(round(t * audio.SAMPLE_RATE))
        x[i : i + 8] = np.hanning(8)  # a sub-millisecond click
    return x


def test_click_energy_peaks_map_back_to_click_times():
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0.5, 29.5, 40))
    times = times[np.diff(times, prepend=0) > 0.25]  # keep clicks apart so peaks are separate
    x = _clicks(times, 30.0)
    energy = audio.power_spectrogram(x).sum(axis=0)
    found = []
    for t in times:
        centre = audio.seconds_to_frame(t)
        lo, hi = centre - 4, centre + 5
        peak = lo + int(np.argmax(energy[lo:hi]))
        found.append(audio.frame_to_seconds(audio.refine_peak(energy, peak)))
    # the click's energy centre is 4 samples after its start (an 8-sample Hann)
    errors = np.array(found) - (times + 3.5 / audio.SAMPLE_RATE)
    assert abs(errors.mean()) < 0.002
    assert np.abs(errors).max() < audio.FRAME_SECONDS / 2


def test_seconds_frame_round_trip():
    frames = np.arange(0, 10000, 7)
    assert np.array_equal(audio.seconds_to_frame(audio.frame_to_seconds(frames)), frames)
    assert audio.seconds_to_frame(1.0) == round(1.0 / audio.FRAME_SECONDS)


def test_features_shapes_and_decoding(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.normal(0, 0.1, (44100 * 3, 2)).astype(np.float32)
    path = tmp_path / "song.egg"
    sf.write(path, stereo, 44100, format="OGG", subtype="VORBIS")
    samples = audio.load_audio(path)
    assert abs(len(samples) - 3 * audio.SAMPLE_RATE) < 10
    same = audio.load_audio(path.read_bytes())
    assert np.array_equal(samples, same)
    feats = audio.compute_features(samples)
    assert feats.mel.shape == (audio.N_MELS, audio.n_frames_for(len(samples)))
    assert feats.structure.shape == (audio.N_STRUCTURE, feats.n_frames)
    assert np.isfinite(feats.mel).all() and np.isfinite(feats.structure).all()


def test_garbage_audio_is_a_clear_error():
    with pytest.raises(audio.AudioError, match="cannot be decoded"):
        audio.load_audio(b"definitely not audio" * 100)
    buf = io.BytesIO()
    sf.write(buf, np.zeros((0, 1), dtype=np.float32), 22050, format="WAV")
    with pytest.raises(audio.AudioError):
        audio.load_audio(buf.getvalue())


def test_beat_grid_honours_bpm_changes():
    timing = Timing.from_changes(120.0, [BpmChange(beat=4.0, bpm=60.0)])
    grid = audio.beat_grid(timing, 6.0)
    # beats 0..4 every 0.5 s (0..2 s), then one per second: 3, 4, 5, 6 s
    assert np.allclose(grid, [0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0])
