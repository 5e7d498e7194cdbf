"""Pointers back to audio: the raw samples each copied run points at, joined with short equal-power
crossfades, with the per-frame gain (fades) applied, never re-synthesised.

    song = render_pointers(raw, rate, pointers, gain_db)   # (n,) or (n, channels), raw's dtype float32
    worst = join_clicks(song, rate, join_samples(pointers, rate))

A run covers its edit frames' span on the edit timeline (frame j starts at j x EDIT_FRAME_SECONDS)
and reads the raw from its first pointer's time on. At a join the outgoing run goes on
CROSSFADE_SECONDS past the join (when the raw has samples there) under a cosine fade-out while the
incoming one fades in: no step at the join, whatever the two waveforms are doing.
"""

from __future__ import annotations

import numpy as np

from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS, segments

CROSSFADE_SECONDS = 0.012


def join_samples(pointers: np.ndarray, rate: int) -> np.ndarray:
    """Sample index of every join (every copied run but the first) on the edit timeline."""
    hop = EDIT_FRAME_SECONDS * rate
    return np.array([round(s.edit_start * hop) for s in segments(pointers)[1:]], dtype=np.int64)


def render_pointers(
    raw: np.ndarray, rate: int, pointers: np.ndarray, gain_db: np.ndarray | None = None, *,
    n_samples: int | None = None, crossfade_seconds: float = CROSSFADE_SECONDS,
) -> np.ndarray:  # fmt: skip
    """The edit the pointers describe, `n_samples` long (default: the frames' span)."""
    raw = np.asarray(raw, dtype=np.float32)
    runs = segments(pointers)
    if not runs:
        raise ValueError("no frame to render: the pointer sequence is empty")
    hop = EDIT_FRAME_SECONDS * rate
    n_frames = runs[-1].edit_start + runs[-1].length
    total = n_samples if n_samples is not None else round(n_frames * hop)
    out = np.zeros((total,) + raw.shape[1:], dtype=np.float32)
    fade = max(1, round(crossfade_seconds * rate))
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)  # equal power
    for i, run in enumerate(runs):
        start = round(run.edit_start * hop)
        end = total if i == len(runs) - 1 else round((run.edit_start + run.length) * hop)
        src = round(run.raw_start * hop)
        tail = 0 if i == len(runs) - 1 else fade
        n = max(0, min(end + tail, total) - start, 0)
        piece = raw[src : src + n].copy()
        if len(piece) == 0:
            continue
        env = np.ones(len(piece), dtype=np.float32)
        if i > 0:  # fade in over the first `fade` samples (the previous run fades out over them)
            k = min(fade, len(env))
            env[:k] *= ramp[:k]
        if tail and len(piece) > end - start:  # fade out past the join
            k = len(piece) - (end - start)
            env[end - start :] *= ramp[::-1][:k]
        out[start : start + len(piece)] += piece * (env if piece.ndim == 1 else env[:, None])
    if gain_db is not None:
        out *= _envelope(np.asarray(gain_db, dtype=np.float64), hop, total)[
            (slice(None),) + (None,) * (out.ndim - 1)
        ]
    return out


def _envelope(gain_db: np.ndarray, hop: float, total: int) -> np.ndarray:
    """Per-sample amplitude from per-frame gains in dB, linear between frame centres."""
    centres = (np.arange(len(gain_db)) + 0.5) * hop
    amp = np.power(10.0, np.minimum(gain_db, 0.0) / 20.0)
    return np.interp(np.arange(total), centres, amp).astype(np.float32)


def join_clicks(song: np.ndarray, rate: int, joins: np.ndarray, window_seconds: float = 0.01) -> float:
    """The worst join's click: its largest sample-to-sample step within +-1 ms of the join over the
    median step in the `window_seconds` around it (1 = as smooth as the music near it; a hard cut of a
    loud waveform gives tens). 0 with no joins."""
    x = np.asarray(song, dtype=np.float64)
    x = x.mean(axis=1) if x.ndim == 2 else x
    step = np.abs(np.diff(x))
    near, around = max(1, round(0.001 * rate)), max(2, round(window_seconds * rate))
    worst = 0.0
    for j in np.asarray(joins, dtype=np.int64):
        local = step[max(0, j - around) : j + around]
        if len(local) == 0:
            continue
        typical = max(float(np.median(local)), 1e-6)
        worst = max(worst, float(step[max(0, j - near) : j + near].max()) / typical)
    return worst
