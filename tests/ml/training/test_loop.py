"""The shared training loop: learning, atomic checkpoints, exact resume after a crash, early stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.training.loop import TrainConfig, lr_factor, train
from tests.ml.training.toy import ToyTask

CONFIG = TrainConfig(
    epochs=6, batch_size=8, lr=1e-2, warmup_steps=5, checkpoint_steps=5, progress=False, patience=10
)


class Crash(Exception):
    pass


def test_learns_and_keeps_best_and_last(tmp_path):
    result = train(ToyTask(), CONFIG, tmp_path, extra_state={"tokenizer_version": "1", "data_version": "abc"})
    losses = [h["val_loss"] for h in result.history]
    assert losses[-1] < 0.2 * losses[0]
    assert result.best_path and result.last_path
    state = load_checkpoint(result.best_path)  # weights_only=True
    assert state["extra_state"] == {"tokenizer_version": "1", "data_version": "abc"}
    model = ToyTask().build_model()
    model.load_state_dict(state["model"])
    assert state["epoch"] == result.best_epoch + 1
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_resume_mid_epoch_matches_uninterrupted_run(tmp_path):
    reference = train(ToyTask(), CONFIG, tmp_path / "a")

    def crash_at(step):
        if step == 17:  # mid-epoch 1 (12 batches per epoch), after the step-15 checkpoint
            raise Crash

    with pytest.raises(Crash):
        train(ToyTask(), CONFIG, tmp_path / "b", on_step=crash_at)
    resumed = train(ToyTask(), CONFIG, tmp_path / "b")
    assert resumed.resumed_from == {"epoch": 1, "batch": 3, "step": 15}
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in reference.history]
    assert resumed.steps == reference.steps


def test_other_data_version_restarts(tmp_path):
    train(ToyTask(), CONFIG, tmp_path, extra_state={"data_version": "1"})
    again = train(ToyTask(), CONFIG, tmp_path, extra_state={"data_version": "2"})
    assert again.resumed_from is None and again.epochs_run == CONFIG.epochs


def test_early_stopping(tmp_path):
    class Flat(ToyTask):
        def validate(self, model, device):
            return {"val_loss": 1.0}

    result = train(Flat(), TrainConfig(epochs=20, batch_size=32, patience=2, progress=False), tmp_path)
    assert result.epochs_run == 3


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)


def test_bf16_autocast_on_cpu_trains(tmp_path):
    config = TrainConfig(epochs=2, batch_size=8, bf16_on_cpu=True, progress=False)
    result = train(ToyTask(), config, tmp_path)
    assert all(torch.isfinite(torch.tensor(h["val_loss"])) for h in result.history)


SCRIPT = """
import sys, time
from automapper_ml.training.loop import TrainConfig, train
from tests.ml.training.toy import ToyTask

class Slow(ToyTask):
    def make_batch(self, indices, generator):
        time.sleep(0.02)
        return super().make_batch(indices, generator)

cfg = TrainConfig(epochs=4, batch_size=4, lr=1e-2, warmup_steps=5, checkpoint_steps=7, progress=False, patience=10)
r = train(Slow(n=64), cfg, sys.argv[1])
print("FINAL", r.steps, repr([h["val_loss"] for h in r.history]))
"""


@pytest.mark.slow
def test_kill_9_mid_epoch_then_rerun_resumes(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    run = [sys.executable, "-c", SCRIPT]
    ref = subprocess.run(
        [*run, str(tmp_path / "ref")], capture_output=True, text=True, env=env, cwd=repo, check=True
    )
    proc = subprocess.Popen([*run, str(tmp_path / "k")], env=env, cwd=repo, stdout=subprocess.PIPE, text=True)
    last = tmp_path / "k" / "last.pt"
    deadline = time.monotonic() + 60
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = load_checkpoint(last)  # never torn
    assert state["step"] > 0
    again = subprocess.run(
        [*run, str(tmp_path / "k")], capture_output=True, text=True, env=env, cwd=repo, check=True
    )
    assert again.stdout.strip().splitlines()[-1] == ref.stdout.strip().splitlines()[-1]
