"""Bounded audio decoding (automapper_ml.limits): the header is checked before decoding, samples are
decoded, mixed down, resampled and encoded a block at a time, and the blockwise results are the
same bits as the whole-song computations they replace."""

from __future__ import annotations

import io
import math
import struct

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from automapper_ml import audio
from automapper_ml.formats.model import Timing
from automapper_ml.limits import (
    MAX_ABS_BEAT,
    MAX_AUDIO_SECONDS,
    MAX_CHANNELS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
)


def _file(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def _noise(frames: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal((frames, channels))).astype(np.float32)


def _whole_song_mono(data: bytes, rate_out: int = audio.SAMPLE_RATE) -> np.ndarray:
    """What load_audio computed before it decoded in blocks: one read, one mean, one resample_poly."""
    y, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    mono = y.mean(axis=1)
    if rate == rate_out:
        return mono
    g = math.gcd(rate, rate_out)
    return resample_poly(mono, rate_out // g, rate // g).astype(np.float32)


@pytest.mark.parametrize(
    ("rate", "target"), [(44100, 22050), (48000, 22050), (96000, 48000), (192000, 22050), (8000, 22050)]
)
@pytest.mark.parametrize("channels", [1, 2])
def test_block_resampler_is_resample_poly_bit_for_bit(rate, target, channels):
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((rate * 2 + 1234, channels)).astype(np.float32)
    x = x[:, 0] if channels == 1 else x
    g = math.gcd(rate, target)
    whole = resample_poly(x, target // g, rate // g)
    stream = audio.BlockResampler(rate, target, block=4096)
    parts, i = [], 0
    while i < len(x):  # blocks of uneven sizes, as a decoder hands them over
        n = int(rng.integers(1, 9000))
        parts.append(stream.push(x[i : i + n]))
        i += n
    parts.append(stream.finish())
    assert np.array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize(("frames", "extra"), [(600, 0), (601, 0), (601, 255), (602, 7), (1, 3)])
def test_chunked_stft_is_one_centred_stft_bit_for_bit(frames, extra, monkeypatch):
    """Frame counts put the last chunk at every edge: full, a lone frame, two frames, one chunk."""
    monkeypatch.setattr(audio, "STFT_CHUNK_FRAMES", 300)  # several chunks of a few seconds
    n = (frames - 1) * audio.HOP_LENGTH + extra
    assert audio.n_frames_for(n) == frames
    x = (0.1 * np.random.default_rng(extra).standard_normal(n)).astype(np.float32)
    window = torch.from_numpy(audio._window())
    padded = np.pad(x, (0, max(0, audio.N_FFT // 2 + 1 - n)))  # reflect padding needs a few samples
    spec = torch.stft(torch.from_numpy(padded), audio.N_FFT, audio.HOP_LENGTH, window=window, center=True,
                      pad_mode="reflect", return_complex=True)  # fmt: skip
    whole = (spec.real.square() + spec.imag.square()).numpy()[:, : audio.n_frames_for(n)]
    chunked = audio.power_spectrogram(x)
    assert np.array_equal(chunked, whole)
    # the per-frame sums of structure_features see the same bits in the same layout
    assert np.array_equal(
        audio.structure_features(chunked, audio.log_mel(chunked)),
        audio.structure_features(whole, audio.log_mel(whole)),
    )
    # compute_features never holds the spectrogram whole, and gives the same bits
    feats = audio.compute_features(x)
    assert np.array_equal(feats.mel, audio.log_mel(whole))
    assert np.array_equal(feats.structure, audio.structure_features(whole, audio.log_mel(whole)))


@pytest.mark.parametrize(
    ("rate", "channels", "fmt"),
    [(44100, 2, "OGG"), (48000, 1, "FLAC"), (96000, 4, "FLAC"), (22050, 2, "WAV")],
)
def test_load_audio_equals_the_whole_song_decode(rate, channels, fmt):
    data = _file(_noise(rate * 3 + 17, channels), rate, fmt)
    assert np.array_equal(audio.load_audio(data), _whole_song_mono(data))


def test_load_song_is_load_audio_plus_export_samples():
    data = _file(_noise(96000 * 2, 2), 96000, "FLAC")
    native, rate, mono = audio.load_song(data)
    assert np.array_equal(mono, audio.load_audio(data))
    assert rate == 48000 and native.shape == (48000 * 2, 2) and native.dtype == np.float32
    native, rate, _ = audio.load_song(_file(_noise(44100, 6), 44100, "WAV"))
    assert rate == 44100 and native.shape == (44100, 1)  # more than 2 channels: mixed down to mono


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE])
def test_sample_rate_inside(rate):
    assert audio.audio_info(_file(_noise(100, 1), rate)).rate == rate


@pytest.mark.parametrize("rate", [MIN_SAMPLE_RATE - 1, MAX_SAMPLE_RATE + 1, 2_147_483_647])
def test_sample_rate_outside(rate):
    data = bytearray(_file(_noise(4410, 1), 44100))
    struct.pack_into("<I", data, 24, rate)  # the WAV header's sample rate, as a hostile file states it
    with pytest.raises(audio.AudioLimitError, match=f"{rate} Hz") as err:
        audio.load_audio(bytes(data))
    assert "\n" not in str(err.value) and err.value.code == "audio_limit"


def test_channel_cap():
    assert audio.audio_info(_file(_noise(100, MAX_CHANNELS), 44100)).channels == MAX_CHANNELS
    with pytest.raises(audio.AudioLimitError, match="channels"):
        audio.audio_info(_file(_noise(100, MAX_CHANNELS + 1), 44100))


def test_duration_cap():
    rate = MIN_SAMPLE_RATE
    frames = int(MAX_AUDIO_SECONDS * rate)
    silence = np.zeros((frames, 1), dtype=np.int16)  # FLAC of silence: a few kB for 30 min
    assert audio.audio_info(_file(silence, rate, "FLAC")).seconds == MAX_AUDIO_SECONDS
    longer = np.zeros((frames + 1, 1), dtype=np.int16)
    with pytest.raises(audio.AudioLimitError, match="min cap"):
        audio.audio_info(_file(longer, rate, "FLAC"))


def test_decoding_stops_when_a_header_understates_the_length(monkeypatch):
    data = _file(_noise(44100 * 2, 1), 44100)
    info = audio.audio_info(data)
    monkeypatch.setattr(audio, "MAX_AUDIO_SECONDS", 1.0)  # the header said 2 s; decoding finds more
    with pytest.raises(audio.AudioLimitError, match="decodes to more than"):
        list(audio.read_blocks(data, info))


def test_non_finite_samples_are_cleaned():
    y = _noise(44100, 2)
    y[::100] = np.nan
    y[1::100, 0] = np.inf
    y[2::100, 1] = -np.inf
    data = _file(y, 44100, "WAV", "FLOAT")
    blocks = np.concatenate(list(audio.read_blocks(data)))
    assert np.isfinite(blocks).all()
    assert (blocks[::100] == 0).all() and (blocks[1::100, 0] == 1).all() and (blocks[2::100, 1] == -1).all()
    assert np.isfinite(audio.load_audio(data)).all()
    decoded, rate = sf.read(io.BytesIO(audio.transcode_to_ogg(data)), dtype="float32")
    assert rate == 44100 and np.isfinite(decoded).all()


@pytest.mark.parametrize(
    ("rate", "channels", "out_rate", "out_channels"),
    [(96000, 2, 48000, 2), (88200, 1, 44100, 1), (44100, 4, 44100, 1), (48000, 2, 48000, 2)],
)
def test_transcode_to_ogg(rate, channels, out_rate, out_channels):
    seconds = 3
    data = _file(_noise(rate * seconds, channels), rate, "FLAC")
    ogg = audio.transcode_to_ogg(data)
    info = sf.info(io.BytesIO(ogg))
    assert (info.format, info.subtype) == ("OGG", "VORBIS")
    assert (info.samplerate, info.channels, info.frames) == (out_rate, out_channels, out_rate * seconds)
    assert audio.transcode_to_ogg(data) == ogg  # a pure function of the samples (fixed stream serial)


def test_garbage_and_empty_audio():
    with pytest.raises(audio.AudioError, match="cannot be decoded"):
        audio.audio_info(b"RIFF" + b"\x00" * 100)
    with pytest.raises(audio.AudioError, match="empty"):
        audio.load_audio(_file(np.zeros((0, 1), dtype=np.float32), 44100))


def _id3(size: int, body: bytes) -> bytes:
    """An ID3v2.3 tag whose header claims `size` bytes (syncsafe), followed by `body`."""
    return (
        b"ID3\x03\x00\x00" + bytes((size >> 21 & 127, size >> 14 & 127, size >> 7 & 127, size & 127)) + body
    )


@pytest.mark.parametrize(
    "prefix",
    [
        _id3(0, b"\x06\x00\x00\x00\x00\x00\r \xc0" + bytes(600)),  # size 0, the frames follow anyway
        _id3(20, b"TYER\x00\x00\x00\x05\x00\x0020" + bytes(6)) + b"TAG" + bytes(125),  # + an ID3v1 block
    ],
    ids=["id3-size-zero", "id3v1-after-id3v2"],
)
def test_mp3_behind_a_tag_libsndfile_cannot_skip(prefix, tmp_path):
    """Real MP3s (two of the osu! corpus) carry tags libsndfile cannot get past; they decode from
    their first MPEG frame, to the same samples as the untagged stream, from bytes and from a file."""
    clean = _file(_noise(44100 * 2, 2), 44100, "MP3")
    tagged = prefix + clean
    with pytest.raises(sf.LibsndfileError):
        sf.info(io.BytesIO(tagged))  # what the fix is for
    path = tmp_path / "song.mp3"
    path.write_bytes(tagged)
    want = audio.load_audio(clean)
    for source in (tagged, path):
        info = audio.audio_info(source)
        assert (info.rate, info.channels, info.format) == (44100, 2, "MP3")
        np.testing.assert_array_equal(audio.load_audio(source), want)


def test_a_tag_with_no_mpeg_frames_behind_it_is_still_an_error():
    with pytest.raises(audio.AudioError, match="cannot be decoded"):
        audio.audio_info(_id3(0, bytes(4000) + b"\xff\xfb\x90" + bytes(100)))
    assert audio.mp3_from_first_frame(b"RIFF" + bytes(100)) is None  # only ID3-tagged input is repaired


def test_beat_grid_stops_at_the_last_beat_an_object_may_have():
    timing = Timing.from_changes(1e6, [])  # MAX_BPM: 16,667 beats a second
    grid = audio.beat_grid(timing, 60.0)
    assert len(grid) == int(MAX_ABS_BEAT) + 1 and grid[-1] == pytest.approx(MAX_ABS_BEAT * 60 / 1e6)
    assert len(audio.beat_grid(Timing.from_changes(120.0, []), 10.0)) == 21
