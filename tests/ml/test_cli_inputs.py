"""The commands on hostile input, as a user runs them (a subprocess under a 2 GiB address-space cap):
long hi-res songs convert in bounded memory without a signal, and every bad input is one line on
stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from automapper_ml import cli
from automapper_ml.cli import main
from automapper_ml.formats import load_map
from automapper_ml.limits import MAX_AUDIO_SECONDS, MIN_SAMPLE_RATE
from tests.ml.formats.minimal import INFO, V3

REPO = Path(__file__).resolve().parents[2]
ADDRESS_SPACE = 2 << 30  # RLIMIT_AS for every command run here
CPU_SECONDS = 300
# Measured ~155 MiB (interpreter, numpy, scipy, the song's bytes, the Ogg being written) for the
# 90 s 96 kHz song, whose whole float64 decode alone was 132 MiB; blocks keep it flat in the length.
PEAK_RSS = 384 << 20


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))  # a hang ends in a signal


# `automapper ARGS`, then the process's own peak RSS (VmHWM: the memory of this program since exec,
# where wait4's ru_maxrss would also count the pytest process it was forked from) into argv[1].
_CLI = """
import sys
from automapper_ml.cli import main
code = main(sys.argv[2:])
with open("/proc/self/status") as status, open(sys.argv[1], "w") as out:
    out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def _run(*args: str) -> tuple[int, str, str, int]:
    """(exit status, stdout, stderr, peak RSS in bytes) of `automapper ARGS`; a signal fails the test."""
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        proc = subprocess.run(
            [sys.executable, "-c", _CLI, str(peak_file), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            preexec_fn=_limits,
            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
            timeout=600,
        )
        assert proc.returncode >= 0, f"killed by signal {-proc.returncode}: {proc.stderr[-2000:]}"
        peak = int(peak_file.read_text()) * 1024
    return proc.returncode, proc.stdout, proc.stderr, peak


def _map(folder: Path, info: dict | bytes = INFO, diff: dict | bytes = V3, song: tuple | None = None) -> Path:
    """A map folder; `song` = (file name, samples, rate, format, subtype) is written and named in Info.dat."""
    folder.mkdir(parents=True, exist_ok=True)
    if song is not None:
        name, samples, rate, fmt, subtype = song
        sf.write(folder / name, samples, rate, format=fmt, subtype=subtype)
        info = {**info, "_songFilename": name}
    for filename, content in (("Info.dat", info), ("Expert.dat", diff)):
        data = content if isinstance(content, bytes) else json.dumps(content).encode()
        (folder / filename).write_bytes(data)
    return folder


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def _song(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] * np.linspace(1, 0.5, channels)[None]
    noise = 0.01 * np.random.default_rng(seed).standard_normal(tone.shape)
    return (tone + noise).astype(np.float32)


def _song_egg(out: Path) -> tuple[np.ndarray, int]:
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["ExpertStandard.dat", "Info.dat", "song.egg"]
        data = zf.read("song.egg")
    import io

    return sf.read(io.BytesIO(data), dtype="float32", always_2d=True)


def _check_converted(out: Path, seconds: float, rate: int, channels: int) -> None:
    samples, got_rate = _song_egg(out)
    assert got_rate == rate and samples.shape == (int(seconds * rate), channels)
    assert np.isfinite(samples).all() and 0.1 < np.abs(samples).max() <= 1.0
    assert len(load_map(out).difficulties[0].notes) == 1


def test_a_90_s_96_khz_stereo_flac_converts_in_bounded_memory(tmp_path):
    """It used to segfault (exit 139): the whole song was decoded as float64 and encoded in one call."""
    source = _map(tmp_path / "map", song=("song.flac", _song(90, 96000, 2), 96000, "FLAC", "PCM_24"))
    code, out, err, peak = _run("convert", str(source), "-o", str(tmp_path / "out.zip"))
    assert code == 0, err
    assert "wrote" in out and peak < PEAK_RSS, peak
    _check_converted(tmp_path / "out.zip", 90, 48000, 2)


def test_a_float_wav_with_nan_samples_converts(tmp_path):
    song = _song(70, 44100, 2)
    song[::997] = np.nan
    song[3::997, 1] = np.inf
    source = _map(tmp_path / "map", song=("song.wav", song, 44100, "WAV", "FLOAT"))
    code, out, err, peak = _run("convert", str(source), "-o", str(tmp_path / "out.zip"))
    assert code == 0, err
    assert peak < PEAK_RSS, peak
    _check_converted(tmp_path / "out.zip", 70, 44100, 2)


def test_an_ogg_vorbis_song_is_copied_byte_for_byte(tmp_path):
    source = _map(tmp_path / "map", song=("song.egg", _song(5, 44100, 2), 44100, "OGG", "VORBIS"))
    assert _run("convert", str(source), "-o", str(tmp_path / "out.zip"))[0] == 0
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert zf.read("song.egg") == (source / "song.egg").read_bytes()


def _huge_rate_wav(path: Path) -> Path:
    sf.write(path, _song(2, 44100, 1), 44100, format="WAV", subtype="PCM_16")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 24, 2_147_483_647)  # the header's sample rate
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("command", ["convert", "generate"])
def test_a_wav_claiming_2147483647_hz_is_one_line(tmp_path, command):
    """convert segfaulted on it and generate tried a 320 GiB allocation (a traceback)."""
    source = _map(tmp_path / "map")
    song = _huge_rate_wav(source / "song.wav")
    (source / "Info.dat").write_text(json.dumps({**INFO, "_songFilename": "song.wav"}))
    args = [str(source), "-o", str(tmp_path / "o.zip")] if command == "convert" else [str(song), "-q"]
    code, _, err, _ = _run(command, *args)
    assert code == 2 and "2147483647 Hz" in _one_line(err)
    assert not (tmp_path / "o.zip").exists()


def test_a_song_past_the_duration_cap_is_one_line(tmp_path):
    frames = int(MAX_AUDIO_SECONDS * MIN_SAMPLE_RATE) + MIN_SAMPLE_RATE * 60  # one minute too long
    silence = np.zeros((frames, 1), dtype=np.int16)
    source = _map(tmp_path / "map", song=("song.flac", silence, MIN_SAMPLE_RATE, "FLAC", "PCM_16"))
    code, _, err, _ = _run("convert", str(source), "-o", str(tmp_path / "o.zip"))
    assert code == 2 and "min cap" in _one_line(err)


@pytest.mark.parametrize("command", ["inspect", "convert"])
def test_401_digit_integers_are_one_line(tmp_path, command):
    """Was `OverflowError: int too large to convert to float` with a traceback."""
    info = json.dumps(INFO).replace('"_beatsPerMinute": 120', '"_beatsPerMinute": ' + "7" * 401).encode()
    source = _map(tmp_path / "map", info=info)
    args = [str(source)] + (["-o", str(tmp_path / "o")] if command == "convert" else [])
    code, _, err, _ = _run(command, *args)
    assert code == 2 and "Info.dat" in _one_line(err)


def test_an_unexpected_exception_is_one_line_with_a_bug_hint(monkeypatch, capsys):
    def broken(args):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr("automapper_ml.commands.inspect.run", broken)
    assert main(["inspect", "whatever"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("automapper inspect: error: RuntimeError: something broke") and "bug" in line
    monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    with pytest.raises(RuntimeError):
        main(["inspect", "whatever"])
