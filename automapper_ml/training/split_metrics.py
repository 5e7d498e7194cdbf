"""Held-out metrics of the three checkpoints on one split of the frame index (the test split).

Each stage is scored with its own training task's validation code, pointed at the test split
(so "F1" and "token accuracy" mean exactly what they mean during training): onset F1/P/R at
+-50 ms with the threshold tuned on validation (stored in the checkpoint), teacher-forced token
and EOS accuracy for stage 2, teacher-forced token accuracy for stage 3. The task is built with
`train_split` = the scored split as well, so the (large) training split is never loaded here.

A split without rows (a small corpus may put no song in test: 5% of songs land there) gives NaN
figures and `<stage>_test_items` 0 rather than an error: evaluation still reports the snapshots.

Plain Python, no Dagster: `evaluation_metrics` calls it. It lives in training because it runs each
stage's training task.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any

import polars as pl

NAN = math.nan


def _task_config(cls: type, saved: dict[str, Any]) -> Any:
    """The task dataclass from a checkpoint's saved dict, ignoring keys this code no longer has."""
    known = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (saved or {}).items() if k in known})


def _saved_task(path: Path) -> dict[str, Any]:
    from automapper_ml.models.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    return dict((state.get("model_config") or {}).get("task") or {})


def split_songs(index: pl.DataFrame, split: str) -> int:
    """Distinct songs of `split` in the frame index."""
    if index.is_empty() or "split" not in index.columns:
        return 0
    return int(index.filter(pl.col("split") == split)["song_id"].n_unique())


def _split_task(
    model: Any,
    task_cls: type,
    config_cls: type,
    error: type,
    index: pl.DataFrame,
    root: Path,
    checkpoint: Path,
    split: str,
) -> Any:
    """The stage's training task over `split` alone, with the task config saved in the checkpoint;
    None when the split has no rows for it (`error`, the task's data error)."""
    try:
        tc = _task_config(config_cls, _saved_task(checkpoint))
        return task_cls(index, root, model.config, tc, train_split=split, val_split=split)
    except error:
        return None


def _no_items(prefix: str, names: tuple[str, ...]) -> dict[str, float]:
    """NaN figures and 0 items: what a split without rows scores."""
    return {**{f"{prefix}_{n}": NAN for n in names}, f"{prefix}_test_items": 0.0}


def onset_split_metrics(index: pl.DataFrame, root: Path, checkpoint: Path, split: str = "test") -> dict:
    """onset_f1, onset_precision, onset_recall, onset_threshold, onset_test_items."""
    from automapper_ml.models.onset import load_onset_model, onset_threshold
    from automapper_ml.training.onset_task import OnsetDataError, OnsetTask, OnsetTaskConfig

    model, threshold = load_onset_model(checkpoint), onset_threshold(checkpoint)
    task = _split_task(model, OnsetTask, OnsetTaskConfig, OnsetDataError, index, root, checkpoint, split)
    if task is None:
        return {"onset_threshold": threshold, **_no_items("onset", ("f1", "precision", "recall"))}
    curves = task.curves(model, task.val_data)
    score = task.score(curves, threshold)
    return {
        "onset_threshold": threshold,
        "onset_test_items": float(len(curves)),
        "onset_f1": score.f1,
        "onset_precision": score.precision,
        "onset_recall": score.recall,
    }


def sequence_split_metrics(index: pl.DataFrame, root: Path, checkpoint: Path, split: str = "test") -> dict:
    """token_accuracy, eos_accuracy, group_accuracy, sequence_loss, sequence_test_items (groups)."""
    from automapper_ml.models.sequence import load_sequence_model
    from automapper_ml.training.sequence_task import SequenceDataError, SequenceTask, SequenceTaskConfig

    model = load_sequence_model(checkpoint)
    task = _split_task(
        model, SequenceTask, SequenceTaskConfig, SequenceDataError, index, root, checkpoint, split
    )
    if task is None:
        return {"token_accuracy": NAN, "eos_accuracy": NAN, "group_accuracy": NAN,
                "sequence_loss": NAN, "sequence_test_items": 0.0}  # fmt: skip
    m = task.validate(model, model.head.weight.device)
    return {
        "token_accuracy": float(m["token_accuracy"]),
        "eos_accuracy": float(m["eos_accuracy"]),
        "group_accuracy": float(m["group_accuracy"]),
        "sequence_loss": float(m["val_loss"]),
        "sequence_test_items": float(len(task._val_groups)),
    }


def lighting_split_metrics(index: pl.DataFrame, root: Path, checkpoint: Path, split: str = "test") -> dict:
    """lighting_token_accuracy, lighting_group_accuracy, lighting_loss, lighting_test_items (steps)."""
    from automapper_ml.models.lighting import load_lighting_model
    from automapper_ml.training.lighting_task import LightingDataError, LightingTask, LightingTaskConfig

    model = load_lighting_model(checkpoint)
    task = _split_task(
        model, LightingTask, LightingTaskConfig, LightingDataError, index, root, checkpoint, split
    )
    if task is None or not task.val_pairs:
        return _no_items("lighting", ("token_accuracy", "group_accuracy", "loss"))
    m = task.validate(model, "cpu")
    return {
        "lighting_token_accuracy": float(m["token_accuracy"]),
        "lighting_group_accuracy": float(m["group_accuracy"]),
        "lighting_loss": float(m["val_loss"]),
        "lighting_test_items": float(len(task.val_pairs)),
    }


def split_metrics(index: pl.DataFrame, root: Path, checkpoints: dict[str, Path], split: str = "test") -> dict:
    """All three stages' figures on `split` plus `test_songs`; stages without a checkpoint are left out."""
    out: dict[str, float] = {"test_songs": float(split_songs(index, split))}
    scorers = {"onset": onset_split_metrics, "sequence": sequence_split_metrics,
               "lighting": lighting_split_metrics}  # fmt: skip
    for stage, score in scorers.items():
        if stage in checkpoints:
            out.update(score(index, root, checkpoints[stage], split))
    return out
