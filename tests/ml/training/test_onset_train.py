"""train_onset_model (the onset_model asset's entry point): result, checkpoint, plot, wandb."""

from __future__ import annotations

import pytest
import torch

from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.models.onset import OnsetConfig, load_onset_model
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.onset import train_onset_model
from automapper_ml.training.onset_task import OnsetTaskConfig, index_zips
from automapper_ml.training.wandb_logger import WandbLogger
from tests.ml.data.mapzips import make_map_zip


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_train_onset_model_end_to_end(tmp_path):
    zips = [make_map_zip(tmp_path / "raw" / f"m{i}.zip", seed=i) for i in range(2)]
    index = index_zips(zips, tmp_path, splits={"m0": "val", "m1": "train"})
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
    assert result.n_params == sum(p.numel() for p in load_onset_model(result.best_path)[0].parameters())
    assert set(result.metrics) >= {"f1", "precision", "recall", "val_loss", "threshold"}
    assert result.device == "cpu" and result.seconds > 0 and result.samples_per_second > 0
    assert 0 <= result.data_seconds < result.seconds
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, threshold = load_onset_model(result.best_path)
    assert threshold == result.threshold == result.metrics["threshold"]
    assert model.config == config
    assert load_checkpoint(result.best_path)["extra_state"] == {"frame_index": "v1"}
    assert any("epoch 1" in line for line in lines)
    assert run_dir is not None and list(run_dir.glob("run-*.wandb"))
