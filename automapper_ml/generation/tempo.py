"""Tempo and beat phase: detect them (or take the user's), put beat 0 on the audio, snap times to the grid.

Detection (`detect_tempo`), in three steps, on mono audio resampled to audio.SAMPLE_RATE:

1. Candidates: peaks of the autocorrelation of librosa's onset-strength envelope (hop HOP_LENGTH,
   11.6 ms) at lags between MIN_BPM and MAX_BPM, plus their octaves (x2, /2) inside that range.
2. Comb score: for a BPM, the mean onset strength at its beat times, at the best phase (phases
   stepped one frame). Each candidate is refined on a fine BPM grid (+-3%, then +-0.25%).
   Octave choice: every candidate scoring at least OCTAVE_KEEP_RATIO of the best is "as good";
   among those the one inside PREFERRED_BPM (Beat Saber songs are mapped at 100-200) wins, else
   the best scorer. A click on every beat at 87 BPM leaves every other 174-BPM beat empty
   (score ratio 0.5), so it stays 87; 87-BPM music with even eighth notes scores about the same
   at 174 and reads as 174. That is the documented ambiguous case: both give the same grid
   once notes snap to 1/8 and 1/6 of a beat, only the beat numbers double.
3. Refinement: an attack curve (positive slope of log energy in 1.45 ms hops, 5.8 ms windows) is
   searched within +-ATTACK_WINDOW of each predicted beat; a weighted least-squares line through
   the attack times gives the final period and phase. The onset-strength envelope peaks 15-25 ms
   after a click's start (its 46 ms half-window); the attack curve does not, so the phase is
   where the hit starts, which is where a player expects to cut.

Confidence is the comb contrast at the chosen tempo, 1 - median / max over phases: ~1 for a
steady beat, ~0 for noise or silence. Silence (or under MIN_SECONDS of audio) gives DEFAULT_BPM
with confidence 0 and source "default" rather than an error: the caller reports it.

Beat 0 on the audio (`beat_timing`): v2.1 Info.dat has no offset field, and v3 files anchor
beat 0 at second 0. So the song is padded with `pad_seconds` (< one beat) of silence at the
start: in the padded audio beat(t') = t' * bpm / 60, and a time t of the original audio sits at
beat (t - first_beat_seconds) * bpm / 60 + first_beat with first_beat = 1 when the phase is
positive (0 when the first beat is at second 0). Padding (rather than trimming) never loses a
pickup before the first beat. `BeatAlignment.to_beats` / `to_seconds` convert original-audio
seconds; `pad_audio` makes the audio to export.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy.signal import resample_poly

from automapper_ml.audio import HOP_LENGTH, SAMPLE_RATE, AudioError
from automapper_ml.formats.model import ColorNote, Timing

MIN_BPM, MAX_BPM = 60.0, 240.0
PREFERRED_BPM = (100.0, 200.0)  # Beat Saber's usual mapping tempo: the octave inside it wins ties
DEFAULT_BPM = 120.0  # used (and reported, confidence 0) when no beat can be found
OCTAVE_KEEP_RATIO = 0.8  # an octave scoring this share of the best counts as equally good
MIN_SECONDS = 2.0  # less audio than this has no measurable tempo
ATTACK_HOP = 32  # samples (1.45 ms): resolution of the attack curve used for the phase
ATTACK_WIN = 128  # samples (5.8 ms)
ATTACK_WINDOW = 0.035  # seconds: an attack this close to a predicted beat is that beat's hit
N_CANDIDATES = 4
SUBDIVISIONS = (8, 6)  # beat fractions notes snap to: 1/8 and 1/6 (triplets)

TempoSource = Literal["user", "detected", "user_bpm_detected_phase", "default"]


@dataclass(frozen=True, slots=True)
class TempoEstimate:
    bpm: float  # beats per minute
    first_beat_seconds: float  # phase: time of the first beat in the original audio, in [0, 60 / bpm)
    confidence: float  # 0..1 comb contrast (1 for user-given values)
    source: TempoSource  # where bpm and phase came from


@dataclass(frozen=True, slots=True)
class BeatAlignment:
    """The map's timeline for one song: constant `bpm`, beat 0 at second 0 of the padded audio."""

    bpm: float
    first_beat_seconds: float  # phase in the original audio
    pad_seconds: float  # silence prepended to the original audio, in [0, 60 / bpm)
    first_beat: int  # map beat of the first detected beat (0 or 1)

    @property
    def timing(self) -> Timing:
        """Beats <-> seconds of the PADDED audio (the exported song.egg)."""
        return Timing.from_changes(self.bpm, [])

    def to_beats(self, seconds: np.ndarray | float) -> np.ndarray | float:
        """Map beats of original-audio times: (t - phase) * bpm / 60 + first_beat."""
        return (np.asarray(seconds, dtype=np.float64) + self.pad_seconds) * self.bpm / 60.0

    def to_seconds(self, beats: np.ndarray | float) -> np.ndarray | float:
        """Original-audio seconds of map beats (inverse of `to_beats`)."""
        return np.asarray(beats, dtype=np.float64) * 60.0 / self.bpm - self.pad_seconds

    def pad_audio(self, samples: np.ndarray, sr: int) -> np.ndarray:
        """(n,) -> (n + round(pad_seconds * sr),): the audio to export, beat 0 at its first sample."""
        pad = int(round(self.pad_seconds * sr))
        return np.concatenate([np.zeros(pad, dtype=samples.dtype), samples])


def user_tempo(bpm: float, first_beat_seconds: float = 0.0) -> TempoEstimate:
    """A tempo the user gave; the phase is folded into one beat. Raises ValueError on a bad BPM."""
    if not (math.isfinite(bpm) and MIN_BPM / 4 <= bpm <= MAX_BPM * 4):
        raise ValueError(f"BPM must be between {MIN_BPM / 4:g} and {MAX_BPM * 4:g}, got {bpm!r}")
    if not math.isfinite(first_beat_seconds):
        raise ValueError(f"first beat must be a finite time, got {first_beat_seconds!r}")
    return TempoEstimate(float(bpm), float(first_beat_seconds) % (60.0 / bpm), 1.0, "user")


def beat_timing(bpm: float, first_beat_seconds: float) -> BeatAlignment:
    """The map timeline for a tempo (see the module docstring): pad so the first beat is an integer beat."""
    est = user_tempo(bpm, first_beat_seconds)
    period = 60.0 / est.bpm
    phase = est.first_beat_seconds
    first = 0 if phase < 1e-9 else 1
    return BeatAlignment(est.bpm, phase, first * period - phase if first else 0.0, first)


def snap_beats(beats: np.ndarray, subdivisions: tuple[int, ...] = SUBDIVISIONS) -> np.ndarray:
    """(n,) beats -> (n,) beats on the nearest 1/k grid point over k in `subdivisions` (ties: first k)."""
    beats = np.asarray(beats, dtype=np.float64)
    if not subdivisions or any(int(k) < 1 for k in subdivisions):
        raise ValueError(f"subdivisions must be positive integers, got {subdivisions!r}")
    best = np.round(beats * subdivisions[0]) / subdivisions[0]
    for k in subdivisions[1:]:
        cand = np.round(beats * k) / k
        better = np.abs(cand - beats) < np.abs(best - beats) - 1e-12
        best = np.where(better, cand, best)
    return best


def snap_notes(notes: list[ColorNote], subdivisions: tuple[int, ...] = SUBDIVISIONS) -> list[ColorNote]:
    """Copies of `notes` on the grid, at most one original time per hand per snapped time.

    When notes of one hand from different original times land on one grid point, the ones whose
    original time was nearest the point are kept (all of them: a stack or window decoded at one
    time stays a stack); the others are dropped. Returns the kept notes sorted by (beat, colour).
    """
    if not notes:
        return []
    raw = np.array([n.beat for n in notes], dtype=np.float64)
    snapped = snap_beats(raw, subdivisions)
    # (hand, snapped key) -> the original beat that wins it
    winner: dict[tuple[int, int], float] = {}
    for n, r, s in zip(notes, raw, snapped, strict=True):
        key = (n.color, int(round(s * 10080)))  # 10080 = lcm-friendly integer key for 1/8 and 1/6 grids
        prev = winner.get(key)
        if prev is None or abs(r - s) < abs(prev - s) - 1e-9:
            winner[key] = float(r)
    out = [
        replace(n, beat=float(s))
        for n, r, s in zip(notes, raw, snapped, strict=True)
        if abs(winner[(n.color, int(round(s * 10080)))] - r) <= 1e-9
    ]
    out.sort(key=lambda n: (n.beat, n.color))
    return out


def beat_strength(beats: np.ndarray) -> np.ndarray:
    """(n,) -> (n,) grid level: 0 whole beat, 1 half, 2 quarter or third, 3 eighth or sixth, 4 off-grid."""
    beats = np.asarray(beats, dtype=float)
    level = np.full(beats.shape, 4, dtype=np.int64)
    for lv, ks in ((3, (8, 6)), (2, (4, 3)), (1, (2,)), (0, (1,))):
        for k in ks:
            on = np.abs(beats * k - np.round(beats * k)) < 1e-3 * k
            level[on] = lv
    return level


def detect_tempo(samples: np.ndarray, sr: int, bpm: float | None = None) -> TempoEstimate:
    """BPM and first-beat phase of mono (or (n, channels)) audio; with `bpm` given, only the phase.

    Raises AudioError for empty or non-finite audio. See the module docstring for the method.
    """
    y = _mono(samples, sr)
    duration = len(y) / SAMPLE_RATE
    if duration < MIN_SECONDS or float(np.max(np.abs(y))) < 1e-4:
        if bpm is not None:
            return replace(user_tempo(bpm), confidence=0.0, source="user_bpm_detected_phase")
        return TempoEstimate(DEFAULT_BPM, 0.0, 0.0, "default")
    import librosa  # lazily: numba start-up is slow

    env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE, hop_length=HOP_LENGTH)
    env = np.convolve(env, np.array([0.25, 0.5, 0.25]), mode="same")  # smooth the comb landscape
    env = env / (float(env.max()) + 1e-12)
    if bpm is None:
        candidates = _candidates(env)
        scored = [_refine_comb(env, c) for c in candidates]
        best_score = max(s for _, _, s in scored)
        good = [t for t in scored if t[2] >= OCTAVE_KEEP_RATIO * best_score]
        preferred = [t for t in good if PREFERRED_BPM[0] <= t[0] <= PREFERRED_BPM[1]]
        tempo, phase, _ = max(preferred or good, key=lambda t: t[2])
        source: TempoSource = "detected"
    else:
        tempo = user_tempo(bpm).bpm
        phase, _ = _best_phase(env, tempo)
        source = "user_bpm_detected_phase"
    confidence = _contrast(env, tempo)
    tempo, phase = _refine_attacks(y, tempo, phase, fit_bpm=bpm is None)
    period = 60.0 / tempo
    return TempoEstimate(float(tempo), float(phase % period), float(confidence), source)


def resolve_tempo(
    mono: np.ndarray, bpm: float | None = None, first_beat_seconds: float | None = None
) -> TempoEstimate:
    """The song's tempo as the generators take it: the user's BPM and first beat when both are given,
    else `detect_tempo` (with the user's BPM, when given, only the phase is detected). `mono` at SAMPLE_RATE."""
    if bpm is not None and first_beat_seconds is not None:
        return user_tempo(bpm, first_beat_seconds)
    return detect_tempo(mono, SAMPLE_RATE, bpm=bpm)


def _mono(samples: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(samples, dtype=np.float32)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.ndim != 1 or y.size == 0:
        raise AudioError("audio must be a non-empty (n,) or (n, channels) array")
    if not np.all(np.isfinite(y)):
        raise AudioError("audio has non-finite samples")
    if not (isinstance(sr, int | np.integer) and sr > 0):
        raise AudioError(f"sample rate must be a positive integer, got {sr!r}")
    if sr != SAMPLE_RATE:
        g = math.gcd(int(sr), SAMPLE_RATE)
        y = resample_poly(y, SAMPLE_RATE // g, int(sr) // g).astype(np.float32)
    return y


def _frames_per_beat(bpm: float) -> float:
    return 60.0 / bpm * SAMPLE_RATE / HOP_LENGTH


def _candidates(env: np.ndarray) -> list[float]:
    """Autocorrelation peaks in MIN_BPM..MAX_BPM and their octaves in range."""
    lo, hi = _frames_per_beat(MAX_BPM), _frames_per_beat(MIN_BPM)
    x = env - env.mean()
    n = len(x)
    spec = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spec * np.conj(spec))[: int(hi) + 3]
    lags = np.arange(len(ac))
    peaks = [
        i
        for i in range(max(2, int(lo)), len(ac) - 1)
        if ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1] and ac[i] > 0
    ]
    peaks = [i for i in peaks if lo <= lags[i] <= hi]
    peaks.sort(key=lambda i: -ac[i])
    out: list[float] = []
    for i in peaks[:N_CANDIDATES]:
        a, b, c = ac[i - 1], ac[i], ac[i + 1]
        denom = a - 2 * b + c
        lag = i + (0.5 * (a - c) / denom if denom < 0 else 0.0)
        bpm = 60.0 * SAMPLE_RATE / HOP_LENGTH / lag
        for factor in (1.0, 2.0, 0.5):
            cand = bpm * factor
            if MIN_BPM <= cand <= MAX_BPM and all(abs(cand / o - 1) > 0.01 for o in out):
                out.append(cand)
    return out or [DEFAULT_BPM]


def _phase_scores(env: np.ndarray, bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean envelope at the beat times for phases stepped one frame: (phases in frames, scores)."""
    period = _frames_per_beat(bpm)
    phases = np.arange(0.0, period, 1.0)
    beats = np.arange(0.0, (len(env) - 1) / period)
    pos = phases[:, None] + beats[None, :] * period  # (P, K) fractional frame indices
    valid = pos <= len(env) - 1
    vals = np.interp(pos, np.arange(len(env)), env) * valid
    return phases, vals.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)


def _best_phase(env: np.ndarray, bpm: float) -> tuple[float, float]:
    """(phase seconds, score) of the best comb phase at `bpm`."""
    phases, scores = _phase_scores(env, bpm)
    i = int(np.argmax(scores))
    return float(phases[i] * HOP_LENGTH / SAMPLE_RATE), float(scores[i])


def _refine_comb(env: np.ndarray, bpm: float) -> tuple[float, float, float]:
    """(bpm, phase seconds, score) maximising the comb score near `bpm`: +-3% by 0.25%, then by 0.02%."""
    best = (bpm, *_best_phase(env, bpm))
    for span, step in ((0.03, 0.0025), (0.0025, 0.0002)):
        centre = best[0]
        for f in np.arange(-span, span + step / 2, step):
            cand = centre * (1.0 + f)
            if not MIN_BPM * 0.97 <= cand <= MAX_BPM * 1.03:
                continue
            phase, score = _best_phase(env, cand)
            if score > best[2]:
                best = (cand, phase, score)
    return best


def _contrast(env: np.ndarray, bpm: float) -> float:
    _, scores = _phase_scores(env, bpm)
    top = float(scores.max())
    return float(np.clip(1.0 - float(np.median(scores)) / top, 0.0, 1.0)) if top > 0 else 0.0


def _attack_curve(y: np.ndarray) -> np.ndarray:
    """Positive slope of log energy, one value per ATTACK_HOP samples (value i at the end of hop i)."""
    n = len(y) // ATTACK_HOP
    energy = np.square(y[: n * ATTACK_HOP].astype(np.float64)).reshape(n, ATTACK_HOP).sum(axis=1)
    per_win = ATTACK_WIN // ATTACK_HOP
    energy = np.convolve(energy, np.ones(per_win), mode="full")[:n]  # trailing window of ATTACK_WIN
    log_e = np.log10(energy + 1e-8 * (energy.max() + 1e-12))
    return np.maximum(np.diff(log_e, prepend=log_e[:1]), 0.0)


def _refine_attacks(y: np.ndarray, bpm: float, phase: float, fit_bpm: bool) -> tuple[float, float]:
    """Least-squares line through the strongest attack near each predicted beat -> (bpm, phase)."""
    attack = _attack_curve(y)
    hop_s = ATTACK_HOP / SAMPLE_RATE
    period = 60.0 / bpm
    # The comb phase comes from the onset envelope, which peaks late: look a little earlier too.
    for window in (2.0 * ATTACK_WINDOW, ATTACK_WINDOW):
        k = np.arange(0, int((len(y) / SAMPLE_RATE - phase) / period) + 1)
        k = k[phase + k * period >= 0]
        ks, ts, ws = [], [], []
        half = int(window / hop_s)
        for kk in k:
            c = int(round((phase + kk * period - window / 4) / hop_s))
            a, b = max(c - half, 0), min(c + half + 1, len(attack))
            if b - a < 3:
                continue
            seg = attack[a:b]
            i = int(np.argmax(seg))
            if seg[i] <= 0.05:  # no hit near this beat
                continue
            # the curve's value i covers the hop ending at sample (a + i + 1) * HOP: the hit starts in it
            ks.append(float(kk))
            ts.append((a + i + 0.5) * hop_s)
            ws.append(float(seg[i]))
        if len(ks) < 4:
            return bpm, phase
        kv, tv, wv = np.array(ks), np.array(ts), np.array(ws)
        if fit_bpm:
            slope, icpt = np.polyfit(kv, tv, 1, w=np.sqrt(wv))
            if slope > 0 and abs(slope / period - 1) < 0.01:
                period = float(slope)
                phase = float(icpt)
                continue
        phase = float(np.average(tv - kv * period, weights=wv))
    return 60.0 / period, phase
