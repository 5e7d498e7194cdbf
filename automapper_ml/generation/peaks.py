"""Peak picking: a stage-1 onset curve (per-frame probabilities) -> onset times, one definition for
generation, training's validation and the CLI."""

from __future__ import annotations

import numpy as np

from automapper_ml.audio import frame_to_seconds, refine_peak


def peak_candidates(curve: np.ndarray, floor: float, min_distance: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(times in seconds, heights) of every peak `pick_peaks(curve, floor, min_distance)` finds.

    Suppression keeps a peak unless a higher kept one is nearer than `min_distance`, so the peaks
    `pick_peaks` finds at any threshold >= floor are exactly these with height >= that threshold:
    a caller can choose its threshold afterwards (generation.density)."""
    curve = np.asarray(curve, dtype=np.float64)
    kept = _kept_frames(curve, floor, min_distance)
    times = np.array([frame_to_seconds(refine_peak(curve, k)) for k in kept], dtype=np.float64)
    return times, curve[np.asarray(kept, dtype=np.int64)] if kept else np.zeros(0)


def pick_peaks(curve: np.ndarray, threshold: float = 0.5, min_distance: int = 3) -> np.ndarray:
    """Onset times (seconds) from a per-frame probability curve (T,).

    A peak is a local maximum >= threshold; of peaks closer than `min_distance` frames, the
    higher wins. Positions are refined to sub-frame precision with a parabola, then mapped to
    seconds with the one frame rule in automapper_ml.audio.
    """
    curve = np.asarray(curve, dtype=np.float64)
    kept = _kept_frames(curve, threshold, min_distance)
    return np.array([frame_to_seconds(refine_peak(curve, k)) for k in kept], dtype=np.float64)


def _kept_frames(curve: np.ndarray, threshold: float, min_distance: int) -> list[int]:
    """Frames of the peaks pick_peaks keeps, in time order."""
    if curve.size < 3:
        return []
    left = np.concatenate([[-np.inf], curve[:-1]])
    right = np.concatenate([curve[1:], [-np.inf]])
    candidates = np.flatnonzero((curve >= threshold) & (curve > left) & (curve >= right))
    blocked = np.zeros(curve.size, dtype=bool)
    kept: list[int] = []
    for idx in candidates[np.argsort(-curve[candidates], kind="stable")]:
        if not blocked[idx]:
            kept.append(int(idx))
            blocked[max(0, idx - min_distance + 1) : idx + min_distance] = True
    kept.sort()
    return kept
