"""Stage 3 training entry point (what the `lighting_model` asset calls).

    result = train_lighting_model(index, root, out_dir, LightingConfig.preset("tiny"), TrainConfig(...))
    model = load_lighting_model(result.best_path)

Validation is teacher-forced token accuracy (the early-stopping metric) with the token loss beside
it; the trivial baselines (majority token per group position, repeat the previous step) are
computed on the same validation positions and returned, so a run's metadata says whether the
model beats them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import torch

from automapper_ml.models.lighting import LightingConfig, load_lighting_model
from automapper_ml.training.lighting_task import LightingTask, LightingTaskConfig, baseline_accuracies
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.presets import Preset, read_config, stage_preset
from automapper_ml.training.stage import open_stage, run_stage

__all__ = [
    "DEFAULT_CONFIG",
    "LightingPreset",
    "LightingTrainResult",
    "load_lighting_model",
    "load_lighting_preset",
    "train_lighting_model",
]

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "lighting.toml"
LightingPreset = Preset[LightingConfig, LightingTaskConfig]


def load_lighting_preset(name: str | None = None, path: str | os.PathLike | None = None) -> LightingPreset:
    """The named preset of configs/lighting.toml (default: the file's `default_preset`)."""
    parts = {"train": TrainConfig, "task": LightingTaskConfig}
    return stage_preset(Preset, read_config(path, DEFAULT_CONFIG), name, "lighting", LightingConfig, parts)


@dataclass
class LightingTrainResult:
    metrics: dict[
        str, float
    ]  # validation metrics of the best epoch (token_accuracy, group_accuracy, val_loss)
    val_loss: float
    token_accuracy: float
    baselines: dict[str, float]  # trivial baselines' token accuracy on the validation steps
    n_params: int
    epochs: int  # epochs run (this call and any resumed part)
    best_epoch: int
    steps: int
    seconds: float  # wall time of this call
    device: str
    best_path: Path | None  # checkpoint of the best epoch: what load_lighting_model reads
    last_path: Path | None
    train_steps: int  # grid steps (samples) per epoch
    val_steps: int  # grid steps validated
    history: list[dict[str, float]] = field(default_factory=list)


def train_lighting_model(
    index: pl.DataFrame | str | os.PathLike,
    root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    model_config: LightingConfig,
    train_config: TrainConfig,
    *,
    task_config: LightingTaskConfig | None = None,
    extra_state: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> LightingTrainResult:
    """Train stage 3 on the index's train split, validate on its val split.

    Checkpoints (best.pt, last.pt) go to `out_dir`; a last.pt there with the same configs and
    `extra_state` (e.g. tokenizer version, frame index data version) is resumed."""
    task, out, n_params = open_stage(LightingTask, index, root, out_dir, model_config, task_config)
    baselines = baseline_accuracies(task.train_data, task.val_data, task.task_config.max_val_steps)
    if log is not None:
        log(
            f"lighting: {task.train_size()} train steps, {len(task.val_pairs)} val steps, "
            f"baselines {baselines}"
        )
    run = run_stage(task, train_config, out, extra_state=extra_state, log=log, init_weights=init_weights)
    return LightingTrainResult(
        **run.result_fields(n_params),
        val_loss=float(run.best.get("val_loss", float("nan"))),
        token_accuracy=float(run.best.get("token_accuracy", float("nan"))),
        baselines=baselines,
        seconds=run.elapsed(),
        train_steps=task.train_size(),
        val_steps=len(task.val_pairs),
    )
