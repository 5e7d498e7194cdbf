"""Stage 1 training entry point (what the `onset_model` asset calls) and checkpoint loading.

    result = train_onset_model(index, root, out_dir, OnsetConfig.preset("tiny"), TrainConfig(...))
    model, threshold = load_onset_model(result.best_path), onset_threshold(result.best_path)

The peak-picking threshold is tuned on the validation songs every epoch (OnsetTask.validate)
and lands in each checkpoint's history; `onset_threshold` reads the one of the best epoch,
so inference uses exactly the threshold the reported F1 was measured with.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch

from automapper_ml.atomic import atomic_path
from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.generation.peaks import pick_peaks
from automapper_ml.models.onset import (
    OnsetConfig,
    OnsetModel,
    gaussian_targets,
    load_onset_model,
    predict_song,
)
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.onset_task import OnsetData, OnsetTask, OnsetTaskConfig
from automapper_ml.training.stage import open_stage, run_stage
from automapper_ml.training.wandb_logger import WandbLogger


@dataclass
class OnsetTrainResult:
    metrics: dict[
        str, float
    ]  # validation metrics of the best epoch (f1, precision, recall, val_loss, threshold)
    threshold: float  # peak threshold tuned on validation at the best epoch
    n_params: int
    epochs: int  # epochs run (this call and any resumed part)
    best_epoch: int
    steps: int
    seconds: float  # wall time of this call
    device: str
    best_path: Path | None
    last_path: Path | None
    plot_path: Path | None  # predicted onset curve vs targets on one validation song
    samples_per_second: float  # training crops per second of training time (validation excluded)
    data_seconds: float  # time spent building batches (main process: time a DataLoader could hide)
    validate_seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def train_onset_model(
    index: pl.DataFrame | str | os.PathLike,
    root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    model_config: OnsetConfig,
    train_config: TrainConfig,
    *,
    task_config: OnsetTaskConfig | None = None,
    extra_state: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    wandb: WandbLogger | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> OnsetTrainResult:
    """Train stage 1 on the index's train split, validate on its val split.

    Checkpoints (best.pt, last.pt) and the plot go to `out_dir`; a last.pt there with the same
    configs and extra_state is resumed. `extra_state` (e.g. the frame index data version) is
    stored in every checkpoint. `wandb` (optional, caller closes it) gets the config, per-epoch
    metrics, the best checkpoint as an artifact and the plot."""
    task, out, n_params = open_stage(OnsetTask, index, root, out_dir, model_config, task_config)
    if wandb is not None:
        wandb.log_config(
            {
                "model": model_config.to_dict(),
                "task": task.task_config.to_dict(),
                "train": train_config.to_dict(),
                "n_params": n_params,
                "train_rows": len(task.train_data),
                "val_rows": len(task.val_data),
                **{f"extra/{k}": v for k, v in (extra_state or {}).items()},
            }
        )

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if wandb is not None:
            wandb.log_metrics(metrics, step=epoch)

    run = run_stage(
        task,
        train_config,
        out,
        extra_state=extra_state,
        log=log,
        init_weights=init_weights,
        on_epoch=on_epoch,
    )
    result, best_metrics = run.result, run.best
    threshold = float(best_metrics.get("threshold", 0.5))
    plot = None
    if result.best_path is not None and task.val_data.items:
        model = load_onset_model(result.best_path)
        plot = plot_onset_curve(model, task, out / "onset_val.png", threshold)
    if wandb is not None:
        if result.best_path is not None:
            wandb.log_artifact(
                result.best_path, "onset-model", metadata={"threshold": threshold, **best_metrics}
            )
        if plot is not None:
            wandb.log_image("val_onset_curve", plot)
        wandb.log_summary({"best_f1": result.best_metric, "threshold": threshold, "n_params": n_params})
    return OnsetTrainResult(
        **run.result_fields(n_params),
        threshold=threshold,
        seconds=run.seconds,
        plot_path=plot,
        samples_per_second=run.samples_per_second(train_config, task.validate_seconds),
        data_seconds=task.batch_seconds,
        validate_seconds=task.validate_seconds,
    )


def plot_onset_curve(
    model: OnsetModel, task: OnsetTask, path: Path, threshold: float, seconds: float = 20.0
) -> Path:
    """PNG of the predicted onset curve vs the Gaussian targets on the first validation song
    (its hardest difficulty), first `seconds`, with picked peaks; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data: OnsetData = task.val_data
    item = max(data.items, key=lambda it: (it.map_key == data.items[0].map_key, it.difficulty))
    mel, structure = task.features_for_model(data, item)
    curve = predict_song(model, mel, structure, item.difficulty)
    n = min(len(curve), int(seconds / FRAME_SECONDS))
    t = np.arange(n) * FRAME_SECONDS
    target = gaussian_targets(item.onsets, len(curve), model.config.target_sigma)
    peaks = pick_peaks(curve, threshold, task.task_config.min_peak_distance)
    fig, ax = plt.subplots(figsize=(12, 3.2))
    ax.plot(t, target[:n], color="tab:gray", lw=1, label="target")
    ax.plot(t, curve[:n], color="tab:blue", lw=1, label="predicted")
    ax.axhline(threshold, color="tab:red", lw=0.6, ls="--", label=f"threshold {threshold:.2f}")
    shown = peaks[peaks < t[-1]] if n else peaks[:0]
    ax.plot(shown, np.full(len(shown), 1.03), "v", color="tab:orange", ms=4, label="picked")
    ax.set(xlabel="seconds", ylabel="onset probability", ylim=(0, 1.08), title=f"{item.key}")
    ax.legend(loc="upper right", fontsize=7, ncol=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return path
