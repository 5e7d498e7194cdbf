"""Render a symbolic `Song` to samples and encode it as Ogg Vorbis, byte-identically per seed.

Drums are synthesised one voice at a time (a pitch-swept sine kick, a noise-and-tone snare,
high-passed noise hats and crash) and mixed at the song's hit positions, each scaled by its
velocity: attacks are sharp (no fade-in) so onset detectors and the onset model see clear,
level-varied hits. Bass (a few saw harmonics) follows the chord roots; chords are soft pads
with slow attacks so they do not read as drum onsets.

libsndfile gives each Ogg stream a random serial number, so two encodings of the same
samples differ; `encode_ogg` rewrites the serial and the page checksums to make the bytes
a pure function of the samples.
"""

from __future__ import annotations

import numpy as np

from automapper_ml import audio
from automapper_ml.audio import fix_ogg_serial  # noqa: F401 - re-exported for callers
from automapper_ml.synth.composition import Song, Tone

SAMPLE_RATE = 44100
OGG_SERIAL = 0x5EED_0001  # fixed Ogg stream serial (libsndfile would pick a random one)
VORBIS_QUALITY = 0.3  # libsndfile's compression level 0..1: small files, clean transients


def render_song(song: Song, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_samples,) float32 mono mix of `song`, exactly `song.seconds` long, peak `song.level`."""
    n = int(round(song.seconds * sample_rate))
    mix = np.zeros(n, dtype=np.float32)
    rng = np.random.default_rng(song.seed + 7919)  # voice timbres: fixed per song
    voices = _drum_voices(rng, sample_rate)
    timing = song.timing()
    drum_gain = {"kick": 1.0, "snare": 0.75, "hat": 0.22, "open_hat": 0.25, "crash": 0.35}
    for hit, second in zip(song.hits, song.hit_seconds(), strict=True):
        section = song.section_at(hit.beat)
        gain = drum_gain[hit.drum] * hit.velocity * (0.75 + 0.25 * section.energy)
        _add(mix, voices[hit.drum], int(round(second * sample_rate)), gain)
    for tone in song.bass:
        start, length = _span(timing, tone, sample_rate)
        _add(mix, _bass_voice(tone.midi[0], length, sample_rate), start, 0.28 * tone.velocity)
    for tone in song.chords:
        start, length = _span(timing, tone, sample_rate)
        _add(mix, _pad_voice(tone.midi, length, sample_rate), start, 0.09 * tone.velocity)
    peak = float(np.max(np.abs(mix))) or 1.0
    mix *= song.level / peak
    return mix


def encode_ogg(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Ogg Vorbis bytes for (n_samples,) or (n_samples, channels) float samples; deterministic."""
    return audio.encode_ogg(samples, sample_rate, quality=VORBIS_QUALITY, serial=OGG_SERIAL)


def _add(mix: np.ndarray, voice: np.ndarray, start: int, gain: float) -> None:
    if start < 0:  # a hit pushed just before 0 s by human timing
        voice, start = voice[-start:], 0
    end = min(len(mix), start + len(voice))
    if start < end:
        mix[start:end] += gain * voice[: end - start]


def _span(timing, tone: Tone, sample_rate: int) -> tuple[int, int]:
    start = timing.to_seconds(tone.beat)
    end = timing.to_seconds(tone.beat + tone.beats)
    return int(round(start * sample_rate)), max(1, int(round((end - start) * sample_rate)))


def _drum_voices(rng: np.random.Generator, sr: int) -> dict[str, np.ndarray]:
    """One float32 waveform per drum (peak ~1), timbre varied slightly per song."""

    def t(seconds: float) -> np.ndarray:
        return np.arange(int(seconds * sr)) / sr

    def highpass(x: np.ndarray, times: int) -> np.ndarray:
        for _ in range(times):  # repeated first differences: a cheap steep high-pass for noise
            x = np.diff(x, prepend=0.0)
        return x / (np.max(np.abs(x)) or 1.0)

    tk = t(0.35)
    low, high = rng.uniform(42, 58), rng.uniform(120, 170)
    freq = low + (high - low) * np.exp(-tk / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-tk / rng.uniform(0.1, 0.18))
    kick[: int(0.002 * sr)] += rng.uniform(-0.5, 0.5, int(0.002 * sr))  # beater click
    ts = t(0.22)
    snare = 0.7 * highpass(rng.standard_normal(len(ts)), 1) * np.exp(-ts / rng.uniform(0.04, 0.07))
    snare += 0.5 * np.sin(2 * np.pi * rng.uniform(170, 220) * ts) * np.exp(-ts / 0.04)
    th = t(0.06)
    hat = highpass(rng.standard_normal(len(th)), 2) * np.exp(-th / 0.012)
    to = t(0.35)
    open_hat = highpass(rng.standard_normal(len(to)), 2) * np.exp(-to / 0.09)
    tc = t(1.4)
    crash = highpass(rng.standard_normal(len(tc)), 2) * np.exp(-tc / 0.45)
    voices = {"kick": kick, "snare": snare, "hat": hat, "open_hat": open_hat, "crash": crash}
    return {k: (v / np.max(np.abs(v))).astype(np.float32) for k, v in voices.items()}


def _midi_hz(midi: int) -> float:
    return 440.0 * 2.0 ** ((midi - 69) / 12)


def _bass_voice(midi: int, length: int, sr: int) -> np.ndarray:
    tt = np.arange(length) / sr
    f = _midi_hz(midi)
    wave = sum(np.sin(2 * np.pi * k * f * tt) / k for k in range(1, 6))
    env = np.minimum(1.0, tt / 0.008) * np.exp(-tt / 0.25)
    env[-min(length, int(0.01 * sr)) :] *= np.linspace(1, 0, min(length, int(0.01 * sr)))  # no click
    return (wave * env).astype(np.float32)


def _pad_voice(midis: tuple[int, ...], length: int, sr: int) -> np.ndarray:
    tt = np.arange(length) / sr
    wave = sum(
        np.sin(2 * np.pi * _midi_hz(m) * tt) + 0.3 * np.sin(4 * np.pi * _midi_hz(m) * tt) for m in midis
    )
    attack, release = min(length, int(0.15 * sr)), min(length, int(0.2 * sr))
    env = np.ones(length)
    env[:attack] = np.linspace(0, 1, attack)
    env[length - release :] *= np.linspace(1, 0, release)
    return (wave * env / len(midis)).astype(np.float32)
