"""generation.density: onset counts held inside the corpus's density for the difficulty."""

from __future__ import annotations

import numpy as np
import pytest

from automapper_ml.generation.density import (
    DEFAULT_TARGETS,
    DensityTargets,
    choose_onsets,
    measure_targets,
)
from automapper_ml.generation.peaks import peak_candidates, pick_peaks


def identity(t: np.ndarray) -> np.ndarray:
    return np.unique(np.round(t, 3))


def peaks(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.sort(rng.uniform(0, 100, n)), rng.uniform(0.0, 1.0, n)


def test_inside_the_range_the_model_decides():
    times, heights = peaks(400)
    model = int(np.count_nonzero(heights >= 0.5))
    out = choose_onsets(times, heights, 0.5, (model - 10, model + 10), identity)
    assert len(out) == model
    assert np.array_equal(out, identity(times[heights >= 0.5]))


def test_too_few_takes_the_highest_peaks_up_to_the_lower_bound():
    times, heights = peaks(400)
    out = choose_onsets(times, heights, 0.99, (150, 250), identity)
    assert len(out) == 150
    chosen = np.isin(np.round(times, 3), out)
    assert heights[chosen].min() >= heights[~chosen].max()  # the highest ones, nothing else


def test_too_many_keeps_the_highest_down_to_the_upper_bound():
    times, heights = peaks(400)
    out = choose_onsets(times, heights, 0.05, (50, 100), identity)
    assert len(out) == 100


def test_never_below_the_floor_and_silence_stays_empty():
    times, heights = peaks(400)
    out = choose_onsets(times, heights * 0.01, 0.5, (150, 250), identity, floor=0.02)
    assert len(out) == 0  # a flat curve is noise: no onsets rather than invented ones
    few = heights * 0.01
    few[:20] = 0.9  # 20 real peaks above the floor: those, and no more
    assert len(choose_onsets(times, few, 0.99, (150, 250), identity)) == 20


def test_at_least_raises_the_lower_bound_for_a_harder_difficulty():
    times, heights = peaks(400)
    expert = choose_onsets(times, heights, 0.5, (50, 120), identity)
    plus = choose_onsets(times, heights, 0.5, (40, 100), identity, at_least=len(expert))
    assert len(plus) >= len(expert)


def test_counts_after_snapping_merges():
    """The bounds count snapped onsets: peaks merged on one grid point count once."""
    times = np.repeat(np.arange(100.0), 2) + np.tile([0.0, 0.001], 100)
    heights = np.linspace(1.0, 0.1, 200)

    def snap(t: np.ndarray) -> np.ndarray:
        return np.unique(np.round(t))

    out = choose_onsets(times, heights, 0.99, (80, 90), snap)
    assert 80 <= len(out) <= 90


def test_peak_candidates_match_pick_peaks_at_every_threshold():
    rng = np.random.default_rng(1)
    curve = rng.random(2000) ** 3
    times, heights = peak_candidates(curve, 0.02)
    for threshold in (0.05, 0.2, 0.5, 0.8):
        assert np.allclose(pick_peaks(curve, threshold), times[heights >= threshold])


def test_targets_measure_bounds_and_round_trip():
    rows = [("Expert", int(g), 100.0) for g in np.linspace(200, 400, 11)]
    rows += [("ExpertPlus", int(g), 100.0) for g in np.linspace(300, 500, 11)]
    t = measure_targets(rows)
    assert t.maps == {"Expert": 11, "ExpertPlus": 11}
    assert t.rate("Expert", 0.5) == pytest.approx(3.0)
    assert t.bounds("Expert", 60.0) == (
        round(t.rate("Expert", 0.25) * 60),
        round(t.rate("Expert", 0.75) * 60),
    )
    assert DensityTargets.from_dict(t.to_dict()) == t
    # a difficulty the corpus lacks borrows its nearest neighbour's rates, scaled
    assert 0 < t.rate("Hard", 0.5) < t.rate("Expert", 0.5)
    with pytest.raises(ValueError):
        DensityTargets.from_dict({**t.to_dict(), "version": 99})


def test_default_targets_rise_with_the_difficulty():
    medians = [DEFAULT_TARGETS.rate(d, 0.5) for d in ("Easy", "Normal", "Hard", "Expert", "ExpertPlus")]
    assert medians == sorted(medians) and medians[0] > 0
