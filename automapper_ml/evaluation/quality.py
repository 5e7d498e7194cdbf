"""Map quality, defined once: the figures the demo corpus, the metrics and post-processing all share.

`quality_report(notes, timing, bombs)` returns one frozen `QualityReport`. Definitions:

- swings and parity errors: `automapper_ml.evaluation.parity` (MapCheck's rule; see its docstring);
  `parity_errors_per_100_swings` is the figure human maps are compared on (median about 0.5);
- colour balance: share of notes that are left/red;
- grid: a (3, 4) array of the share of notes in each cell, row = y (0 bottom), column = x (0 left),
  and how many of the 12 cells hold any note; notes outside the 4x3 grid (Mapping Extensions) are
  left out of the grid figures only;
- directions: share of notes per cut direction (9 bins, 8 = dot); `up_down_share` is bins 0 and 1
  (human maps: about 45%);
- collapse: share of the most common (x, y, direction, colour) and how many distinct ones appear
  (of 4 * 3 * 9 * 2 = 216); a model that repeats one note scores near 1 and a handful;
- off-beat: share of swings whose first beat is not on a 1/8 or 1/6 subdivision of the beat (the
  `beat_grid`), within OFF_BEAT_TOLERANCE (1/96 beat, well inside the 1/48 gap between the nearest
  1/8 and 1/6 points); human maps: about 0.7%. With a Timing a swing is on the beat when it is on
  the grid counted from beat 0 OR on the grid restarted at its tempo stretch: editors (ChroMapper,
  the official editor) restart the grid at a BPM change, but maps that add a tempo trick later
  (hyperclocked: 10000 BPM until beat 5.047) keep the original grid. Old maps whose notes were
  shifted by an editor offset (windy_fairy: every note at n + 0.145) read as all off-beat: the
  figure is meant for medians over many maps and for generated maps, which sit on the grid;
- nps: notes per second of `duration_seconds` when given (pass `BeatMap.duration_seconds`, THE
  definition), else of the time from beat 0 to the last note.

Everything is O(n log n) (sorting inside swing grouping), so it runs on a 15k-map corpus.
Uninteractable notes make no swing, but they are notes and count in the note figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from automapper_ml.evaluation.parity import (
    DEFAULT_BPM,
    beats_to_seconds,
    errors_from_trace,
    parity_trace,
    swings,
)
from automapper_ml.formats.model import GRID_COLUMNS, GRID_ROWS, BombNote, ColorNote, Timing

OFF_BEAT_TOLERANCE = 1.0 / 96.0  # beats: a swing this close to a grid point is on the beat
DIRECTION_BINS = 9
DISTINCT_PATTERN_SPACE = GRID_COLUMNS * GRID_ROWS * DIRECTION_BINS * 2


@dataclass(frozen=True, eq=False)
class QualityReport:
    """Quality figures of one difficulty's notes. Shares are 0..1 (0 for an empty map)."""

    notes: int  # colour notes
    swings: int  # swings, both hands (see parity.swings)
    parity_errors: int  # swings the MapCheck-style checker calls a parity error
    parity_warnings: int  # swings it calls a warning (a strained wrist), not counted as errors
    parity_errors_per_100_swings: float  # 100 * parity_errors / swings
    left_share: float  # colour balance: share of notes that are left (red)
    cells_used: int  # grid cells (of 12) holding at least one note
    occupancy: np.ndarray  # (3, 4) share of notes per cell, [y, x], y = 0 bottom row
    direction_histogram: np.ndarray  # (9,) share of notes per cut direction, index 8 = dot
    up_down_share: float  # share of notes with an up or down arrow (direction 0 or 1)
    most_common_share: float  # share of the most common (x, y, direction, colour)
    distinct_patterns: int  # distinct (x, y, direction, colour) tuples used, of 216
    off_beat_share: float  # share of swings starting off the 1/8 and 1/6 beat grid
    nps: float  # notes per second

    def as_dict(self) -> dict[str, float]:
        """Flat numbers for metric tables and loggers (arrays spread into one key per cell/bin)."""
        out: dict[str, float] = {}
        for key, value in asdict(self).items():
            if isinstance(value, np.ndarray):
                if value.ndim == 2:
                    out.update({f"{key}_y{y}_x{x}": float(value[y, x]) for y, x in np.ndindex(value.shape)})
                else:
                    out.update({f"{key}_{i}": float(v) for i, v in enumerate(value)})
            else:
                out[key] = float(value)
        return out


def quality_report(
    notes: list[ColorNote],
    timing: Timing | None = None,
    bombs: list[BombNote] | None = None,
    beat_grid: tuple[int, ...] = (8, 6),
    duration_seconds: float | None = None,
) -> QualityReport:
    """All quality figures for one difficulty (definitions in the module docstring).

    `timing` turns beats into seconds (swing windows, NPS) and places the beat grid; without it
    beats are read at DEFAULT_BPM. `beat_grid` lists the subdivisions that count as on the beat.
    """
    n = len(notes)
    swing_list = swings(notes, timing)
    trace = parity_trace(swing_list, bombs)
    errors = len(errors_from_trace(swing_list, trace))
    warnings = sum(1 for v in trace if v.status == "warning")

    if n:
        cols = np.array([(nt.x, nt.y, nt.direction, nt.color, nt.beat) for nt in notes], dtype=float)
        x, y, direction, color, beats = (cols[:, i] for i in range(5))
        x, y, direction, color = (a.astype(np.int64) for a in (x, y, direction, color))
    else:
        x = y = direction = color = np.zeros(0, dtype=np.int64)
        beats = np.zeros(0)

    in_grid = (x >= 0) & (x < GRID_COLUMNS) & (y >= 0) & (y < GRID_ROWS)
    counts = np.zeros((GRID_ROWS, GRID_COLUMNS))
    np.add.at(counts, (y[in_grid], x[in_grid]), 1.0)
    occupancy = counts / max(int(in_grid.sum()), 1)

    valid_dir = (direction >= 0) & (direction < DIRECTION_BINS)
    histogram = np.bincount(direction[valid_dir], minlength=DIRECTION_BINS)[:DIRECTION_BINS] / max(n, 1)

    if n:
        # One integer per (x, y, direction, colour); any out-of-range values still get their own code.
        codes = ((x * 64 + y) * 64 + direction) * 4 + color
        _, pattern_counts = np.unique(codes, return_counts=True)
        most_common = float(pattern_counts.max()) / n
        distinct = len(pattern_counts)
    else:
        most_common, distinct = 0.0, 0

    swing_beats = np.fromiter((s.beat for s in swing_list), float, len(swing_list))
    off_beat = float(off_beat_mask(swing_beats, timing, beat_grid).mean()) if len(swing_list) else 0.0

    if duration_seconds is None:
        duration_seconds = float(beats_to_seconds(np.array([beats.max()]), timing)[0]) if n else 0.0
    nps = n / duration_seconds if duration_seconds > 0 else 0.0

    for arr in (occupancy, histogram):
        arr.flags.writeable = False  # the report is frozen; so are its arrays
    return QualityReport(
        notes=n,
        swings=len(swing_list),
        parity_errors=errors,
        parity_warnings=warnings,
        parity_errors_per_100_swings=100.0 * errors / len(swing_list) if swing_list else 0.0,
        left_share=float(np.mean(color == 0)) if n else 0.0,
        cells_used=int(np.count_nonzero(counts)),
        occupancy=occupancy,
        direction_histogram=histogram,
        up_down_share=float(np.mean((direction == 0) | (direction == 1))) if n else 0.0,
        most_common_share=most_common,
        distinct_patterns=distinct,
        off_beat_share=off_beat,
        nps=nps,
    )


def off_beat_mask(
    beats: np.ndarray,
    timing: Timing | None = None,
    beat_grid: tuple[int, ...] = (8, 6),
    tolerance: float = OFF_BEAT_TOLERANCE,
) -> np.ndarray:
    """True where a beat lies off every 1/k grid (k in `beat_grid`). Shape (n,) -> (n,) bool.

    With a Timing of several tempo stretches, a beat on the grid restarted at its stretch's start
    also counts as on the beat (see the module docstring).
    """
    beats = np.asarray(beats, dtype=float)
    off = _off_grid(beats, beat_grid, tolerance)
    if timing is not None and len(timing.segments) > 1:
        starts = np.array([s[0] for s in timing.segments])
        local = beats - starts[np.clip(np.searchsorted(starts, beats, side="right") - 1, 0, None)]
        off &= _off_grid(local, beat_grid, tolerance)
    return off


def _off_grid(beats: np.ndarray, beat_grid: tuple[int, ...], tolerance: float) -> np.ndarray:
    off = np.ones(beats.shape, dtype=bool)
    for k in beat_grid:
        scaled = beats * k
        off &= np.abs(scaled - np.round(scaled)) / k > tolerance
    return off


__all__ = ["DEFAULT_BPM", "OFF_BEAT_TOLERANCE", "QualityReport", "off_beat_mask", "quality_report"]
