"""train_onset_model (the onset_model asset's entry point): result, checkpoint, plot, wandb."""

from __future__ import annotations

import pytest

from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.models.onset import OnsetConfig, load_onset_model, onset_threshold
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.onset import train_onset_model
from automapper_ml.training.onset_task import OnsetTaskConfig
from automapper_ml.training.wandb_logger import WandbLogger
from tests.ml.training.clicks import click_corpus

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/ml/conftest.py


def test_train_onset_model_end_to_end(tmp_path):
    index = click_corpus(tmp_path, 2)  # m0 validates, m1 trains
    index_path = tmp_path / "features" / "frame_index.parquet"
    index.write_parquet(index_path)
    config = OnsetConfig(channels=16, tcn_blocks=3, transformer_layers=1, heads=2, window=256)
    train = TrainConfig(epochs=2, batch_size=4, lr=1e-3, warmup_steps=2, progress=False, device="cpu")
    lines: list[str] = []
    with WandbLogger(tmp_path, name="onset-test") as run:
        result = train_onset_model(
            index_path, tmp_path, tmp_path / "models" / "onset", config, train,
            task_config=OnsetTaskConfig(epoch_scale=0.5), extra_state={"frame_index": "v1"},
            log=lines.append, wandb=run,
        )  # fmt: skip
        run_dir = run.run_dir
    assert result.epochs == 2 and result.steps == 2 * 2  # 2 rows x 4 slots / batch 4
    assert result.n_params == sum(p.numel() for p in load_onset_model(result.best_path).parameters())
    assert set(result.metrics) >= {"f1", "precision", "recall", "val_loss", "threshold"}
    assert result.device == "cpu" and result.seconds > 0 and result.samples_per_second > 0
    assert 0 <= result.data_seconds < result.seconds
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, threshold = load_onset_model(result.best_path), onset_threshold(result.best_path)
    assert threshold == result.threshold == result.metrics["threshold"]
    assert model.config == config
    assert load_checkpoint(result.best_path)["extra_state"] == {"frame_index": "v1"}
    assert any("epoch 1" in line for line in lines)
    assert run_dir is not None and list(run_dir.glob("run-*.wandb"))
