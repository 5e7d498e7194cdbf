"""Onset F1 equals mir_eval's on random cases; peak picking finds planted peaks."""

from __future__ import annotations

import numpy as np
import pytest

from automapper_ml import audio
from automapper_ml.evaluation.onsets import onset_scores, pooled_scores
from automapper_ml.generation.peaks import pick_peaks

mir_eval = pytest.importorskip("mir_eval")


@pytest.mark.parametrize("seed", range(200))
def test_scores_equal_mir_eval(seed):
    rng = np.random.default_rng(seed)
    n_ref, n_est = rng.integers(0, 40, size=2)
    ref = np.sort(rng.uniform(0, 10, n_ref))
    # estimates: jittered copies of some references plus random extras, so matches are contested
    kept = ref[rng.random(n_ref) < 0.7]
    jittered = kept + rng.normal(0, 0.04, len(kept))
    est = np.sort(np.concatenate([jittered, rng.uniform(0, 10, n_est)]))
    ours = onset_scores(ref, est)
    if len(ref) == 0 or len(est) == 0:
        assert ours.f1 == 0.0
        return
    f, p, r = mir_eval.onset.f_measure(ref, est, window=0.05)
    assert ours.f1 == pytest.approx(f, abs=1e-12)
    assert ours.precision == pytest.approx(p, abs=1e-12)
    assert ours.recall == pytest.approx(r, abs=1e-12)


def test_dense_contested_cases_equal_mir_eval():
    rng = np.random.default_rng(7)
    for _ in range(100):
        ref = np.sort(rng.uniform(0, 1, rng.integers(1, 30)))
        est = np.sort(rng.uniform(0, 1, rng.integers(1, 30)))
        f, _, _ = mir_eval.onset.f_measure(ref, est, window=0.05)
        assert onset_scores(ref, est).f1 == pytest.approx(f, abs=1e-12)


def test_pooled_scores_pool_counts():
    a = (np.array([1.0, 2.0]), np.array([1.01]))
    b = (np.array([5.0]), np.array([5.0, 6.0, 7.0]))
    s = pooled_scores([a, b])
    assert (s.matches, s.n_reference, s.n_estimated) == (2, 3, 4)
    assert s.precision == pytest.approx(0.5) and s.recall == pytest.approx(2 / 3)


def test_pick_peaks_finds_planted_peaks_with_subframe_precision():
    times = np.array([0.5, 0.93, 1.7, 2.05, 3.333])
    frames = np.arange(int(4 / audio.FRAME_SECONDS))
    t = frames * audio.FRAME_SECONDS
    curve = np.zeros_like(t)
    for x in times:
        curve = np.maximum(curve, np.exp(-0.5 * ((t - x) / (2 * audio.FRAME_SECONDS)) ** 2))
    found = pick_peaks(curve, threshold=0.5)
    assert len(found) == len(times)
    assert np.abs(found - times).max() < 0.25 * audio.FRAME_SECONDS
    assert len(pick_peaks(curve * 0.4, threshold=0.5)) == 0
