"""Audio front end: decoding, log-mel, structure features, beat grid, and THE frame <-> time rule.

Frame convention (used for labels and predictions alike, in one place):
    The STFT is centred (the signal is reflect-padded by N_FFT // 2 on both sides), so frame i
    covers samples [i*HOP - N_FFT/2, i*HOP + N_FFT/2) and its centre is at i * HOP / SAMPLE_RATE
    seconds. `frame_to_seconds(i) = i * FRAME_SECONDS` and `seconds_to_frame(t) = round(t /
    FRAME_SECONDS)`. A click at time t puts the most energy in the frame centred nearest t, so
    a peak picked on any per-frame curve maps back with `frame_to_seconds`, plus a sub-frame
    parabolic offset (`refine_peak`). tests/ml/test_audio.py checks this on synthetic clicks.

Log-mel: 22,050 Hz mono, N_FFT 2048 (93 ms Hann window), hop 256 (11.6 ms, 86.1 frames/s),
80 Slaney mel bands from 30 Hz to 11,025 Hz, power spectrum, log10(max(power, 1e-10)).

The six structure features per frame (rows of `structure_features`), each normalised per song:
    0 loudness       RMS energy in dB, scaled so the song's loudest frame is 0 and -60 dB is -1
    1 onset_strength half-wave-rectified spectral flux of the log-mel, / its 99th percentile
    2 centroid       spectral centroid, log2(Hz) mapped from [log2 30, log2 11025] to [0, 1]
    3 low_share      share of power below 150 Hz (kick and bass)
    4 high_share     share of power above 5 kHz (hats, cymbals)
    5 section_energy loudness averaged over ~4 s (section level: intro, verse, chorus, breakdown)
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

AUDIO_FEATURES_VERSION = "1"

SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 256
N_MELS = 80
F_MIN = 30.0
F_MAX = SAMPLE_RATE / 2
FRAME_SECONDS = HOP_LENGTH / SAMPLE_RATE  # 11.6 ms
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 86.13
N_STRUCTURE = 6
STRUCTURE_NAMES = ("loudness", "onset_strength", "centroid", "low_share", "high_share", "section_energy")
AUDIO_SUFFIXES = (".egg", ".ogg", ".wav", ".flac", ".mp3")


class AudioError(ValueError):
    """The audio cannot be decoded (or is empty); `code` matches the blacklist's reason key."""

    code = "bad_audio"


@dataclass(frozen=True, slots=True)
class AudioFeatures:
    mel: np.ndarray  # (N_MELS, T) float32 log10 power
    structure: np.ndarray  # (N_STRUCTURE, T) float32, see module docstring
    duration: float  # seconds of decoded audio

    @property
    def n_frames(self) -> int:
        return int(self.mel.shape[1])


def frame_to_seconds(frames: np.ndarray | float) -> np.ndarray | float:
    """Centre time of frame(s) i, seconds."""
    return (
        np.asarray(frames, dtype=np.float64) * FRAME_SECONDS
        if np.ndim(frames)
        else float(frames) * FRAME_SECONDS
    )


def seconds_to_frame(seconds: np.ndarray | float) -> np.ndarray | int:
    """Index of the frame whose centre is nearest to each time."""
    if np.ndim(seconds):
        return np.rint(np.asarray(seconds, dtype=np.float64) / FRAME_SECONDS).astype(np.int64)
    return int(round(float(seconds) / FRAME_SECONDS))


def n_frames_for(n_samples: int) -> int:
    """Frames a centred STFT gives for `n_samples` samples at SAMPLE_RATE."""
    return 1 + n_samples // HOP_LENGTH


def refine_peak(curve: np.ndarray, index: int) -> float:
    """Sub-frame position of a local maximum by a parabola through its neighbours (frames)."""
    if index <= 0 or index >= len(curve) - 1:
        return float(index)
    a, b, c = float(curve[index - 1]), float(curve[index]), float(curve[index + 1])
    denom = a - 2 * b + c
    if denom >= 0:  # not a strict maximum: no refinement
        return float(index)
    return index + 0.5 * (a - c) / denom


def load_audio(source: str | os.PathLike | bytes, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any file soundfile reads (Ogg Vorbis .egg/.ogg, WAV, FLAC, MP3) to mono float32.

    Returns (samples,) at `sample_rate`. Raises AudioError with a one-line reason.
    """
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
        data, rate = sf.read(handle, dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile raises several types for garbage input
        raise AudioError(f"audio cannot be decoded: {' '.join(str(err).split())}") from err
    if data.size == 0 or rate <= 0:
        raise AudioError("audio is empty")
    mono = data.mean(axis=1)
    if not np.all(np.isfinite(mono)):
        raise AudioError("audio has non-finite samples")
    if rate != sample_rate:
        g = np.gcd(int(rate), int(sample_rate))
        mono = resample_poly(mono, sample_rate // g, int(rate) // g).astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


OGG_SERIAL = 0x5EED_0001  # fixed Ogg stream serial: libsndfile would pick a random one per file
ENCODE_BLOCK = 1 << 15  # frames per write: libsndfile's Vorbis encoder segfaults on one huge write


def encode_ogg(
    samples: np.ndarray, sample_rate: int, *, quality: float | None = None, serial: int = OGG_SERIAL
) -> bytes:
    """THE Ogg Vorbis encoder: (n,) or (n, channels) float samples -> bytes, a pure function of
    the samples (fixed stream serial), written in blocks (one write of a few minutes crashes
    libsndfile). `quality` is libsndfile's compression level 0..1 (None: its default)."""
    y = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    channels = 1 if y.ndim == 1 else y.shape[1]
    extra = {} if quality is None else {"compression_level": quality}
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", int(sample_rate), channels, format="OGG", subtype="VORBIS", **extra) as f:
        for start in range(0, len(y), ENCODE_BLOCK):
            f.write(y[start : start + ENCODE_BLOCK])
    return fix_ogg_serial(buffer.getvalue(), serial)


def fix_ogg_serial(data: bytes, serial: int) -> bytes:
    """`data` with every Ogg page's stream serial set to `serial` and its CRC recomputed."""
    out = bytearray(data)
    pos = 0
    while pos + 27 <= len(out):
        if out[pos : pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        n_segments = out[pos + 26]
        body = sum(out[pos + 27 : pos + 27 + n_segments])
        end = pos + 27 + n_segments + body
        struct.pack_into("<I", out, pos + 14, serial)
        struct.pack_into("<I", out, pos + 22, 0)
        struct.pack_into("<I", out, pos + 22, _ogg_crc(bytes(out[pos:end])))
        pos = end
    return bytes(out)


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, not reflected, init 0) via zlib's reflected CRC-32:
    reflecting every input byte and the result turns one into the other, at C speed."""
    raw = zlib.crc32(page.translate(_REVERSED_BITS), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


_REVERSED_BITS = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


@lru_cache(maxsize=4)
def _mel_filters(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa  # imported lazily: numba start-up is slow and only this needs it

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=F_MIN, fmax=F_MAX).astype(
        np.float32
    )


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann


def power_spectrogram(samples: np.ndarray) -> np.ndarray:
    """Centred STFT power, (N_FFT // 2 + 1, T) float32 with T = n_frames_for(len(samples))."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if x.numel() < N_FFT // 2 + 1:  # reflect padding needs a few samples
        x = torch.nn.functional.pad(x, (0, N_FFT // 2 + 1 - x.numel()))
    spec = torch.stft(
        x,
        N_FFT,
        HOP_LENGTH,
        window=torch.from_numpy(_window()),
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    power = spec.real.square() + spec.imag.square()
    return power.numpy()[:, : n_frames_for(len(samples))]


def log_mel(power: np.ndarray) -> np.ndarray:
    """(N_MELS, T) log10 mel power from a power spectrogram."""
    mel = _mel_filters(SAMPLE_RATE, N_FFT, N_MELS) @ power
    return np.log10(np.maximum(mel, 1e-10)).astype(np.float32)


def structure_features(power: np.ndarray, mel_db: np.ndarray) -> np.ndarray:
    """(N_STRUCTURE, T) per-frame features described in the module docstring."""
    freqs = np.linspace(0, SAMPLE_RATE / 2, power.shape[0], dtype=np.float32)
    total = power.sum(axis=0) + 1e-10
    rms_db = 10 * np.log10(total / N_FFT + 1e-10)
    loudness = np.clip((rms_db - rms_db.max()) / 60.0, -1.0, 0.0)

    flux = np.maximum(np.diff(mel_db, axis=1, prepend=mel_db[:, :1]), 0.0).mean(axis=0)
    onset = np.clip(flux / (np.percentile(flux, 99) + 1e-6), 0.0, 2.0)

    centroid_hz = (freqs[:, None] * power).sum(axis=0) / total
    lo, hi = np.log2(F_MIN), np.log2(F_MAX)
    centroid = np.clip((np.log2(np.maximum(centroid_hz, F_MIN)) - lo) / (hi - lo), 0.0, 1.0)

    low_share = power[freqs < 150].sum(axis=0) / total
    high_share = power[freqs > 5000].sum(axis=0) / total

    width = max(1, int(round(4.0 * FRAMES_PER_SECOND)))
    kernel = np.ones(width, dtype=np.float32) / width
    section = np.convolve(
        np.pad(loudness, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid"
    )

    return np.stack([loudness, onset, centroid, low_share, high_share, section]).astype(np.float32)


def compute_features(samples: np.ndarray) -> AudioFeatures:
    """Log-mel and structure features of mono SAMPLE_RATE audio."""
    power = power_spectrogram(samples)
    mel = log_mel(power)
    return AudioFeatures(
        mel=mel, structure=structure_features(power, mel), duration=len(samples) / SAMPLE_RATE
    )


def beat_grid(timing, duration: float) -> np.ndarray:
    """Seconds of every whole beat from beat 0 up to `duration`, honouring BPM changes.

    `timing` is a formats.model.Timing. Returns (n_beats,) float64, increasing.
    """
    if duration <= 0:
        return np.zeros(0)
    last_beat = int(np.ceil(timing.to_beats(duration))) + 1
    seconds = np.array([timing.to_seconds(float(b)) for b in range(max(last_beat, 1))], dtype=np.float64)
    return seconds[(seconds >= 0) & (seconds <= duration)]
