"""What the three stages' training share, written once: reading and checking a frame index split and
opening its feature snapshots (`StageData`), the common `TrainingTask` constructor steps (`StageTask`),
and the common steps of every `train_<stage>_model` (`open_stage`, `run_stage`, `StageRun`).

A stage's data class sets `error` (its `<Stage>DataError`) and writes `_load` (what it reads of its
split's rows); its task class sets `name`, `metric`, `model_class`, `task_config_class` and
`data_class`, may give `data_options` (keywords for its data class), and writes `prepare` (what
follows the two splits: the epoch's samples, the no-train-rows check). Nothing here draws random numbers: the stages' data order, RNG
use and checkpoint contents are what each stage's code makes them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import polars as pl
import torch
from torch import nn

from automapper_ml.data.store import SnapshotReader
from automapper_ml.models.checkpoint import best_entry
from automapper_ml.training.loop import TrainConfig, TrainResult, resumed_steps, train

# the frame index columns every stage reads (data.frame_index writes them)
REQUIRED_COLUMNS = (
    "key",
    "map_key",
    "difficulty_index",
    "split",
    "weight",
    "audio_snapshot",
    "token_snapshot",
)


def read_index(index: pl.DataFrame | str | os.PathLike) -> pl.DataFrame:
    """The frame index DataFrame itself, or the one read from a parquet path."""
    return index if isinstance(index, pl.DataFrame) else pl.read_parquet(index)


def row_weight(row: dict) -> float:
    """The sampling weight of a frame index row (1.0 when unset)."""
    return float(row["weight"] if row["weight"] is not None else 1.0)


@dataclass
class StageItem:
    """What every stage keeps of a frame index row (one difficulty of a map); a stage's item class
    adds its own fields."""

    key: str
    map_key: str
    difficulty: int
    weight: float
    audio_snapshot: Path  # resolved against the data home


class StageData:
    """The rows of one split of a frame index, with lazy, shared snapshot readers: the one constructor
    of every stage's data.

    index: the frame index DataFrame (or a parquet path); root: folder that relative snapshot paths
    are relative to (the data home); config: the stage's model config; readers: a reader cache shared
    between a task's splits; options: the stage's own keyword options, passed to its `_load`. The
    columns are checked, then `_load` gets the split's rows sorted by key; `reader` opens one
    `SnapshotReader` per path."""

    error: ClassVar[type[ValueError]] = ValueError  # the stage's <Stage>DataError
    root: Path | None
    _readers: dict[Path, SnapshotReader]

    def __init__(
        self,
        index: pl.DataFrame | str | os.PathLike,
        root: str | os.PathLike | None,
        split: str,
        config: Any,
        *,
        readers: dict[Path, SnapshotReader] | None = None,
        **options: Any,
    ) -> None:
        frame = read_index(index)
        missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
        if missing:
            raise self.error(f"frame index lacks columns {missing}")
        self.root = Path(root) if root is not None else None
        self._readers = readers if readers is not None else {}
        self.config = config
        self._load(frame.filter(pl.col("split") == split).sort("key").to_dicts(), **options)

    def _load(self, rows: list[dict], **options: Any) -> None:
        """The stage's reading of its split's rows (`options`: its keyword options)."""
        raise NotImplementedError

    def _path(self, value: str) -> Path:
        p = Path(value)
        return p if p.is_absolute() or self.root is None else self.root / p

    def item_fields(self, row: dict) -> dict[str, Any]:
        """The StageItem fields of a row (the audio snapshot resolved, nothing opened)."""
        return {
            "key": row["key"],
            "map_key": row["map_key"],
            "difficulty": int(row["difficulty_index"]),
            "weight": row_weight(row),
            "audio_snapshot": self.snapshot_paths(row)[0],
        }

    def snapshot_paths(self, row: dict) -> tuple[Path, Path]:
        """(audio snapshot, token snapshot) of a row, resolved against `root` (nothing opened)."""
        return self._path(row["audio_snapshot"]), self._path(row["token_snapshot"])

    def reader(self, path: Path) -> SnapshotReader:
        if path not in self._readers:
            if not path.exists():
                raise self.error(f"feature snapshot {path} does not exist")
            self._readers[path] = SnapshotReader(path)
        return self._readers[path]


ModelConfigT = TypeVar("ModelConfigT")
TaskConfigT = TypeVar("TaskConfigT")
DataT = TypeVar("DataT", bound=StageData)


class StageTask(Generic[ModelConfigT, TaskConfigT, DataT]):
    """The `TrainingTask` constructor every stage shares: train on one split of the index, validate
    on another, both splits reading through one reader cache.

    index: the frame index DataFrame (or a parquet path); root: the data home."""

    name: ClassVar[str]
    metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    model_class: ClassVar[Callable[[Any], nn.Module]]
    task_config_class: ClassVar[Callable[[], Any]]
    data_class: ClassVar[type[StageData]]

    def __init__(
        self,
        index: pl.DataFrame | str | os.PathLike,
        root: str | os.PathLike | None,
        model_config: ModelConfigT,
        task_config: TaskConfigT | None = None,
        *,
        train_split: str = "train",
        val_split: str = "val",
    ) -> None:
        frame = read_index(index)
        self.config = model_config
        self.task_config: TaskConfigT = task_config or self.task_config_class()
        readers: dict[Path, SnapshotReader] = {}
        self.train_data = self.open_data(frame, root, train_split, readers)
        self.val_data = self.open_data(frame, root, val_split, readers)
        self.prepare(train_split)

    def open_data(
        self, frame: pl.DataFrame, root: str | os.PathLike | None, split: str, readers: dict
    ) -> DataT:
        """The stage's data of one split: `data_class` over the model config, with `data_options()`."""
        return self.data_class(frame, root, split, self.config, readers=readers, **self.data_options())

    def data_options(self) -> dict[str, Any]:
        """The stage's keyword options for its data class (none by default)."""
        return {}

    def prepare(self, train_split: str) -> None:
        """The stage's steps after both splits are read (epoch samples, the no-train-rows check)."""
        raise NotImplementedError

    # --- TrainingTask protocol (the shared part) ------------------------------------------
    def build_model(self) -> nn.Module:
        return self.model_class(self.config)

    def model_config(self) -> dict:
        return {"model": self.config.to_dict(), "task": self.task_config.to_dict()}


# ------------------------------------------------------------------------------ trainers


def open_stage(
    task_class: Callable[..., Any],
    index: pl.DataFrame | str | os.PathLike,
    root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    model_config: Any,
    task_config: Any,
) -> tuple[Any, Path, int]:
    """(task, output folder (created), model parameter count): the first steps of train_<stage>_model."""
    frame = read_index(index)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = task_class(frame, root, model_config, task_config)
    n_params = sum(p.numel() for p in task.build_model().parameters())
    return task, out, n_params


@dataclass
class StageRun:
    """One `training.loop.train` call of a stage: its result, the best epoch's history entry, the
    call's start (time.monotonic) and training seconds, and the steps a resumed last.pt had taken."""

    result: TrainResult
    best: dict[str, float]
    started: float
    seconds: float  # wall time of the train() call
    steps_before: int

    def samples_per_second(self, train_config: TrainConfig, validate_seconds: float) -> float:
        """Training samples of this call per second of training time (validation excluded)."""
        samples = (self.result.steps - self.steps_before) * train_config.grad_accum * train_config.batch_size
        return samples / max(self.seconds - validate_seconds, 1e-9)

    def elapsed(self) -> float:
        """Wall time since the train() call began (training and what came after)."""
        return time.monotonic() - self.started

    def result_fields(self, n_params: int) -> dict[str, Any]:
        """The fields every <Stage>TrainResult has (seconds aside: each stage says what it counts)."""
        r = self.result
        return {
            "metrics": {k: float(v) for k, v in self.best.items()},
            "n_params": n_params,
            "epochs": r.epochs_run,
            "best_epoch": r.best_epoch,
            "steps": r.steps,
            "device": r.device,
            "best_path": r.best_path,
            "last_path": r.last_path,
            "history": r.history,
        }


def run_stage(
    task: Any,
    train_config: TrainConfig,
    out: Path,
    *,
    extra_state: dict[str, Any] | None,
    log: Callable[[str], None] | None,
    init_weights: dict[str, torch.Tensor] | None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> StageRun:
    """`training.loop.train` in `out` (resuming its last.pt when it matches), timed, with the best
    epoch's history entry."""
    started = time.monotonic()
    steps_before = resumed_steps(out / "last.pt")
    result = train(
        task,
        train_config,
        out,
        extra_state=extra_state,
        log=log,
        on_epoch=on_epoch,
        init_weights=init_weights,
    )
    seconds = time.monotonic() - started
    return StageRun(result, best_entry(result.history, result.best_epoch), started, seconds, steps_before)
