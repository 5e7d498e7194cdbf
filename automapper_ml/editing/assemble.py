"""Pointers back to audio: the raw samples each copied run points at, joined with short equal-power
crossfades, with the per-frame gain (fades) applied, never re-synthesised.

    song = render_pointers(raw, rate, pointers, gain_db)   # (n,) or (n, channels), float32
    clicks = join_clicks(song, raw, rate, pointer_joins(pointers, rate))

A run covers its edit frames' span on the edit timeline (frame j starts at j x EDIT_FRAME_SECONDS)
and reads the raw from its first pointer's time on. At a join the outgoing run goes on
CROSSFADE_SECONDS past the join (when the raw has samples there) under a cosine fade-out while the
incoming one fades in: no step at the join, whatever the two waveforms are doing.
"""

from __future__ import annotations

import numpy as np

from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS, segments

CROSSFADE_SECONDS = 0.012


def pointer_joins(pointers: np.ndarray, rate: int) -> list[tuple[int, int, int]]:
    """(edit sample, raw sample reached, raw sample jumped to) of every join of a pointer sequence."""
    hop = EDIT_FRAME_SECONDS * rate
    runs = segments(pointers)
    return [(round(b.edit_start * hop), round((a.raw_start + a.length) * hop), round(b.raw_start * hop))
            for a, b in zip(runs, runs[1:])]  # fmt: skip


def render_pointers(
    raw: np.ndarray, rate: int, pointers: np.ndarray, gain_db: np.ndarray | None = None, *,
    n_samples: int | None = None, crossfade_seconds: float = CROSSFADE_SECONDS,
) -> np.ndarray:  # fmt: skip
    """The edit the pointers describe, `n_samples` long (default: the frames' span)."""
    runs = segments(pointers)
    if not runs:
        raise ValueError("no frame to render: the pointer sequence is empty")
    hop = EDIT_FRAME_SECONDS * rate
    n_frames = runs[-1].edit_start + runs[-1].length
    total = n_samples if n_samples is not None else round(n_frames * hop)
    bounds = [round(r.edit_start * hop) for r in runs] + [total]
    spans = [(round(r.raw_start * hop), bounds[i + 1] - bounds[i]) for i, r in enumerate(runs)]
    out = render_spans(raw, rate, spans, crossfade_seconds=crossfade_seconds)
    if gain_db is not None:
        env = _envelope(np.asarray(gain_db, dtype=np.float64), hop, len(out))
        out *= env[(slice(None),) + (None,) * (out.ndim - 1)]
    return out


def render_spans(
    raw: np.ndarray, rate: int, spans: list[tuple[int, int]], *, crossfade_seconds: float = CROSSFADE_SECONDS,
) -> np.ndarray:  # fmt: skip
    """(raw start sample, length) runs played one after the other, joined by equal-power crossfades
    (module docstring); (sum of lengths,) or (sum, channels) float32."""
    raw = np.asarray(raw, dtype=np.float32)
    if not spans or any(n <= 0 or src < 0 for src, n in spans):
        raise ValueError("spans must be a non-empty list of (start >= 0, length > 0)")
    total = sum(n for _, n in spans)
    out = np.zeros((total,) + raw.shape[1:], dtype=np.float32)
    fade = max(1, round(crossfade_seconds * rate))
    ramp = np.sin(0.5 * np.pi * (np.arange(fade) + 0.5) / fade).astype(np.float32)  # equal power
    start = 0
    for i, (src, n) in enumerate(spans):
        tail = 0 if i == len(spans) - 1 else fade
        piece = raw[src : src + min(n + tail, total - start)].copy()
        if len(piece):
            env = np.ones(len(piece), dtype=np.float32)
            if i > 0:  # fade in over the first `fade` samples (the previous run fades out over them)
                k = min(fade, len(env))
                env[:k] *= ramp[:k]
            if len(piece) > n:  # fade out past the join
                env[n:] *= ramp[::-1][: len(piece) - n]
            out[start : start + len(piece)] += piece * (env if piece.ndim == 1 else env[:, None])
        start += n
    return out


def _envelope(gain_db: np.ndarray, hop: float, total: int) -> np.ndarray:
    """Per-sample amplitude from per-frame gains in dB, linear between frame centres."""
    centres = (np.arange(len(gain_db)) + 0.5) * hop
    amp = np.power(10.0, np.minimum(gain_db, 0.0) / 20.0)
    return np.interp(np.arange(total), centres, amp).astype(np.float32)


CLICK_LIMIT = 2.0  # join_clicks above this is an audible click


def join_clicks(
    song: np.ndarray, raw: np.ndarray, rate: int, joins: list[tuple[int, int, int]],
    crossfade_seconds: float = CROSSFADE_SECONDS,
) -> list[float]:  # fmt: skip
    """The click of every join (edit sample, raw sample the outgoing run reached, raw sample the
    incoming run starts at): the mean square second difference of `song` over the join and its
    crossfade (+-2 ms) over the larger of the same over the two raw places it joins. A crossfade of
    two signals is no rougher than the rougher of them (about 1 or below); a hard cut of a loud
    waveform is a step the raw never had (hundreds). Mono of both is taken."""
    x = _mono(song)
    r = _mono(raw)
    pad, fade = max(1, round(0.002 * rate)), max(1, round(crossfade_seconds * rate))

    def rough(signal: np.ndarray, at: int) -> float:
        part = signal[max(0, at - pad) : at + fade + pad]
        return float(np.mean(np.diff(part, n=2) ** 2)) if len(part) > 2 else 0.0

    return [rough(x, j) / max(rough(r, a), rough(r, b), 1e-12) for j, a, b in joins]


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x
