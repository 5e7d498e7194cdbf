"""WandbLogger: offline writes a run folder under the home and touches no network; disabled does nothing."""

from __future__ import annotations

import os

import pytest

from automapper_ml.training.wandb_logger import WandbLogger, mode_from_env


def test_offline_run_is_written_under_home(tmp_path):
    ours = (
        "WANDB_DIR",
        "WANDB_MODE",
        "WANDB_SILENT",
        "WANDB_CACHE_DIR",
        "WANDB_DATA_DIR",
        "WANDB_CONFIG_DIR",
    )
    before = {k: os.environ.get(k) for k in ours}
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"weights")
    with WandbLogger(tmp_path, name="t", config={"lr": 0.1}) as run:
        assert run.enabled and run.mode == "offline"
        run.log_metrics({"f1": 0.5, "val_loss": 0.2}, step=0)
        run.log_metrics({"f1": 0.6, "val_loss": 0.1}, step=1)
        run.log_artifact(ckpt, "onset-model", metadata={"threshold": 0.4})
        run_dir = run.run_dir
    assert run_dir is not None and run_dir.is_relative_to(tmp_path / "wandb")
    assert run_dir.name.startswith("offline-run-")
    data = list(run_dir.glob("run-*.wandb"))
    assert data and data[0].stat().st_size > 0
    assert {k: os.environ.get(k) for k in ours} == before  # set only around wandb calls


def test_disabled_does_nothing(tmp_path):
    run = WandbLogger(tmp_path, mode="disabled", config={"a": 1})
    run.log_metrics({"f1": 1.0})
    run.log_artifact(tmp_path / "missing.pt", "x")
    run.finish()
    assert not run.enabled and not (tmp_path / "wandb").exists()


def test_mode_from_env(monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    assert mode_from_env() == "offline"  # online needs a key
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert mode_from_env() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert mode_from_env() == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert mode_from_env() == "offline"
    with pytest.raises(ValueError, match="unknown wandb mode"):
        WandbLogger("/nonexistent", mode="cloud")
