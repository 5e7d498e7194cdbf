"""Raw/edit alignment: which raw frame every frame of an edited song copies.

    result = align_audio(raw_samples, edit_samples)   # mono SAMPLE_RATE float arrays
    result.pointers, result.gain_db, result.ops, result.distance_db

The edit's editor frames are matched to the raw's by their spectral shapes (pointers.edit_features:
gain-invariant, so fades still match) and a Viterbi search over pointer paths that are monotone
with jumps: each step either continues (p[j] = p[j-1] + 1, free) or jumps anywhere (JUMP_COST), and
each frame pays 1 - cosine(edit frame, raw frame); the start and the end are free (an intro cut, an
early stop). The search is exact and O(E x R) with O(E x R) bits of back-pointers: the best jump
into a row is one minimum over the previous row. Frames of the edit with no energy (silence, the end
of a fade) cost the same everywhere, so they follow their neighbours.

Then the gain of every edit frame against the raw frame it copies gives the fades, and the raw audio
re-assembled by the pointers (assemble.render_pointers, with those gains) is compared with the edit:
`distance_db` is the mean absolute log-mel difference over audible frames. A pair whose distance is
above MAX_DISTANCE_DB does not align (tempo-stretched, re-mixed or unrelated audio): `check()` says
why, for the blacklist.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from automapper_ml.audio import SAMPLE_RATE, compute_features
from automapper_ml.editing.assemble import render_pointers
from automapper_ml.editing.pointers import SILENT_DB, cut_frames, edit_features, frame_ops

JUMP_COST = 1.5  # in frame costs (1 - cosine): a cut must save more than this to be taken
SILENT_COST = 0.5  # cost of a silent edit frame, whatever it copies
MAX_DISTANCE_DB = 4.0  # re-assembled vs edit, mean |log-mel difference| in dB over audible frames
MAX_CELLS = 400_000_000  # edit frames x raw frames (about 15 minutes against 15 minutes)
_ROWS = 256  # edit frames whose costs are computed at once


@dataclass(frozen=True)
class Alignment:
    pointers: np.ndarray  # (E,) int64 raw editor frame of each edit frame
    gain_db: np.ndarray  # (E,) float32 edit loudness less the copied raw frame's
    cost: float  # mean frame cost along the path
    distance_db: float  # re-assembled raw vs the edit (module docstring)
    ops: np.ndarray = field(repr=False)  # (E,) pointers.OPS index per frame

    @property
    def cuts(self) -> np.ndarray:
        return cut_frames(self.pointers)

    def problem(self) -> str | None:
        """Why the pair does not align (one line), or None."""
        if not np.isfinite(self.distance_db) or self.distance_db > MAX_DISTANCE_DB:
            return (
                f"the raw audio re-assembled by the alignment differs from the edit by "
                f"{self.distance_db:.1f} dB (limit {MAX_DISTANCE_DB:g}): not cut from this raw song"
            )
        return None


def align_frames(
    edit_shape: np.ndarray, raw_shape: np.ndarray, edit_silent: np.ndarray | None = None,
    jump_cost: float = JUMP_COST,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """The best pointer path (module docstring) of (E, F) edit shapes over (R, F) raw shapes, and its
    mean frame cost. `edit_silent` (E,) bool marks frames that match anything at SILENT_COST."""
    n_edit, n_raw = len(edit_shape), len(raw_shape)
    if n_edit == 0 or n_raw == 0:
        raise ValueError("cannot align an empty song")
    if n_edit * n_raw > MAX_CELLS:
        raise ValueError(f"{n_edit} x {n_raw} editor frames is too long to align (limit {MAX_CELLS:,} cells)")
    if not jump_cost > 0:
        raise ValueError(f"jump_cost must be > 0, got {jump_cost!r}")
    silent = np.zeros(n_edit, bool) if edit_silent is None else np.asarray(edit_silent, bool)
    raw = raw_shape.astype(np.float32)
    jumped = np.zeros((n_edit, n_raw), dtype=bool)
    source = np.zeros(n_edit, dtype=np.int64)  # where the best jump into row j comes from
    total = None
    for lo in range(0, n_edit, _ROWS):
        block = 1.0 - edit_shape[lo : lo + _ROWS].astype(np.float32) @ raw.T  # (rows, R)
        block[silent[lo : lo + _ROWS]] = SILENT_COST
        for i, cost in enumerate(block):
            j = lo + i
            if total is None:
                total = cost.astype(np.float64)
                continue
            cont = np.full(n_raw, np.inf)
            cont[1:] = total[:-1]
            source[j] = int(np.argmin(total))
            jump = total[source[j]] + jump_cost
            jumped[j] = jump < cont
            total = np.where(jumped[j], jump, cont) + cost
    assert total is not None
    path = np.empty(n_edit, dtype=np.int64)
    path[-1] = int(np.argmin(total))
    for j in range(n_edit - 1, 0, -1):
        path[j - 1] = source[j] if jumped[j, path[j]] else path[j] - 1
    return path, float(total.min()) / n_edit


def align_audio(raw: np.ndarray, edit: np.ndarray, jump_cost: float = JUMP_COST) -> Alignment:
    """Align mono SAMPLE_RATE `edit` to `raw` (module docstring)."""
    raw_mel, edit_mel = compute_features(raw).mel, compute_features(edit).mel
    raw_shape, raw_loud = edit_features(raw_mel)
    edit_shape, edit_loud = edit_features(edit_mel)
    silent = edit_loud < edit_loud.max() + SILENT_DB
    pointers, cost = align_frames(edit_shape, raw_shape, silent, jump_cost)
    gain = (edit_loud - raw_loud[pointers]).astype(np.float32)
    gain = np.where(silent, np.minimum(gain, SILENT_DB), np.minimum(gain, 0.0)).astype(np.float32)
    rebuilt = render_pointers(raw, SAMPLE_RATE, pointers, gain, n_samples=len(edit))
    distance = spectral_distance(compute_features(rebuilt).mel, edit_mel)
    return Alignment(pointers, gain, cost, distance, frame_ops(pointers, gain))


def spectral_distance(mel_a: np.ndarray, mel_b: np.ndarray) -> float:
    """Mean |difference| in dB of two (N_MELS, T) log10 log-mels over the frames where either is
    audible (within 50 dB of its loudest), each band floored 80 dB below the loudest band of the pair."""
    n = min(mel_a.shape[1], mel_b.shape[1])
    a, b = 10.0 * mel_a[:, :n].astype(np.float64), 10.0 * mel_b[:, :n].astype(np.float64)
    if n == 0:
        return float("nan")
    top = max(a.max(), b.max())
    a, b = np.maximum(a, top - 80.0), np.maximum(b, top - 80.0)
    la, lb = a.max(axis=0), b.max(axis=0)
    audible = (la > la.max() - 50.0) | (lb > lb.max() - 50.0)
    if not audible.any():
        return float("nan")
    return float(np.abs(a - b)[:, audible].mean())
