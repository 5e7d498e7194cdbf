"""quality_report on hand-built maps: every figure worked out by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from automapper_ml.evaluation.quality import off_beat_mask, quality_report
from automapper_ml.formats.model import BpmChange, ColorNote, Timing

UP, DOWN, DOT = 0, 1, 8


def hand_built() -> list[ColorNote]:
    red = [
        ColorNote(0, 1, 0, 0, DOWN),
        ColorNote(1, 1, 1, 0, UP),
        ColorNote(2, 0, 0, 0, DOWN),
        ColorNote(3, 1, 0, 0, DOWN),  # down after down: the one parity error
        ColorNote(4 + 1 / 3, 1, 1, 0, UP),  # on the 1/6 grid
        ColorNote(5, 0, 0, 0, DOWN),  # a stack: one swing of two notes
        ColorNote(5, 0, 1, 0, DOWN),
    ]
    blue = [
        ColorNote(0, 2, 0, 1, DOWN),
        ColorNote(1, 2, 1, 1, UP),
        ColorNote(2.03, 3, 0, 1, DOWN),  # 0.03 beat off both grids
        ColorNote(3.0625, 3, 2, 1, DOT),  # a 1/16: off both grids
    ]
    return red + blue


def test_hand_built_map_figures() -> None:
    r = quality_report(hand_built())
    assert r.notes == 11
    assert r.swings == 10  # red 6 (the stack is one), blue 4
    assert r.parity_errors == 1
    assert r.parity_errors_per_100_swings == pytest.approx(10.0)
    assert r.left_share == pytest.approx(7 / 11)
    assert r.cells_used == 8
    expected_occupancy = np.array([[2, 2, 1, 1], [1, 2, 1, 0], [0, 0, 0, 1]]) / 11
    np.testing.assert_allclose(r.occupancy, expected_occupancy)
    assert r.occupancy.shape == (3, 4)
    histogram = np.zeros(9)
    histogram[[UP, DOWN, DOT]] = [3, 7, 1]
    np.testing.assert_allclose(r.direction_histogram, histogram / 11)
    assert r.up_down_share == pytest.approx(10 / 11)
    assert r.most_common_share == pytest.approx(2 / 11)  # three (x, y, direction, colour) appear twice
    assert r.distinct_patterns == 8
    assert r.off_beat_share == pytest.approx(2 / 10)
    assert r.nps == pytest.approx(11 / 2.5)  # last note at beat 5, read at 120 BPM without timing


def test_timing_and_duration_change_nps_only() -> None:
    slow = quality_report(hand_built(), Timing.from_changes(60, []))
    assert slow.nps == pytest.approx(11 / 5)
    assert slow.swings == 10 and slow.parity_errors == 1
    assert quality_report(hand_built(), duration_seconds=10.0).nps == pytest.approx(1.1)


def test_collapsed_and_empty_maps() -> None:
    same = [ColorNote(b, 1, 0, 0, DOWN) for b in range(20)]
    r = quality_report(same)
    assert r.most_common_share == 1.0 and r.distinct_patterns == 1 and r.cells_used == 1
    assert r.parity_errors == 19  # every down after the first repeats a forehand
    empty = quality_report([])
    assert (empty.notes, empty.swings, empty.parity_errors, empty.nps, empty.off_beat_share) == (
        0,
        0,
        0,
        0.0,
        0.0,
    )
    assert empty.occupancy.sum() == 0 and empty.direction_histogram.sum() == 0


def test_report_is_frozen_and_flattens() -> None:
    r = quality_report(hand_built())
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.nps = 0.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        r.occupancy[0, 0] = 1.0
    flat = r.as_dict()
    assert flat["occupancy_y2_x3"] == pytest.approx(1 / 11)
    assert flat["direction_histogram_1"] == pytest.approx(7 / 11)
    assert len(flat) == 12 + 12 + 9  # 12 scalars, 12 cells, 9 bins


def test_off_beat_grid_restarts_at_bpm_changes() -> None:
    timing = Timing.from_changes(120, [BpmChange(10.3, 140)])
    beats = np.array([3.5, 3.0 + 1 / 6, 3.05, 10.8, 10.41])
    # 10.8 is 0.5 past the tempo change (on the restarted grid); 10.41 is on neither grid.
    assert off_beat_mask(beats, timing).tolist() == [False, False, True, False, True]
    assert off_beat_mask(beats).tolist() == [False, False, True, True, True]
    # Within 1/96 beat of a grid point counts as on it; a 1/16 does not.
    assert off_beat_mask(np.array([2.009, 2.0625])).tolist() == [False, True]
