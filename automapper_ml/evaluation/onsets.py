"""Onset metrics and peak picking, one definition for training, evaluation and the CLI.

F1/precision/recall follow `mir_eval.onset.f_measure` exactly (a test compares them on random
cases): an estimate matches a reference when |est - ref| <= window (50 ms by default), each
event matches at most once, and the number of matches is the maximum possible. On a line with
one symmetric window, matching greedily from the left in time order reaches that maximum (the
compatibility graph is an interval graph), so no bipartite-matching library is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.audio import frame_to_seconds, refine_peak

ONSET_WINDOW = 0.05  # seconds, the community's (and the seed's) +-50 ms


@dataclass(frozen=True, slots=True)
class OnsetScore:
    f1: float
    precision: float
    recall: float
    matches: int  # matched pairs
    n_reference: int
    n_estimated: int


def count_matches(reference: np.ndarray, estimated: np.ndarray, window: float = ONSET_WINDOW) -> int:
    """Maximum number of one-to-one pairs with |ref - est| <= window (both in seconds)."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    est = np.sort(np.asarray(estimated, dtype=np.float64))
    i = j = matches = 0
    while i < len(ref) and j < len(est):
        if abs(ref[i] - est[j]) <= window:
            matches += 1
            i += 1
            j += 1
        elif est[j] < ref[i]:
            j += 1
        else:
            i += 1
    return matches


def onset_scores(reference: np.ndarray, estimated: np.ndarray, window: float = ONSET_WINDOW) -> OnsetScore:
    """F1, precision and recall of estimated onset times against reference times (seconds)."""
    n_ref, n_est = len(reference), len(estimated)
    if n_ref == 0 or n_est == 0:
        return OnsetScore(0.0, 0.0, 0.0, 0, n_ref, n_est)
    matches = count_matches(reference, estimated, window)
    precision = matches / n_est
    recall = matches / n_ref
    f1 = 0.0 if matches == 0 else 2 * precision * recall / (precision + recall)
    return OnsetScore(f1, precision, recall, matches, n_ref, n_est)


def pooled_scores(pairs: list[tuple[np.ndarray, np.ndarray]], window: float = ONSET_WINDOW) -> OnsetScore:
    """Scores over many songs, pooling matches and counts (not averaging per-song F1)."""
    matches = n_ref = n_est = 0
    for ref, est in pairs:
        matches += count_matches(ref, est, window)
        n_ref += len(ref)
        n_est += len(est)
    precision = matches / n_est if n_est else 0.0
    recall = matches / n_ref if n_ref else 0.0
    f1 = 2 * precision * recall / (precision + recall) if matches else 0.0
    return OnsetScore(f1, precision, recall, matches, n_ref, n_est)


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
