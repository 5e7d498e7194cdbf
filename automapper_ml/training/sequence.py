"""Stage 2 training entry point (what the `sequence_model` asset calls), checkpoint loading, presets.

    preset = load_sequence_preset("demo")                      # configs/sequence.toml
    result = train_sequence_model(index, root, out_dir, preset.model, preset.train, task_config=preset.task)
    model = load_sequence_model(result.best_path)

After training, the best checkpoint decodes a few validation songs at their human onsets
(training.sequence_metrics) and the result carries those raw-decoder figures beside the
teacher-forced ones (validation loss, token and EOS accuracy).

configs/sequence.toml is the single source of the stage-2 numbers; `sequence_config_hash` (its
canonical hash, parsed then dumped) belongs in the asset's code version:

    default_preset = "<name>"
    [model.<size>]            SequenceConfig fields (unset ones keep the dataclass defaults)
    [preset.<name>]           model = "<size>"
    [preset.<name>.train]     TrainConfig fields
    [preset.<name>.task]      SequenceTaskConfig fields
    [preset.<name>.decoding]  DecodingOptions fields for the generated-map metrics
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl
import torch

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.generation.decoding import DecodingOptions
from automapper_ml.models.sequence import SequenceConfig, load_sequence_model
from automapper_ml.tokenizer import TOKENIZER_VERSION
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.presets import Preset, model_part, read_config, stage_preset
from automapper_ml.training.sequence_metrics import evaluate_generation
from automapper_ml.training.sequence_task import SequenceTask, SequenceTaskConfig
from automapper_ml.training.stage import open_stage, run_stage

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "sequence.toml"


@dataclass
class SequenceTrainResult:
    metrics: dict[
        str, float
    ]  # validation metrics of the best epoch (token_accuracy, val_loss, eos_accuracy...)
    generation: dict[str, float]  # raw-decoder figures on validation songs (training.sequence_metrics)
    n_params: int
    epochs: int  # epochs run (this call and any resumed part)
    best_epoch: int
    steps: int
    seconds: float  # wall time of this call (training + validation + generation metrics)
    device: str
    best_path: Path | None
    last_path: Path | None
    samples_per_second: float  # training groups per second of training time (validation excluded)
    data_seconds: float  # time spent building batches
    zero_audio: bool  # the ablation: audio zeroed in training and evaluation
    history: list[dict[str, float]] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        """Flat numbers for asset metadata and loggers (generation figures prefixed `gen_`)."""
        out = {k: float(v) for k, v in self.metrics.items()}
        out.update({f"gen_{k}": float(v) for k, v in self.generation.items()})
        out.update(n_params=float(self.n_params), epochs=float(self.epochs), seconds=self.seconds,
                   samples_per_second=self.samples_per_second)  # fmt: skip
        return out


def train_sequence_model(
    index: pl.DataFrame | str | os.PathLike,
    root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    model_config: SequenceConfig,
    train_config: TrainConfig,
    *,
    task_config: SequenceTaskConfig | None = None,
    decoding: DecodingOptions | None = None,
    extra_state: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
    zero_audio: bool = False,
) -> SequenceTrainResult:
    """Train stage 2 on the index's train split, validate on its val split, then decode up to
    `task_config.eval_songs` validation songs with the best checkpoint for the generated-map figures.

    Checkpoints (best.pt, last.pt) go to `out_dir`; a last.pt there with the same configs and
    extra_state is resumed. `extra_state` (e.g. the frame index data version) is stored in every
    checkpoint, with the tokenizer version added. `zero_audio=True` is the ablation (same as
    `task_config.zero_audio`)."""
    task_config = task_config or SequenceTaskConfig()
    if zero_audio:
        task_config = replace(task_config, zero_audio=True)
    task, out, n_params = open_stage(SequenceTask, index, root, out_dir, model_config, task_config)
    state = {"tokenizer_version": TOKENIZER_VERSION, **(extra_state or {})}
    run = run_stage(task, train_config, out, extra_state=state, log=log, init_weights=init_weights)
    result = run.result
    generation: dict[str, float] = {}
    if result.best_path is not None and task.val_data.items and task_config.eval_songs > 0:
        model = load_sequence_model(result.best_path)
        generation = evaluate_generation(
            model, task.val_data, options=decoding or DecodingOptions(),
            max_songs=task_config.eval_songs, zero_audio=task_config.zero_audio,
        )  # fmt: skip
        if log is not None:
            log(f"sequence: generated-map figures on {int(generation.get('maps', 0))} validation maps: "
                + ", ".join(f"{k} {generation[k]:.3f}" for k in ("left_share", "max_most_common_share",
                            "distinct_patterns", "parity_errors_per_100_swings") if k in generation))  # fmt: skip
    return SequenceTrainResult(
        **run.result_fields(n_params),
        generation=generation,
        seconds=run.elapsed(),
        samples_per_second=run.samples_per_second(train_config, task.validate_seconds),
        data_seconds=task.batch_seconds,
        zero_audio=task_config.zero_audio,
    )


# ---------------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class SequencePreset(Preset[SequenceConfig, SequenceTaskConfig]):
    decoding: DecodingOptions  # [preset.<name>.decoding]: the generated-map figures' decoding


def read_sequence_config(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed TOML (ValueError with a one-line reason when it cannot be read or parsed)."""
    return read_config(path, DEFAULT_CONFIG)


def sequence_config_hash(path: str | os.PathLike | None = None) -> str:
    """Canonical hash of the whole file: part of the `sequence_model` code version."""
    return canonical_hash(read_sequence_config(path))


def sequence_model_config(name: str, path: str | os.PathLike | None = None) -> SequenceConfig:
    """The [model.<name>] SequenceConfig."""
    return model_part(SequenceConfig, read_sequence_config(path), name, "sequence")


def load_sequence_preset(name: str | None = None, path: str | os.PathLike | None = None) -> SequencePreset:
    """The named preset (default: the file's `default_preset`)."""
    parts = {"train": TrainConfig, "task": SequenceTaskConfig, "decoding": DecodingOptions}
    return stage_preset(SequencePreset, read_sequence_config(path), name, "sequence", SequenceConfig, parts)
