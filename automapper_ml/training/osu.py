"""osu! training entry point, checkpoints and presets.

    preset = load_osu_preset("demo")                         # configs/osu.toml
    result = train_osu_model(sets, out_dir, preset.model, preset.train, task_config=preset.task)
    model = load_osu_model(result.best_path)

`sets` is a list of `.osz` paths (every `val_every`-th by name validates) or a table of
(osz path, difficulty name or None, split) rows (training.osu_task.set_table). Sets that cannot be
used are quarantined with a reason (`OsuTrainResult.quarantined`), never a crash. Validation is
teacher-forced token accuracy (the early-stopping metric) beside the majority-token baseline on the
same positions; `task_config.zero_audio` is the audio ablation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.models.osu import OsuConfig
from automapper_ml.models.osu import load_osu_model as load_osu_model  # what best.pt is read with
from automapper_ml.tokenizer_osu import OSU_TOKENIZER_VERSION
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.osu_task import OsuTask, OsuTaskConfig
from automapper_ml.training.presets import Preset, read_config, stage_preset
from automapper_ml.training.stage import run_stage

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "osu.toml"
OsuPreset = Preset[OsuConfig, OsuTaskConfig]


def load_osu_preset(name: str | None = None, path: str | os.PathLike | None = None) -> OsuPreset:
    """configs/osu.toml's [preset.<name>] (None: its `default_preset`), through presets.stage_preset."""
    data = read_config(path, DEFAULT_CONFIG)
    return stage_preset(Preset, data, name, "osu", OsuConfig, {"train": TrainConfig, "task": OsuTaskConfig})


def osu_config_hash(path: str | os.PathLike | None = None) -> str:
    """Canonical hash of the whole file: part of the `osu_model` code version."""
    return canonical_hash(read_config(path, DEFAULT_CONFIG))


@dataclass
class OsuTrainResult:
    metrics: dict[str, float]  # validation metrics of the best epoch (token_accuracy, val_loss...)
    token_accuracy: float
    n_params: int
    majority_accuracy: float  # the majority-token baseline on the same validation positions
    best_epoch: int
    train_windows: int  # samples per epoch
    epochs: int  # epochs run (this call and any resumed part)
    val_windows: int
    steps: int
    quarantined: dict[str, str]  # set (or set/difficulty) -> one-line reason
    seconds: float  # wall time of this call
    zero_audio: bool
    device: str
    samples_per_second: float  # training windows per second of training time (validation excluded)
    best_path: Path | None  # what load_osu_model reads
    data_seconds: float  # time spent building batches
    last_path: Path | None
    history: list[dict[str, float]] = field(default_factory=list)


def train_osu_model(
    sets: Sequence[str | os.PathLike | Sequence], out_dir: str | os.PathLike, model_config: OsuConfig,
    train_config: TrainConfig, *, task_config: OsuTaskConfig | None = None,
    extra_state: dict[str, Any] | None = None, log: Callable[[str], None] | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> OsuTrainResult:  # fmt: skip
    """Train the osu! model on the train sets, validate on the val sets. Checkpoints (best.pt,
    last.pt) go to `out_dir`; a last.pt there with the same configs and extra_state (the tokenizer
    version is added) is resumed. training.stage.open_stage reads a frame index, so its steps are
    written here for a set table."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = OsuTask(sets, model_config, task_config)
    n_params = sum(p.numel() for p in task.build_model().parameters())
    if log is not None:
        log(f"osu: {task.train_size()} train windows, {len(task._val)} val windows, "
            f"{len(task.quarantined)} quarantined")  # fmt: skip
        for key, reason in task.quarantined.items():
            log(f"osu: quarantined {key}: {reason}")
    state = {"tokenizer_version": OSU_TOKENIZER_VERSION, **(extra_state or {})}
    run = run_stage(task, train_config, out, extra_state=state, log=log, init_weights=init_weights)
    return OsuTrainResult(
        **run.result_fields(n_params),
        token_accuracy=float(run.best.get("token_accuracy", float("nan"))),
        majority_accuracy=float(run.best.get("majority_accuracy", float("nan"))),
        seconds=run.elapsed(),
        samples_per_second=run.samples_per_second(train_config, task.validate_seconds),
        data_seconds=task.batch_seconds,
        train_windows=task.train_size(),
        val_windows=len(task._val),
        quarantined=dict(task.quarantined),
        zero_audio=task.task_config.zero_audio,
    )
