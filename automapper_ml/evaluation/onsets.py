"""Onset metrics, one definition for training, evaluation and the CLI (peak picking, which turns a
model's curve into onsets, is inference: generation.peaks).

F1/precision/recall follow `mir_eval.onset.f_measure` exactly (a test compares them on random
cases): an estimate matches a reference when |est - ref| <= window (50 ms by default), each
event matches at most once, and the number of matches is the maximum possible. On a line with
one symmetric window, matching greedily from the left in time order reaches that maximum (the
compatibility graph is an interval graph), so no bipartite-matching library is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
