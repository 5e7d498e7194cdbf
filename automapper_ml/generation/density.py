"""How many onsets a difficulty gets: the model's confidence, held inside the corpus's density.

Stage 1's peaks above its tuned threshold are the model's own estimate of where notes go. On audio
unlike its training data (another genre, mix or loudness) that estimate can be empty or a flood: a
threshold tuned on other songs says nothing about this one. So the count of (snapped) onsets is held
inside the human range for the difficulty: between the `low` and `high` quantiles of note groups per
second over the corpus's maps of that difficulty (`DensityTargets`, measured from the frame index
when stage 1 trains and stored in its checkpoint). Inside that range the model decides; outside it
the highest peaks are kept until the count reaches the nearer bound, never taking a peak below
`floor` (below it the curve is noise, and a silent song stays empty: an error, not a map).

    targets = DensityTargets.from_dict(ckpt["extra_state"]["density"])  # or DEFAULT_TARGETS
    ticks = choose_onsets(times, heights, threshold, targets.bounds("Expert", seconds), snap)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from automapper_ml.formats.model import DIFFICULTY_NAMES

QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
DENSITY_VERSION = 1
FLOOR = 0.02  # peaks below this probability are never taken to reach a density bound


@dataclass(frozen=True)
class DensityTargets:
    """Note groups (onsets) per second of human maps, per difficulty, at QUANTILES."""

    quantiles: Mapping[str, tuple[float, ...]]  # difficulty name -> groups/s at each of QUANTILES
    maps: Mapping[str, int]  # difficulty name -> maps measured
    low: float = 0.25  # the quantile under which the count is raised
    high: float = 0.75  # the quantile over which the count is lowered

    def rate(self, difficulty: str, q: float) -> float:
        """Groups per second at quantile q (linear between QUANTILES) for `difficulty`; a difficulty the
        corpus lacks borrows the nearest one's rates scaled by DEFAULT_RATIO."""
        values = self._values(difficulty)
        return float(np.interp(q, QUANTILES, values))

    def bounds(self, difficulty: str, seconds: float) -> tuple[int, int]:
        """(lowest, highest) onset count for a song of `seconds` at this difficulty."""
        lo = self.rate(difficulty, self.low) * seconds
        hi = self.rate(difficulty, self.high) * seconds
        return max(1, int(round(lo))), max(1, int(round(hi)))

    def _values(self, difficulty: str) -> tuple[float, ...]:
        if difficulty in self.quantiles:
            return tuple(self.quantiles[difficulty])
        known = [d for d in DIFFICULTY_NAMES if d in self.quantiles]
        if not known:
            return tuple(DEFAULT_TARGETS.quantiles[difficulty])
        rank = DIFFICULTY_NAMES.index(difficulty)
        nearest = min(known, key=lambda d: abs(DIFFICULTY_NAMES.index(d) - rank))
        scale = DEFAULT_RATIO[difficulty] / DEFAULT_RATIO[nearest]
        return tuple(v * scale for v in self.quantiles[nearest])

    def to_dict(self) -> dict:
        return {
            "version": DENSITY_VERSION,
            "quantile_levels": list(QUANTILES),
            "quantiles": {k: [round(float(x), 4) for x in v] for k, v in self.quantiles.items()},
            "maps": {k: int(v) for k, v in self.maps.items()},
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> DensityTargets:
        """Inverse of to_dict; ValueError for another version or malformed tables."""
        if not isinstance(data, Mapping) or data.get("version") != DENSITY_VERSION:
            raise ValueError("density targets of an unknown version")
        if list(data.get("quantile_levels", [])) != list(QUANTILES):
            raise ValueError("density targets at other quantile levels")
        quantiles = {}
        for name, values in dict(data["quantiles"]).items():
            vals = tuple(float(v) for v in values)
            if name not in DIFFICULTY_NAMES or len(vals) != len(QUANTILES) or not all(v >= 0 for v in vals):
                raise ValueError(f"bad density targets for {name!r}")
            quantiles[name] = vals
        return cls(quantiles, {k: int(v) for k, v in dict(data.get("maps", {})).items()},
                   float(data.get("low", 0.25)), float(data.get("high", 0.75)))  # fmt: skip


def measure_targets(rows: Sequence[tuple[str, int, float]], min_maps: int = 3) -> DensityTargets:
    """DensityTargets from (difficulty name, note groups, song seconds) of human maps; difficulties with
    fewer than `min_maps` maps are left out (they borrow their neighbours' rates)."""
    by: dict[str, list[float]] = {}
    for name, groups, seconds in rows:
        if name in DIFFICULTY_NAMES and seconds > 0 and groups > 0:
            by.setdefault(name, []).append(groups / seconds)
    quantiles = {
        name: tuple(float(np.quantile(v, q)) for q in QUANTILES)
        for name, v in by.items()
        if len(v) >= min_maps
    }
    return DensityTargets(quantiles, {name: len(by[name]) for name in quantiles})


def index_targets(index) -> DensityTargets:
    """DensityTargets of a frame index (polars: difficulty, n_groups, n_frames, split), test split left out."""
    from automapper_ml.audio import FRAME_SECONDS

    rows = index.filter(index["split"] != "test").select("difficulty", "n_groups", "n_frames").iter_rows()
    return measure_targets([(d, int(g), n * FRAME_SECONDS) for d, g, n in rows])


# Groups per second of the Standard difficulties of ../shared/corpus outside the test split (train and
# val of the cpu profile's frame index, 61 maps); used by checkpoints that carry no targets of their own.
DEFAULT_TARGETS = DensityTargets(
    quantiles={
        "Easy": (1.03, 1.25, 1.54, 1.73, 1.77),
        "Normal": (1.28, 1.59, 1.78, 2.07, 2.2),
        "Hard": (2.12, 2.31, 2.76, 3.56, 3.7),
        "Expert": (1.15, 2.31, 3.01, 3.49, 3.98),
        "ExpertPlus": (1.91, 2.71, 3.61, 4.35, 4.98),
    },
    maps={"Easy": 4, "Normal": 7, "Hard": 9, "Expert": 26, "ExpertPlus": 15},
)
# Relative density of the difficulties (Expert = 1), from the medians above.
DEFAULT_RATIO = {
    name: DEFAULT_TARGETS.quantiles[name][2] / DEFAULT_TARGETS.quantiles["Expert"][2]
    for name in DIFFICULTY_NAMES
}


def choose_onsets(
    times: np.ndarray,
    heights: np.ndarray,
    threshold: float,
    bounds: tuple[int, int],
    snap: Callable[[np.ndarray], np.ndarray],
    floor: float = FLOOR,
    at_least: int = 0,
) -> np.ndarray:
    """Snapped onsets (what `snap` returns: sorted distinct grid positions) from candidate peaks.

    times, heights: (n,) every peak of the curve at or above `floor` (as pick_peaks gives them).
    The peaks at or above `threshold` are the model's answer; when their snapped count falls outside
    `bounds` (lowest, highest), the highest peaks are taken instead, as many as reach the nearer bound
    (never one below `floor`, unless the threshold itself is lower). `at_least` raises the lower bound (a harder difficulty never gets fewer
    onsets than an easier one)."""
    times = np.asarray(times, dtype=np.float64)
    heights = np.asarray(heights, dtype=np.float64)
    keep = heights >= min(floor, threshold)  # what the model itself accepts is never noise
    times, heights = times[keep], heights[keep]
    order = np.argsort(-heights, kind="stable")
    times, heights = times[order], heights[order]

    def snapped(k: int) -> np.ndarray:
        return snap(np.sort(times[:k]))

    lo, hi = bounds
    lo = max(lo, at_least)
    hi = max(hi, lo)
    k_model = int(np.count_nonzero(heights >= threshold))
    n_model = len(snapped(k_model))
    if lo <= n_model <= hi:
        return snapped(k_model)
    if n_model < lo:  # fewest peaks whose snapped count reaches lo (all of them if none does)
        a, b = k_model, len(times)
        while a < b:
            mid = (a + b) // 2
            if len(snapped(mid)) >= lo:
                b = mid
            else:
                a = mid + 1
        return snapped(a)
    a, b = 0, k_model  # most peaks whose snapped count stays <= hi
    while a < b:
        mid = (a + b + 1) // 2
        if len(snapped(mid)) <= hi:
            a = mid
        else:
            b = mid - 1
    return snapped(a)
