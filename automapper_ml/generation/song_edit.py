"""Rule-based song editing on the detected beat grid: what `automapper edit` does until a learned
editor ships (issue 17), and the baselines the learned one must beat.

    edit = plan_song_edit(mono, seconds=120)     # mono at SAMPLE_RATE
    song = render_song_edit(samples, rate, edit) # at the file's own rate, never re-synthesised

Bars come from generation.tempo's grid: the bar phase is the beat (of four) whose attacks carry the
most low-frequency energy (the kick). Methods:
- `splice` (default): keep the song's start and its real ending and cut one stretch out of the
  middle, from downbeat a to downbeat b, with b - a chosen so the result is as near the target as
  whole bars allow, and among those the pair whose bars sound most alike around the join (the mean
  spectral shape of the bar before and of the bar after each downbeat): the cut a listener hears
  least. Needs at least MIN_KEEP_BARS kept on each side; a target too short for that truncates.
- `truncate` (the issue's rule-based baseline): the song up to the downbeat nearest the target, the
  last bar faded out.
- `identity` ("keep everything", the other baseline): the first `seconds` of the song, faded out
  over the last second.
Joins are sample-exact downbeats (no frame rounding) with editing.assemble's crossfades.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.audio import SAMPLE_RATE, compute_features, seconds_to_frame
from automapper_ml.editing.assemble import render_spans
from automapper_ml.editing.pointers import EDIT_FRAME_SECONDS, edit_features
from automapper_ml.generation.tempo import resolve_tempo

METHODS = ("splice", "truncate", "identity")
MIN_KEEP_BARS = 4
MIN_SECONDS = 5.0


@dataclass(frozen=True)
class SongEdit:
    method: str
    spans: tuple[tuple[float, float], ...]  # (raw start, raw end) seconds, in play order
    fade_out_seconds: float
    bpm: float
    downbeats: np.ndarray  # raw seconds of the grid's bar starts

    @property
    def seconds(self) -> float:
        return float(sum(b - a for a, b in self.spans))

    @property
    def joins(self) -> list[float]:
        """Edit-timeline seconds of every join."""
        return [float(x) for x in np.cumsum([b - a for a, b in self.spans])[:-1]]

    def join_points(self) -> list[tuple[float, float, float]]:
        """(edit seconds, raw seconds reached, raw seconds jumped to) of every join."""
        return [(j, self.spans[i][1], self.spans[i + 1][0]) for i, j in enumerate(self.joins)]

    def pointers(self) -> np.ndarray:
        """The edit as editor-frame pointers (pointers.py), for scoring against a truth."""
        hop = EDIT_FRAME_SECONDS
        out = [np.round((a + np.arange(round((b - a) / hop)) * hop) / hop) for a, b in self.spans]
        return np.concatenate(out).astype(np.int64)

    def summary(self) -> str:
        cuts = ", ".join(f"{a:.2f}-{b:.2f} s" for a, b in self.spans)
        return f"{self.method}: {self.seconds:.1f} s from raw {cuts} ({self.bpm:.1f} BPM)"


def bar_starts(mel: np.ndarray, duration: float, bpm: float, phase: float) -> np.ndarray:
    """Raw seconds of every bar start of a song (its (N_MELS, T) log-mel, `duration` seconds): the
    beat grid from `phase`, four beats a bar, starting on the beat (of four) with the most low-band
    (kick) attack energy."""
    beats = phase + np.arange(int((duration - phase) * bpm / 60.0) + 1) * 60.0 / bpm
    if len(beats) < 4:
        return beats[:1]
    low = np.power(10.0, mel[:12].astype(np.float64)).sum(axis=0)
    flux = np.maximum(np.diff(np.log10(low + 1e-10), prepend=np.log10(low[0] + 1e-10)), 0.0)
    idx = np.clip(seconds_to_frame(beats), 0, len(flux) - 1)
    strength = [flux[idx[k::4]].mean() for k in range(4)]
    return beats[int(np.argmax(strength)) :: 4]


def plan_song_edit(
    mono: np.ndarray, seconds: float, method: str = "splice", *, bpm: float | None = None,
    first_beat_seconds: float | None = None,
) -> SongEdit:  # fmt: skip
    """The edit of mono SAMPLE_RATE audio to about `seconds` (module docstring). ValueError on a
    target that is not positive, longer than the song, or under MIN_SECONDS."""
    duration = len(mono) / SAMPLE_RATE
    if method not in METHODS:
        raise ValueError(f"unknown edit method {method!r} (one of {', '.join(METHODS)})")
    if not np.isfinite(seconds) or seconds < MIN_SECONDS:
        raise ValueError(f"the target length must be at least {MIN_SECONDS:g} s, got {seconds!r}")
    if seconds >= duration:
        raise ValueError(f"the song is {duration:.1f} s: nothing to cut for a {seconds:g} s target")
    tempo = resolve_tempo(mono, bpm, first_beat_seconds)
    mel = compute_features(mono).mel  # once: the bar phase and the splice's bar shapes both read it
    downbeats = bar_starts(mel, duration, tempo.bpm, tempo.first_beat_seconds)
    bar = 4 * 60.0 / tempo.bpm
    if method == "identity":
        return SongEdit(method, ((0.0, float(seconds)),), min(1.0, seconds / 4), tempo.bpm, downbeats)
    inner = downbeats[(downbeats > 0) & (downbeats < duration)]
    if method == "splice":
        found = _splice(mel, inner, duration, seconds)
        if found is not None:
            return SongEdit(method, found, 0.0, tempo.bpm, downbeats)
    if len(inner) == 0:
        return SongEdit("truncate", ((0.0, float(seconds)),), min(bar, seconds / 4), tempo.bpm, downbeats)
    end = float(inner[np.argmin(np.abs(inner - seconds))])
    return SongEdit("truncate", ((0.0, end),), min(bar, end / 4), tempo.bpm, downbeats)


def _splice(mel: np.ndarray, downbeats: np.ndarray, duration: float, seconds: float):
    """The (start, a), (b, end) spans of the best single middle cut, or None when none keeps
    MIN_KEEP_BARS on both sides."""
    cut = duration - seconds
    n = len(downbeats)
    if n < 2 * MIN_KEEP_BARS + 2:
        return None
    shape, _ = edit_features(mel)
    frames = np.clip(np.round(downbeats / EDIT_FRAME_SECONDS).astype(int), 0, len(shape) - 1)
    bars = [shape[frames[i] : frames[i + 1]].mean(axis=0) for i in range(n - 1)]
    bars = np.array([b / max(np.linalg.norm(b), 1e-9) for b in bars])
    best, best_key = None, None
    for a in range(MIN_KEEP_BARS, n - 1):
        lengths = downbeats - downbeats[a]
        b = int(np.argmin(np.abs(lengths - cut)))
        if b <= a or b > n - MIN_KEEP_BARS:  # keep MIN_KEEP_BARS after the cut too
            continue
        error = abs(lengths[b] - cut)
        look = float(bars[a - 1] @ bars[b - 1] + bars[a] @ bars[b])  # the bars around both ends
        key = (round(error), -look)  # within a second of the target first, then the least audible
        if best_key is None or key < best_key:
            best, best_key = ((0.0, float(downbeats[a])), (float(downbeats[b]), float(duration))), key
    return best


def render_song_edit(samples: np.ndarray, rate: int, edit: SongEdit) -> np.ndarray:
    """The edit of `samples` ((n,) or (n, channels) at `rate`), the fade-out applied."""
    spans = [(round(a * rate), max(1, round((b - a) * rate))) for a, b in edit.spans]
    out = render_spans(samples, rate, spans)
    k = min(len(out), round(edit.fade_out_seconds * rate))
    if k:
        ramp = np.linspace(1.0, 0.0, k, dtype=np.float32)
        out[-k:] *= ramp if out.ndim == 1 else ramp[:, None]
    return out
