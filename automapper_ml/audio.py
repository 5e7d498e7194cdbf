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

Decoding is bounded (automapper_ml.limits): `audio_info` checks the header's sample rate, channels
and length before a sample is read; `read_blocks` decodes DECODE_BLOCK frames at a time as float32
(NaN -> 0, +-inf -> +-1); mixing down, resampling (`BlockResampler`, the same bits as one
resample_poly call) and Vorbis encoding (`encode_ogg_blocks`) work on those blocks, and the STFT
runs STFT_CHUNK_FRAMES frames at a time (the same bits as one centred STFT); `compute_features` takes
its mel and band sums chunk by chunk, never holding the spectrogram whole (29 minutes of audio:
peak 1.84 -> 1.36 GB). Memory follows the
output (mono 22,050 Hz features, or a map's song), never the file's native samples.
"""

from __future__ import annotations

import io
import math
import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import soundfile as sf
from scipy.signal import firwin, resample_poly

from automapper_ml.limits import (
    MAX_ABS_BEAT,
    MAX_AUDIO_SECONDS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
)

AUDIO_FEATURES_VERSION = "1"

SAMPLE_RATE = 22050
N_FFT = 2048
HOP_LENGTH = 256
N_MELS = 80
F_MIN = 30.0
F_MAX = SAMPLE_RATE / 2
FRAME_SECONDS = HOP_LENGTH / SAMPLE_RATE  # 11.6 ms
FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH  # 86.13
STFT_CHUNK_FRAMES = 1 << 12  # frames per STFT call (47 s of audio, ~34 MB of complex spectrum)
N_STRUCTURE = 6
STRUCTURE_NAMES = ("loudness", "onset_strength", "centroid", "low_share", "high_share", "section_energy")
AUDIO_SUFFIXES = (".egg", ".ogg", ".wav", ".flac", ".mp3")
DECODE_BLOCK = 1 << 16  # frames per read: with MAX_CHANNELS float32 channels, 2 MiB a block
EXPORT_MAX_RATE = 48_000  # a song above this is resampled for the map (44.1/48 kHz, what maps ship)

AudioSource = str | os.PathLike | bytes


class AudioError(ValueError):
    """The audio cannot be decoded (or is empty); `code` matches the blacklist's reason key."""

    code = "bad_audio"


class AudioLimitError(AudioError):
    """The header states a sample rate, channel count or length past automapper_ml.limits."""

    code = "audio_limit"


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


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What an audio file's header says, checked against automapper_ml.limits (`audio_info`)."""

    rate: int  # samples per second
    channels: int
    frames: int  # samples per channel
    format: str  # soundfile's container name: OGG, WAV, FLAC, MP3, ...
    subtype: str  # soundfile's codec name: VORBIS, PCM_16, FLOAT, ...

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def audio_info(source: AudioSource) -> AudioInfo:
    """The header of any file soundfile reads, before a sample is decoded. Raises AudioError (garbage,
    empty) or AudioLimitError (sample rate outside MIN..MAX_SAMPLE_RATE, more than MAX_CHANNELS
    channels, longer than MAX_AUDIO_SECONDS), each with a one-line reason."""
    try:
        info = sf.info(_handle(source))
    except Exception as err:  # libsndfile raises several types for garbage input
        repaired = mp3_from_first_frame(source)
        if repaired is None:
            raise AudioError(f"audio cannot be decoded: {_one_line(err)}") from err
        try:
            info = sf.info(io.BytesIO(repaired))
        except Exception:
            raise AudioError(f"audio cannot be decoded: {_one_line(err)}") from err
    rate, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioLimitError(
            f"audio sample rate {rate} Hz is outside {MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioLimitError(f"audio has {channels} channels (at most {MAX_CHANNELS})")
    if frames <= 0:
        raise AudioError("audio is empty")
    if frames / rate > MAX_AUDIO_SECONDS:
        raise AudioLimitError(
            f"audio lasts {frames / rate / 60:.1f} min, over the {MAX_AUDIO_SECONDS / 60:.0f} min cap"
        )
    return AudioInfo(rate, channels, frames, str(info.format), str(info.subtype))


def read_blocks(source: AudioSource, info: AudioInfo | None = None) -> Iterator[np.ndarray]:
    """The decoded samples, DECODE_BLOCK frames at a time: (frames, channels) float32 blocks.

    The header is checked first (`audio_info`); NaN samples become 0 and infinities +-1 (a float WAV
    may hold them; they would poison every feature and the encoder); decoding past MAX_AUDIO_SECONDS
    (a header that under-states the length) is an AudioLimitError."""
    info = info or audio_info(source)
    max_frames = int(MAX_AUDIO_SECONDS * info.rate)
    decoded = 0
    try:
        with _sound_file(source) as f:
            while True:
                block = f.read(DECODE_BLOCK, dtype="float32", always_2d=True)
                if not len(block):
                    return
                decoded += len(block)
                if decoded > max_frames:
                    raise AudioLimitError(f"audio decodes to more than {MAX_AUDIO_SECONDS / 60:.0f} min")
                if not np.isfinite(block).all():
                    np.nan_to_num(block, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
                yield block
    except AudioError:
        raise
    except Exception as err:  # a stream damaged after its header
        raise AudioError(f"audio cannot be decoded: {_one_line(err)}") from err


class BlockResampler:
    """`scipy.signal.resample_poly(x, up, down)` over a stream, block by block, with the same result
    bit for bit as one call on the whole signal (tests/ml/test_audio.py checks it).

    resample_poly is a FIR filter: each output sample depends on the input within `half` taps of it.
    Every chunk is filtered with `context` input frames on each side (a multiple of `down`, so the
    output phase lines up) and only the outputs centred inside the chunk are kept. Input is (n,) or
    (n, channels) float32; memory is a few chunks, whatever the song's length."""

    def __init__(self, rate: int, target: int, block: int = DECODE_BLOCK) -> None:
        g = math.gcd(int(rate), int(target))
        self.up, self.down = int(target) // g, int(rate) // g
        half = 10 * max(self.up, self.down)  # resample_poly's default filter half-length (upsampled)
        # The filter resample_poly designs (in the input's dtype, float32), once instead of per chunk.
        taps = firwin(2 * half + 1, 1.0 / max(self.up, self.down), window=("kaiser", 5.0))
        self._window = taps.astype(np.float32)
        self.context = -(-(-(-half // self.up) + 1) // self.down) * self.down
        self.step = max(block // self.down, 1) * self.down
        self._buffer: np.ndarray | None = None  # input from global frame self._origin on
        self._origin = 0
        self._next = 0  # global input frame where the next chunk starts
        self._seen = 0

    def push(self, x: np.ndarray) -> np.ndarray:
        """Feed input frames; returns the output frames now complete (maybe none)."""
        self._buffer = x if self._buffer is None else np.concatenate([self._buffer, x])
        self._seen += len(x)
        out = []
        while self._seen >= self._next + self.step + self.context:
            out.append(self._chunk(self._next + self.step))
        return self._join(out, x)

    def finish(self) -> np.ndarray:
        """The remaining output, once all input was pushed."""
        if self._buffer is None:
            return np.zeros(0, dtype=np.float32)
        out = []
        while self._next < self._seen:
            out.append(self._chunk(min(self._next + self.step, self._seen)))
        return self._join(out, self._buffer)

    def _chunk(self, end: int) -> np.ndarray:
        start = self._next
        lo, hi = max(start - self.context, 0), min(end + self.context, self._seen)
        x = self._buffer[lo - self._origin : hi - self._origin]
        y = resample_poly(x, self.up, self.down, window=self._window)
        base = lo * self.up // self.down
        first = -(-start * self.up // self.down)
        last = -(-end * self.up // self.down)  # the last chunk ends at ceil(n * up / down), as resample_poly
        self._next = end
        keep_from = max(end - self.context, 0)  # the next chunk's left context
        self._buffer = self._buffer[keep_from - self._origin :]
        self._origin = keep_from
        return y[first - base : last - base].astype(np.float32, copy=False)

    @staticmethod
    def _join(parts: list[np.ndarray], like: np.ndarray) -> np.ndarray:
        if parts:
            return np.concatenate(parts)
        return np.zeros((0, *like.shape[1:]), dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """(n,) or (n, channels) float32 at `rate` -> at `target`: the resampling `load_audio` streams, so an
    array given in memory gets the same samples as the file would."""
    samples = np.asarray(samples, dtype=np.float32)
    if int(rate) == int(target):
        return samples
    resampler = BlockResampler(rate, target)
    head, tail = resampler.push(samples), resampler.finish()
    return np.concatenate([head, tail]) if len(head) else tail


def load_audio(source: AudioSource, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode any file soundfile reads (Ogg Vorbis .egg/.ogg, WAV, FLAC, MP3) to mono float32.

    Returns (samples,) at `sample_rate`: the channels' mean, resampled with resample_poly. Decoded
    in blocks (`read_blocks`), so memory is the result, not the file's native samples. Raises
    AudioError (AudioLimitError for a header past the limits) with a one-line reason.
    """
    info = audio_info(source)
    resampler = BlockResampler(info.rate, sample_rate) if info.rate != sample_rate else None
    parts = []
    for block in read_blocks(source, info):
        mono = block.mean(axis=1)
        parts.append(resampler.push(mono) if resampler else mono)
    if resampler is not None:
        parts.append(resampler.finish())
    if not sum(len(p) for p in parts):
        raise AudioError("audio is empty")
    return _drain(parts, np.float32)


def export_rate(rate: int) -> int:
    """The rate a song is written at: its own up to EXPORT_MAX_RATE, else 44.1 or 48 kHz."""
    if rate <= EXPORT_MAX_RATE:
        return int(rate)
    return 44100 if rate % 11025 == 0 else 48000


def export_blocks(source: AudioSource, info: AudioInfo | None = None) -> Iterator[np.ndarray]:
    """`read_blocks` as the game's song takes them: 1 or 2 channels (more are mixed down to mono) at
    `export_rate`. Yields (frames, channels) float32 blocks."""
    info = info or audio_info(source)
    target = export_rate(info.rate)
    resampler = BlockResampler(info.rate, target) if target != info.rate else None
    for block in read_blocks(source, info):
        if block.shape[1] > 2:
            block = block.mean(axis=1, keepdims=True)
        block = resampler.push(block) if resampler else block
        if len(block):
            yield block
    if resampler is not None:
        tail = resampler.finish()
        if len(tail):
            yield tail


def load_song(source: AudioSource) -> tuple[np.ndarray, int, np.ndarray]:
    """(export samples (n, 1 or 2) float32 at `export_rate`, that rate, mono float32 at SAMPLE_RATE).

    The mono part is exactly `load_audio(source)`; both come from one pass over the file."""
    info = audio_info(source)
    target = export_rate(info.rate)
    to_export = BlockResampler(info.rate, target) if target != info.rate else None
    to_mono = BlockResampler(info.rate, SAMPLE_RATE) if info.rate != SAMPLE_RATE else None
    native, mono = [], []
    for block in read_blocks(source, info):
        m = block.mean(axis=1)
        mono.append(to_mono.push(m) if to_mono else m)
        kept = block if block.shape[1] <= 2 else m[:, None]
        native.append(to_export.push(kept) if to_export else kept)
    if to_mono is not None:
        mono.append(to_mono.finish())
    if to_export is not None:
        native.append(to_export.finish())
    if not sum(len(p) for p in mono):
        raise AudioError("audio is empty")
    mono_samples = _drain(mono, np.float32)
    return _drain(native, np.result_type(*native)), target, mono_samples


def _drain(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """np.concatenate(parts) as `dtype`, emptying `parts` as it copies: each block is freed once it
    is in place, so a long song peaks near one copy of its samples, not two (the same values)."""
    out = np.empty((sum(len(p) for p in parts), *parts[0].shape[1:]), dtype=dtype)
    at = 0
    parts.reverse()
    while parts:
        part = parts.pop()
        out[at : at + len(part)] = part
        at += len(part)
    return out


def transcode_to_ogg(source: AudioSource, *, quality: float | None = None) -> bytes:
    """Any file soundfile reads -> Ogg Vorbis bytes for a map's song (`export_blocks`, then
    `encode_ogg_blocks`): decoded, mixed down, resampled and encoded a block at a time, so a long or
    hi-res song never sits in memory whole and the encoder never gets one huge write."""
    info = audio_info(source)
    channels = info.channels if info.channels <= 2 else 1
    return encode_ogg_blocks(export_blocks(source, info), export_rate(info.rate), channels, quality=quality)


def _handle(source: AudioSource):
    return io.BytesIO(source) if isinstance(source, bytes | bytearray) else source


def _sound_file(source: AudioSource) -> sf.SoundFile:
    """The source opened for reading; an MP3 libsndfile cannot open is retried from its first frame."""
    try:
        return sf.SoundFile(_handle(source))
    except Exception:
        repaired = mp3_from_first_frame(source)
        if repaired is None:
            raise
        return sf.SoundFile(io.BytesIO(repaired))


# MPEG audio Layer III frame headers: bitrates (kbit/s) by index, for MPEG-1 and for MPEG-2/2.5
_MP3_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
MP3_SCAN_BYTES = 1 << 20  # how far past the tags the first frame is looked for
MP3_CHAINED_FRAMES = 4  # frames in a row, each where the previous one's length says, that make a start


def _mp3_frame_length(data: bytes, at: int) -> int:
    """The length in bytes of the MPEG Layer III frame whose header is at `at`, 0 when none is."""
    if at + 4 > len(data) or data[at] != 0xFF or data[at + 1] & 0xE0 != 0xE0:
        return 0
    version, layer = (data[at + 1] >> 3) & 3, (data[at + 1] >> 1) & 3
    bitrate, rate, padding = data[at + 2] >> 4, (data[at + 2] >> 2) & 3, (data[at + 2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate in (0, 15) or rate == 3:
        return 0
    kbps = _MP3_KBPS[3 if version == 3 else 2][bitrate]
    per_frame = 144 if version == 3 else 72  # samples per frame / 8
    return per_frame * kbps * 1000 // _MP3_RATES[version][rate] + padding


def mp3_from_first_frame(source: AudioSource) -> bytes | None:
    """An MP3 that libsndfile cannot open because of what precedes its audio (an ID3v2 tag whose size
    field is 0 or too short, an ID3v1 tag or junk in front): its bytes from the first MPEG Layer III
    frame on, found as MP3_CHAINED_FRAMES headers in a row. None for anything else (not ID3-tagged,
    or no such frames in the first MP3_SCAN_BYTES), so other input keeps its own error."""
    if isinstance(source, bytes | bytearray):
        data = bytes(source)
    else:
        try:
            with open(source, "rb") as f:
                if f.read(3) != b"ID3":
                    return None
                f.seek(0)
                data = f.read()
        except OSError:
            return None
    if not data.startswith(b"ID3"):
        return None
    at = data.find(b"\xff", 10)
    while 0 <= at < MP3_SCAN_BYTES:
        pos, chained = at, 0
        while chained < MP3_CHAINED_FRAMES and (length := _mp3_frame_length(data, pos)):
            pos, chained = pos + length, chained + 1
        if chained == MP3_CHAINED_FRAMES:
            return data[at:]
        at = data.find(b"\xff", at + 1)
    return None


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


OGG_SERIAL = 0x5EED_0001  # fixed Ogg stream serial: libsndfile would pick a random one per file
ENCODE_BLOCK = 1 << 15  # frames per write: libsndfile's Vorbis encoder segfaults on one huge write


def encode_ogg(
    samples: np.ndarray, sample_rate: int, *, quality: float | None = None, serial: int = OGG_SERIAL
) -> bytes:
    """THE Ogg Vorbis encoder: (n,) or (n, channels) float samples -> bytes, a pure function of
    the samples (fixed stream serial), written in blocks (one write of a few minutes crashes
    libsndfile). `quality` is libsndfile's compression level 0..1 (None: its default)."""
    y = np.asarray(samples, dtype=np.float32)
    channels = 1 if y.ndim == 1 else y.shape[1]
    return encode_ogg_blocks([y], sample_rate, channels, quality=quality, serial=serial)


def encode_ogg_blocks(
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channels: int,
    *,
    quality: float | None = None,
    serial: int = OGG_SERIAL,
) -> bytes:
    """`encode_ogg` over a stream of (frames,) or (frames, channels) blocks of any size: each is
    clipped to -1..1 and written ENCODE_BLOCK frames at a time."""
    extra = {} if quality is None else {"compression_level": quality}
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", int(sample_rate), channels, format="OGG", subtype="VORBIS", **extra) as f:
        for block in blocks:
            y = np.clip(np.asarray(block, dtype=np.float32), -1.0, 1.0)
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
    """Centred STFT power, (N_FFT // 2 + 1, T) float32 with T = n_frames_for(len(samples)).

    Computed STFT_CHUNK_FRAMES frames at a time over the reflect-padded signal (what a centred STFT
    frames), so the complex spectrum of a long song never exists whole; the result is the same bit
    for bit as one centred torch.stft call (tests/ml/test_audio.py)."""
    n_frames = n_frames_for(len(samples))
    # Column-major, like torch.stft's own output: numpy's per-frame sums then add in the same order.
    power = np.empty((N_FFT // 2 + 1, n_frames), dtype=np.float32, order="F")
    for chunk, part in power_chunks(samples):
        power[:, chunk] = part
    return power


def power_chunks(samples: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    """(frames, power (N_FFT // 2 + 1, len(frames)) float32, column-major) for each `_frame_chunks`
    slice: `power_spectrogram` a chunk at a time, for callers that never need it whole."""
    import torch

    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if x.numel() < N_FFT // 2 + 1:  # reflect padding needs a few samples
        x = torch.nn.functional.pad(x, (0, N_FFT // 2 + 1 - x.numel()))
    padded = torch.nn.functional.pad(x[None, None], (N_FFT // 2, N_FFT // 2), mode="reflect")[0, 0]
    window = torch.from_numpy(_window())
    for chunk in _frame_chunks(n_frames_for(len(samples))):
        segment = padded[chunk.start * HOP_LENGTH : (chunk.stop - 1) * HOP_LENGTH + N_FFT]
        spec = torch.stft(segment, N_FFT, HOP_LENGTH, window=window, center=False, return_complex=True)
        yield chunk, np.asfortranarray((spec.real.square() + spec.imag.square()).numpy())


def _frame_chunks(n_frames: int) -> list[slice]:
    """Slices of about STFT_CHUNK_FRAMES frames covering 0..n_frames, never one frame alone (unless
    n_frames is 1): numpy sums a one-column block pairwise and a wider one row by row, so a lone
    last frame would differ in its last bit from the whole-song computation."""
    bounds = [*range(0, n_frames, STFT_CHUNK_FRAMES), n_frames]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]


def log_mel(power: np.ndarray) -> np.ndarray:
    """(N_MELS, T) log10 mel power from a power spectrogram, `_frame_chunks` frames per product: the
    BLAS product's last bits depend on its width, so the whole-song and the chunked `compute_features`
    multiply the same blocks and agree bit for bit."""
    filters = _mel_filters(SAMPLE_RATE, N_FFT, N_MELS)
    mel = np.empty((N_MELS, power.shape[1]), dtype=np.float32)
    for chunk in _frame_chunks(power.shape[1]):
        mel[:, chunk] = filters @ power[:, chunk]
    return np.log10(np.maximum(mel, 1e-10)).astype(np.float32)


def structure_features(power: np.ndarray, mel_db: np.ndarray) -> np.ndarray:
    """(N_STRUCTURE, T) per-frame features described in the module docstring."""
    sums = np.empty((4, power.shape[1]), dtype=np.float32)
    for chunk in _frame_chunks(power.shape[1]):
        sums[:, chunk] = _band_sums(power[:, chunk])
    return _structure(sums, mel_db)


def _band_sums(part: np.ndarray) -> np.ndarray:
    """(4, k) per-frame sums of a power chunk (N_FFT // 2 + 1, k): total, frequency-weighted, under
    150 Hz, over 5 kHz (each frame's column adds alone: the same bits in any chunking)."""
    freqs = np.linspace(0, SAMPLE_RATE / 2, part.shape[0], dtype=np.float32)
    return np.stack(
        [part.sum(axis=0), (freqs[:, None] * part).sum(axis=0), part[freqs < 150].sum(axis=0),
         part[freqs > 5000].sum(axis=0)]
    )  # fmt: skip


def _structure(sums: np.ndarray, mel_db: np.ndarray) -> np.ndarray:
    """structure_features from the per-frame `_band_sums` (4, T) and the log-mel (N_MELS, T)."""
    total = sums[0] + 1e-10
    rms_db = 10 * np.log10(total / N_FFT + 1e-10)
    loudness = np.clip((rms_db - rms_db.max()) / 60.0, -1.0, 0.0)

    flux = np.maximum(np.diff(mel_db, axis=1, prepend=mel_db[:, :1]), 0.0).mean(axis=0)
    onset = np.clip(flux / (np.percentile(flux, 99) + 1e-6), 0.0, 2.0)

    centroid_hz = sums[1] / total
    lo, hi = np.log2(F_MIN), np.log2(F_MAX)
    centroid = np.clip((np.log2(np.maximum(centroid_hz, F_MIN)) - lo) / (hi - lo), 0.0, 1.0)

    low_share = sums[2] / total
    high_share = sums[3] / total

    width = max(1, int(round(4.0 * FRAMES_PER_SECOND)))
    kernel = np.ones(width, dtype=np.float32) / width
    section = np.convolve(
        np.pad(loudness, (width // 2, width - 1 - width // 2), mode="edge"), kernel, mode="valid"
    )

    return np.stack([loudness, onset, centroid, low_share, high_share, section]).astype(np.float32)


def compute_features(samples: np.ndarray) -> AudioFeatures:
    """Log-mel and structure features of mono SAMPLE_RATE audio, a chunk of frames at a time: the
    power spectrogram (1025 x T float32: 640 MB for 30 minutes) never exists whole. The same bits
    as `log_mel` and `structure_features` over `power_spectrogram` (tests/ml/test_audio_decoding.py)."""
    n_frames = n_frames_for(len(samples))
    mel = np.empty((N_MELS, n_frames), dtype=np.float32)
    sums = np.empty((4, n_frames), dtype=np.float32)
    filters = _mel_filters(SAMPLE_RATE, N_FFT, N_MELS)
    for chunk, part in power_chunks(samples):
        mel[:, chunk] = filters @ part
        sums[:, chunk] = _band_sums(part)
    mel = np.log10(np.maximum(mel, 1e-10)).astype(np.float32)
    return AudioFeatures(mel=mel, structure=_structure(sums, mel), duration=len(samples) / SAMPLE_RATE)


def beat_grid(timing, duration: float) -> np.ndarray:
    """Seconds of every whole beat from beat 0 up to `duration`, honouring BPM changes.

    `timing` is a formats.model.Timing. Returns (n_beats,) float64, increasing.
    """
    if duration <= 0:
        return np.zeros(0)
    end = timing.to_beats(duration)
    # No object lies past MAX_ABS_BEAT (the readers refuse it), so neither does the grid.
    last_beat = int(np.ceil(min(end, MAX_ABS_BEAT))) + 1 if math.isfinite(end) else int(MAX_ABS_BEAT) + 1
    seconds = np.array([timing.to_seconds(float(b)) for b in range(max(last_beat, 1))], dtype=np.float64)
    return seconds[(seconds >= 0) & (seconds <= duration)]
