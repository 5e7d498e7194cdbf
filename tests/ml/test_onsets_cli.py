"""`automapper onsets`: JSON onset times from a song and a checkpoint; one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from automapper_ml.cli import main
from automapper_ml.models.onset import OnsetConfig, OnsetModel, load_onset_model, onset_threshold
from automapper_ml.training.loop import save_checkpoint

CONFIG = OnsetConfig(channels=8, tcn_blocks=2, transformer_layers=1, heads=2, window=128)


@pytest.fixture
def checkpoint(tmp_path):
    """A stage-1 checkpoint as the loop writes it, with a bias that puts the curve near 0.5
    (so random weights still give peaks) and a tuned threshold in its history."""
    torch.manual_seed(0)
    model = OnsetModel(CONFIG)
    with torch.no_grad():
        model.out.weight.mul_(50.0)  # a wiggly curve: plenty of local maxima
    path = tmp_path / "best.pt"
    save_checkpoint(
        path,
        {
            "format": 1,
            "stage": "onset",
            "model_config": {"model": CONFIG.to_dict(), "task": {}},
            "model": model.state_dict(),
            "best_epoch": 1,
            "history": [{"epoch": 0, "threshold": 0.9, "f1": 0.1}, {"epoch": 1, "threshold": 0.3, "f1": 0.2}],
        },
    )
    return path


@pytest.fixture
def song(tmp_path):
    rng = np.random.default_rng(0)
    x = np.zeros(22050 * 4, dtype=np.float32)
    for t in np.arange(0.25, 3.8, 0.25):
        i = int(t * 22050)
        x[i : i + 500] += rng.standard_normal(500).astype(np.float32) * np.hanning(500).astype(np.float32)
    path = tmp_path / "song.flac"
    sf.write(path, x, 22050)
    return path


def test_load_onset_model_takes_best_epoch_threshold(checkpoint):
    model, threshold = load_onset_model(checkpoint), onset_threshold(checkpoint)
    assert threshold == 0.3 and model.config == CONFIG and not model.training


def test_writes_sorted_onsets_json(checkpoint, song, tmp_path, capsys):
    out = tmp_path / "out" / "onsets.json"
    assert main(["onsets", str(song), "--model", str(checkpoint), "-d", "Expert+", "-o", str(out)]) == 0
    times = json.loads(out.read_text())
    assert times and times == sorted(times)
    assert all(isinstance(t, float) and 0.0 <= t <= 4.0 for t in times)
    assert "onsets ->" in capsys.readouterr().err  # progress on stderr
    code = main(["onsets", str(song), "--model", str(checkpoint), "--threshold", "0.99", "-q"])
    captured = capsys.readouterr()
    if code == 0:  # a fixed threshold is the user's: fewer onsets, and never an empty list
        strict = json.loads(captured.out)
        assert 0 < len(strict) < len(times)
    else:
        assert code == 2 and "no onset found" in captured.err
    assert not list(out.parent.glob(".*.tmp"))  # no temp file left


def test_silence_is_an_error_not_an_empty_list(checkpoint, tmp_path, capsys):
    silent = tmp_path / "silent.flac"
    sf.write(silent, np.zeros(22050 * 4, dtype=np.float32), 22050)
    assert main(["onsets", str(silent), "--model", str(checkpoint), "--threshold", "0.99"]) == 2
    assert "no onset found" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-d", "Impossible"], "unknown difficulty"),
        (["--threshold", "1.5"], "--threshold must be between 0 and 1"),
    ],
)
def test_bad_options_are_one_line_errors(checkpoint, song, capsys, args, message):
    assert main(["onsets", str(song), "--model", str(checkpoint), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_bad_inputs_are_one_line_errors(checkpoint, song, tmp_path, capsys):
    garbage = tmp_path / "garbage.ogg"
    garbage.write_bytes(b"not audio at all")
    assert main(["onsets", str(garbage), "--model", str(checkpoint)]) == 2
    assert "cannot be decoded" in capsys.readouterr().err
    not_ckpt = tmp_path / "model.pt"
    not_ckpt.write_bytes(b"garbage")
    assert main(["onsets", str(song), "--model", str(not_ckpt)]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    other = tmp_path / "other.pt"
    save_checkpoint(other, {"stage": "sequence", "model": {}})
    assert main(["onsets", str(song), "--model", str(other)]) == 2
    assert "not an onset model checkpoint" in capsys.readouterr().err
    assert main(["onsets", str(tmp_path / "missing.wav"), "--model", str(checkpoint)]) == 2
    err = capsys.readouterr().err.strip()
    assert "does not exist" in err and "\n" not in err
