"""The osu!standard judge: figures over `formats.osu` maps, defined once for tests, the CLI and
evaluation. `judge_map(m, reference=None)` is the summary (a flat dict of floats); definitions:

- rhythm: precision/recall/F1 of the hit objects' start times against a reference map's, one-to-one
  within +-10 ms and +-50 ms (`RHYTHM_WINDOWS_MS`), the matcher of `evaluation.onsets`;
- type shares: circles, sliders, spinners over all objects (0 for an empty map);
- slider shape (`slider_problems`): the slider has anchors, its curve type is L/B/P/C, its pixel
  length is finite and not negative (0 means "as long as the path", as the game reads it), slides
  >= 1, a P curve has exactly 3 points (its start + 2 anchors; the game draws any other count as
  B), every point of the drawn path is inside the playfield (anchors may lie outside it: they are
  Bezier control points, and ranked maps put them there);
- playfield bounds: objects whose position lies outside [0, 512] x [0, 384], and points of slider
  paths (sampled, cut at the pixel length as the game cuts them) outside it;
- spacing (`spacing`): for each pair of consecutive non-spinner objects, the distance (osu!pixels)
  from where the first ends (a slider's tail: its path end after an odd number of slides, its head
  after an even one) to where the next starts, divided by the gap between them in beats (the
  uninherited timing point in force at the second object); pairs at the same time and gaps over
  `MAX_SPACING_BEATS` (breaks, pauses) are left out. Compared with a reference map's by the
  1-Wasserstein distance of the two samples (px/beat) and the mean gap of their 5..95% quantiles;
- new-combo rate: share of objects that start a new combo (1 / mean combo length);
- length (first object's start to the last one's end, seconds) and the main BPM (the tempo in force
  for the longest stretch of that span).

Stacking offsets, hit windows and mods are not modelled: these are figures of the map file.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from automapper_ml.evaluation.onsets import onset_scores
from automapper_ml.formats.osu.model import (
    CURVE_TYPES,
    PLAYFIELD_HEIGHT,
    PLAYFIELD_WIDTH,
    Circle,
    OsuMap,
    Slider,
    Spinner,
    TimingPoint,
)

RHYTHM_WINDOWS_MS = (10.0, 50.0)
MAX_SPACING_BEATS = 4.0  # a longer gap is a pause, not spacing
SAMPLES_PER_SEGMENT = 32  # points drawn per Bezier / Catmull segment and per circular arc
DEFAULT_BEAT_LENGTH = 500.0  # ms per beat when a map has no uninherited timing point (120 BPM)
SV_RANGE = (0.1, 10.0)  # the slider velocities the game honours
QUANTILES = np.linspace(0.05, 0.95, 19)

Points = np.ndarray  # (N, 2) float osu!pixels


# ------------------------------------------------------------------------------ rhythm


def start_times(m: OsuMap) -> np.ndarray:
    """The hit objects' start times in seconds, (N,) sorted."""
    return np.sort(np.array([o.time for o in m.hit_objects], dtype=np.float64)) / 1000.0


def rhythm_figures(m: OsuMap, reference: OsuMap) -> dict[str, float]:
    """rhythm_{f1,precision,recall}_{10,50}ms of `m`'s start times against `reference`'s."""
    ref, est = start_times(reference), start_times(m)
    out: dict[str, float] = {}
    for window in RHYTHM_WINDOWS_MS:
        score = onset_scores(ref, est, window / 1000.0)
        tag = f"{window:g}ms"
        out |= {
            f"rhythm_f1_{tag}": score.f1,
            f"rhythm_precision_{tag}": score.precision,
            f"rhythm_recall_{tag}": score.recall,
        }
    return out


# ------------------------------------------------------------------------------ objects


def type_shares(m: OsuMap) -> dict[str, float]:
    """circle_share, slider_share, spinner_share (each 0 for an empty map)."""
    n = len(m.hit_objects)
    counts = {kind: sum(isinstance(o, cls) for o in m.hit_objects) for kind, cls in _KINDS.items()}
    return {f"{kind}_share": (count / n if n else 0.0) for kind, count in counts.items()}


_KINDS = {"circle": Circle, "slider": Slider, "spinner": Spinner}


def inside(x: float, y: float) -> bool:
    """Whether (x, y) lies on the 512 x 384 playfield (edges included)."""
    return 0.0 <= x <= PLAYFIELD_WIDTH and 0.0 <= y <= PLAYFIELD_HEIGHT


def _outside(points: Points) -> int:
    x, y = points[:, 0], points[:, 1]
    return int(np.count_nonzero((x < 0) | (x > PLAYFIELD_WIDTH) | (y < 0) | (y > PLAYFIELD_HEIGHT)))


def slider_problems(s: Slider) -> list[str]:
    """What is wrong with a slider's shape, one short reason each ([] when it is valid)."""
    if not s.anchors:
        return ["no anchors"]
    problems = []
    kinds = sorted({seg.kind[0] for seg in s.curve} - set(CURVE_TYPES))
    if kinds:
        problems.append(f"curve type {'/'.join(kinds)} is none of L, B, P, C")
    if not math.isfinite(s.length) or s.length < 0:
        problems.append(f"pixel length {s.length!r}")
    if s.slides < 1:
        problems.append(f"{s.slides} slides")
    if any(seg.kind[0] == "P" and len(seg.points) != 2 for seg in s.curve):
        problems.append("a P curve without exactly 3 points")
    if not problems and _outside(slider_path(s)):
        problems.append("its path leaves the playfield")
    return problems


def map_problems(m: OsuMap) -> list[str]:
    """Every object outside the playfield and every broken slider of a map, one line each."""
    lines = []
    for i, o in enumerate(m.hit_objects):
        where = f"object {i} at {o.time:g} ms"
        if not inside(o.x, o.y):
            lines.append(f"{where}: position {o.x:g},{o.y:g} is outside the 512x384 playfield")
        if isinstance(o, Slider):
            lines += [f"{where}: slider {p}" for p in slider_problems(o)]
    return lines


# ------------------------------------------------------------------------------ slider paths


def slider_path(s: Slider) -> Points:
    """Points along the slider's drawn path from its head, (N, 2), cut at (or extended in a
    straight line to) its pixel length; the whole path when the length is 0 or not finite."""
    path = _full_path(s)
    if len(path) < 2 or not math.isfinite(s.length) or s.length <= 0:
        return path
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(steps)])
    if cum[-1] <= s.length:  # the game runs the last segment on in its own direction
        step = steps[-1] if steps[-1] > 0 else 1.0
        end = path[-1] + (path[-1] - path[-2]) * (s.length - cum[-1]) / step
        return np.vstack([path, end])
    k = int(np.searchsorted(cum, s.length))  # cum[k - 1] < length <= cum[k]
    t = (s.length - cum[k - 1]) / steps[k - 1]
    return np.vstack([path[:k], path[k - 1] + t * (path[k] - path[k - 1])])


def slider_end(s: Slider) -> tuple[float, float]:
    """Where a slider ends: its path's end after an odd number of slides, its head after an even one."""
    if s.slides % 2 == 0:
        return (s.x, s.y)
    x, y = slider_path(s)[-1]
    return (float(x), float(y))


def _full_path(s: Slider) -> Points:
    start = np.array([[s.x, s.y]], dtype=np.float64)
    parts = [start]
    for seg in s.curve:
        control = np.vstack([parts[-1][-1:], np.asarray(seg.points, dtype=np.float64).reshape(-1, 2)])
        parts.append(_draw(seg.kind[0], control)[1:])
    return np.vstack(parts)


def _draw(kind: str, control: Points) -> Points:
    if kind == "L" or len(control) < 3:
        return control
    if kind == "P" and len(control) == 3:
        arc = _arc(control)
        if arc is not None:
            return arc
        return control  # collinear: the game draws a line
    if kind == "C":
        return _catmull(control)
    # B (and P with another count): Bezier pieces split at repeated points (red anchors)
    pieces, start = [], 0
    for i in range(1, len(control) + 1):
        if i == len(control) or np.array_equal(control[i], control[i - 1]):
            pieces.append(_bezier(control[start:i]))
            start = i
    return np.vstack(pieces)


def _bezier(control: Points) -> Points:
    if len(control) < 3:
        return control
    t = np.linspace(0.0, 1.0, SAMPLES_PER_SEGMENT)[:, None, None]  # (S, 1, 1)
    level = np.repeat(control[None], SAMPLES_PER_SEGMENT, axis=0)  # (S, N, 2), reduced N - 1 times
    for _ in range(len(control) - 1):
        level = level[:, :-1] + t * (level[:, 1:] - level[:, :-1])
    return level[:, 0]


def _arc(control: Points) -> Points | None:
    """The circular arc from control[0] through control[1] to control[2] (None when collinear)."""
    a, b, c = control
    lhs = 2 * np.array([b - a, c - a])
    if abs(np.linalg.det(lhs)) < 1e-6:
        return None
    centre = np.linalg.solve(lhs, np.array([b @ b - a @ a, c @ c - a @ a]))
    radius = float(np.linalg.norm(a - centre))
    angles = [math.atan2(p[1] - centre[1], p[0] - centre[0]) for p in (a, b, c)]
    (ux, uy), (vx, vy) = b - a, c - a
    clockwise = ux * vy - uy * vx < 0
    sweep = (angles[2] - angles[0]) % (2 * math.pi)
    if clockwise:
        sweep -= 2 * math.pi
    theta = angles[0] + np.linspace(0.0, sweep, SAMPLES_PER_SEGMENT)
    return centre + radius * np.stack([np.cos(theta), np.sin(theta)], axis=1)


def _catmull(control: Points) -> Points:
    """osu!'s Catmull-Rom path: through every point, the ends extended by reflection."""
    n = len(control)
    t = np.linspace(0.0, 1.0, SAMPLES_PER_SEGMENT)[:, None]
    out = [control[:1]]
    for i in range(n - 1):
        v1 = control[i - 1] if i > 0 else control[i]
        v2, v3 = control[i], control[i + 1]
        v4 = control[i + 2] if i + 2 < n else 2 * v3 - v2
        out.append(
            0.5
            * (
                2 * v2
                + (v3 - v1) * t
                + (2 * v1 - 5 * v2 + 4 * v3 - v4) * t**2
                + (3 * v2 - v1 - 3 * v3 + v4) * t**3
            )[1:]
        )
    return np.vstack(out)


# ------------------------------------------------------------------------------ timing


class _Timing:
    """Beat length and slider velocity at a time, from a map's timing points (as the game reads
    them: the last point at or before the time; before the first uninherited point, the first)."""

    def __init__(self, points: Sequence[TimingPoint]) -> None:
        ordered = sorted(points, key=lambda p: p.time)  # stable: file order among equal times
        red = [p for p in ordered if p.uninherited and p.beat_length > 0]
        self.red_times = [p.time for p in red]
        self.beat_lengths = [p.beat_length for p in red] or [DEFAULT_BEAT_LENGTH]
        self.all_times = [p.time for p in ordered]
        self.velocities = [p.slider_velocity for p in ordered]

    def beat_length(self, time: float) -> float:
        return self.beat_lengths[max(0, bisect_right(self.red_times, time) - 1)]

    def velocity(self, time: float) -> float:
        i = bisect_right(self.all_times, time) - 1
        return min(max(self.velocities[i], SV_RANGE[0]), SV_RANGE[1]) if i >= 0 else 1.0

    def main_bpm(self, start: float, end: float) -> float:
        """The tempo in force for the longest stretch of [start, end] (0 without timing)."""
        if not self.red_times:
            return 0.0
        held: dict[float, float] = {}
        edges = [start, *(t for t in self.red_times if start < t < end), end]
        for lo, hi in zip(edges, edges[1:], strict=False):
            length = self.beat_length(lo)
            held[length] = held.get(length, 0.0) + (hi - lo)
        return 60_000.0 / max(held, key=lambda k: (held[k], -k))


def slider_duration(s: Slider, m: OsuMap, timing: _Timing | None = None) -> float:
    """ms from a slider's head to its end: slides x length / (100 x SliderMultiplier x SV) beats."""
    timing = timing or _Timing(m.timing_points)
    px_per_beat = 100.0 * m.difficulty.slider_multiplier * timing.velocity(s.time)
    return s.slides * s.length / px_per_beat * timing.beat_length(s.time) if px_per_beat > 0 else 0.0


def spacing(m: OsuMap) -> np.ndarray:
    """Distance per beat (osu!pixels / beat) between consecutive non-spinner objects, (N,)."""
    timing = _Timing(m.timing_points)
    objects = sorted((o for o in m.hit_objects if not isinstance(o, Spinner)), key=lambda o: o.time)
    values = []
    for a, b in zip(objects, objects[1:], strict=False):
        if isinstance(a, Slider):
            end_time, (ex, ey) = a.time + slider_duration(a, m, timing), slider_end(a)
        else:
            end_time, ex, ey = a.time, a.x, a.y
        beats = (b.time - end_time) / timing.beat_length(b.time)
        if 0 < beats <= MAX_SPACING_BEATS:
            values.append(math.hypot(b.x - ex, b.y - ey) / beats)
    return np.array(values, dtype=np.float64)


def wasserstein(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between two samples: the area between their empirical CDFs."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if not len(a) or not len(b):
        return math.nan
    grid = np.concatenate([a, b])
    grid.sort()
    cdf_a = np.searchsorted(a, grid[:-1], side="right") / len(a)
    cdf_b = np.searchsorted(b, grid[:-1], side="right") / len(b)
    return float(np.sum(np.abs(cdf_a - cdf_b) * np.diff(grid)))


def quantile_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute gap between the 5%, 10%, ..., 95% quantiles of two samples."""
    if not len(a) or not len(b):
        return math.nan
    return float(np.mean(np.abs(np.quantile(a, QUANTILES) - np.quantile(b, QUANTILES))))


# ------------------------------------------------------------------------------ summary


def length_ms(m: OsuMap, timing: _Timing | None = None) -> tuple[float, float]:
    """(first start, last end) of the hit objects, ms; (0, 0) for an empty map."""
    if not m.hit_objects:
        return (0.0, 0.0)
    timing = timing or _Timing(m.timing_points)
    ends = [
        o.time + slider_duration(o, m, timing) if isinstance(o, Slider) else o.end_time for o in m.hit_objects
    ]
    return (min(o.time for o in m.hit_objects), max(ends))


def judge_map(m: OsuMap, reference: OsuMap | None = None) -> dict[str, float]:
    """The judge's figures for one map (see the module docstring); with a reference map also its
    rhythm scores against it and the spacing distances to it. Every value is a float (NaN where a
    figure has nothing to measure, e.g. the spacing of a map with one object)."""
    timing = _Timing(m.timing_points)
    objects = m.hit_objects
    sliders = [o for o in objects if isinstance(o, Slider)]
    broken = sum(bool(slider_problems(s)) for s in sliders)
    paths = [slider_path(s) for s in sliders]
    start, end = length_ms(m, timing)
    gaps = spacing(m)
    figures = {
        "objects": float(len(objects)),
        **type_shares(m),
        "sliders_invalid": float(broken),
        "slider_invalid_share": broken / len(sliders) if sliders else 0.0,
        "objects_outside": float(sum(not inside(o.x, o.y) for o in objects)),
        "path_points_outside": float(sum(_outside(p) for p in paths)),
        "new_combo_rate": sum(o.new_combo for o in objects) / len(objects) if objects else 0.0,
        "spacing_median": float(np.median(gaps)) if len(gaps) else math.nan,
        "spacing_p90": float(np.quantile(gaps, 0.9)) if len(gaps) else math.nan,
        "length_s": (end - start) / 1000.0,
        "bpm": timing.main_bpm(start, end),
    }
    if reference is not None:
        ref_gaps = spacing(reference)
        figures |= rhythm_figures(m, reference)
        figures["spacing_wasserstein"] = wasserstein(gaps, ref_gaps)
        figures["spacing_quantile_distance"] = quantile_distance(gaps, ref_gaps)
    return figures
