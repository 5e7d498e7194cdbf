"""Editor frames, pointer sequences and edit operations.

An editor frame is EDIT_POOL log-mel frames (4 x 256 samples at 22,050 Hz: 46.4 ms, 21.5 frames/s).
An edit of E frames is a pointer sequence `p` of E raw-frame indices: edit frame j copies raw frame
p[j]. Inside a copied run p[j] = p[j - 1] + 1; anywhere else is a jump (a cut). In batches, PAD (-1)
fills after the end and STOP (-2) marks the frame after the last copied one.

Operations, one per edit frame (`frame_ops`): COPY; SKIP on the first frame after a forward jump (or
on frame 0 when the edit does not start at the raw start: the intro was cut); LOOP_END on the last
frame before a backward jump and LOOP_START on the first frame after it; FADE_IN / FADE_OUT on frames
of a fade at the start / end (gain below FADE_DB); STOP on the last frame. A cut mark takes the
place of a fade mark on the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.audio import FRAME_SECONDS, N_MELS

EDIT_POOL = 4
EDIT_FRAME_SECONDS = FRAME_SECONDS * EDIT_POOL
PAD, STOP = -1, -2
OPS = ("COPY", "LOOP_START", "LOOP_END", "SKIP", "FADE_IN", "FADE_OUT", "STOP")
OP = {name: i for i, name in enumerate(OPS)}
FADE_DB = -1.5  # a frame this far below the raw it copies is part of a fade
SILENT_DB = -60.0  # frames this far below the song's loudest frame carry no alignment information


@dataclass(frozen=True, slots=True)
class Segment:
    edit_start: int  # first edit frame of a copied run
    raw_start: int  # the raw frame it copies
    length: int  # frames


def edit_features(mel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frames, N_MELS) unit-norm spectral shapes and (frames,) loudness in dB of a (N_MELS, T) log10
    log-mel, pooled EDIT_POOL frames at a time. The shape is each frame's log-mel less its mean, so
    a gain (a fade) leaves it unchanged; a frame with no energy has the zero vector."""
    if mel.ndim != 2 or mel.shape[0] != N_MELS:
        raise ValueError(f"expected a ({N_MELS}, T) log-mel, got shape {mel.shape}")
    n = mel.shape[1] // EDIT_POOL
    if n < 1:
        raise ValueError("the audio is shorter than one editor frame")
    power = (
        np.power(10.0, mel[:, : n * EDIT_POOL].astype(np.float64)).reshape(N_MELS, n, EDIT_POOL).mean(axis=2)
    )
    log = np.log10(np.maximum(power, 1e-10))
    loud = 10.0 * np.log10(np.maximum(power.sum(axis=0), 1e-10))
    shape = log - log.mean(axis=0, keepdims=True)
    norm = np.linalg.norm(shape, axis=0, keepdims=True)
    shape = np.where(norm > 1e-6, shape / np.maximum(norm, 1e-6), 0.0)
    return shape.T.astype(np.float32), loud.astype(np.float32)


def segments(pointers: np.ndarray) -> list[Segment]:
    """The copied runs of a pointer sequence (PAD/STOP and everything after the first of them dropped)."""
    p = valid_pointers(pointers)
    if len(p) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, np.diff(p) != 1])
    ends = np.r_[starts[1:], len(p)]
    return [Segment(int(s), int(p[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def valid_pointers(pointers: np.ndarray) -> np.ndarray:
    p = np.asarray(pointers, dtype=np.int64)
    bad = np.flatnonzero(p < 0)
    return p[: bad[0]] if len(bad) else p


def cut_frames(pointers: np.ndarray) -> np.ndarray:
    """Edit frames where a new copied run starts: every jump, and frame 0 when it is not raw frame 0."""
    starts = [s for s in segments(pointers) if s.edit_start > 0 or s.raw_start > 0]
    return np.array([s.edit_start for s in starts], dtype=np.int64)


def frame_ops(pointers: np.ndarray, gain_db: np.ndarray | None = None) -> np.ndarray:
    """(E,) int64 OP index per edit frame (module docstring)."""
    p = valid_pointers(pointers)
    ops = np.full(len(p), OP["COPY"], dtype=np.int64)
    if len(p) == 0:
        return ops
    if gain_db is not None:
        faded = np.asarray(gain_db)[: len(p)] < FADE_DB
        lead = int(np.argmin(faded)) if not faded.all() else len(p)
        ops[:lead] = OP["FADE_IN"]
        tail = int(np.argmin(faded[::-1])) if not faded.all() else 0
        if tail:
            ops[len(p) - tail :] = OP["FADE_OUT"]
    for seg in segments(p):
        j = seg.edit_start
        if j == 0:
            if seg.raw_start > 0:
                ops[0] = OP["SKIP"]
        elif seg.raw_start > p[j - 1]:
            ops[j] = OP["SKIP"]
        else:
            ops[j - 1], ops[j] = OP["LOOP_END"], OP["LOOP_START"]
    ops[-1] = OP["STOP"]
    return ops
