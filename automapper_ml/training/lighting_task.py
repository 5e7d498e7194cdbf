"""Stage 3 data: one sample per (difficulty, lighting grid step) of the frame index, and the task the
training loop runs.

`LightingData` reads a frame index (one row per map x Standard difficulty, see data.frame_index)
and keeps only a small header per row; a sample is built on demand from memory-mapped store
slices: the step's token group (the target), the events of the previous `context_steps` steps
(teacher-forced context), the beat-synchronous cells around the step (models.lighting.step_cells,
the same function generation uses) and the difficulty. A step's frame comes from the audio
store's beat grid (seconds of every whole beat, BPM changes included), interpolated to the half
beat. Song-level mel statistics are cached per song.

An epoch is every step of every train row, repeated ceil(epoch_scale x weight) times per row's
step count (weights from sample_weights); the loop shuffles it. Validation is teacher-forced over
(a deterministic spread of at most `max_val_steps` of) the validation steps: token accuracy (the
metric, higher is better), whole-group accuracy and the unsmoothed token loss. `baseline_accuracies`
gives the trivial baselines on the same positions: the majority token of each position in a
group (learned on the train split) and "repeat the previous step".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.models.lighting import (
    LightingConfig,
    LightingModel,
    context_arrays,
    interp_frames,
    mel_stats,
    note_cells_of,
    note_group_features,
    step_cells,
)
from automapper_ml.tokenizer import LIGHT_BOS, LIGHT_EOS, LIGHT_PAD, split_light_events, truncate_light_group
from automapper_ml.training.stage import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from automapper_ml.training.stage import StageData, StageItem, StageTask

MODEL_INPUTS = (
    "cells",
    "difficulty",
    "bar",
    "ctx_tokens",
    "ctx_age",
    "inputs",
)  # LightingModel.forward order


@dataclass(frozen=True)
class LightingTaskConfig:
    epoch_scale: float = 1.0  # passes over each row's steps per epoch (times its weight)
    zero_audio: bool = False  # ablation: mel and structure cells zeroed in training and validation
    zero_notes: bool = False  # ablation: note cells zeroed likewise
    max_val_steps: int = 20_000  # validation steps at most (evenly spread over the val split)
    val_batch: int = 256  # steps per validation batch

    def to_dict(self) -> dict:
        return asdict(self)


class LightingDataError(ValueError):
    """The frame index cannot be used for stage 3 (missing columns, no rows, missing store)."""


@dataclass
class _Item(StageItem):
    n_steps: int
    token_snapshot: Path


class LightingData(StageData):
    """The rows of one split of a frame index with lighting steps; samples built lazily.

    index: the frame index DataFrame (or a parquet path); root: folder that relative snapshot
    paths are relative to (the data home)."""

    error = LightingDataError

    config: LightingConfig

    def _load(self, rows: list[dict], *, zero_audio: bool = False, zero_notes: bool = False) -> None:
        """zero_audio / zero_notes: the ablations' inputs (audio cells or note cells all zero)."""
        self.zero_audio, self.zero_notes = zero_audio, zero_notes
        self._stats: dict[tuple[Path, str], tuple[float, float]] = {}
        self.items: list[_Item] = []
        for row in rows:
            item = self._item(row)
            if item is not None:
                self.items.append(item)

    def _item(self, row: dict) -> _Item | None:
        audio_snap, token_snap = self.snapshot_paths(row)
        beats = self.reader(audio_snap).get(row["map_key"], ["beats"])["beats"]
        n_steps = len(self.reader(token_snap).get(row["key"], ["light_beats"])["light_beats"])
        if n_steps == 0 or len(beats) < 2:  # no lighting, or no tempo to place steps with
            return None
        return _Item(**self.item_fields(row), n_steps=n_steps, token_snapshot=token_snap)

    def __len__(self) -> int:
        return len(self.items)

    def epoch_slots(self, epoch_scale: float) -> tuple[np.ndarray, np.ndarray]:
        """(item index, step) int64 arrays of every sample slot of an epoch."""
        items, steps = [], []
        for i, item in enumerate(self.items):
            m = max(1, math.ceil(epoch_scale * item.weight * item.n_steps))
            items.append(np.full(m, i, dtype=np.int64))
            steps.append(np.arange(m, dtype=np.int64) % item.n_steps)
        if not items:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(items), np.concatenate(steps)

    def all_steps(self, limit: int = 0) -> list[tuple[int, int]]:
        """Every (item index, step), or `limit` of them evenly spread (deterministic)."""
        pairs = [(i, k) for i, item in enumerate(self.items) for k in range(item.n_steps)]
        if 0 < limit < len(pairs):
            pairs = [pairs[j] for j in np.linspace(0, len(pairs) - 1, limit).round().astype(int)]
        return pairs

    def groups(self, item: _Item, first: int, stop: int) -> list[list[int]]:
        """Token groups of steps [first, stop) as stored (events + EOS), each cut to max_group_tokens."""
        arrays = self.reader(item.token_snapshot).get(item.key, ["light_tokens", "light_offsets"])
        tokens, offsets = arrays["light_tokens"], arrays["light_offsets"]
        return [
            truncate_light_group(tokens[offsets[k] : offsets[k + 1]].tolist(), self.config.max_group_tokens)
            for k in range(max(first, 0), stop)
        ]

    def sample(self, i: int, k: int) -> dict[str, np.ndarray | int | list[int]]:
        """cells (F, W + 2R) float32, ctx_tokens (E, 5), ctx_age (E,), target list, difficulty, bar."""
        c, item = self.config, self.items[i]
        audio = self.reader(item.audio_snapshot).get(item.map_key, ["mel", "structure", "beats"])
        notes = self.reader(item.token_snapshot).get(item.key, ["note_tokens", "note_offsets", "note_beats"])
        stats_key = (item.audio_snapshot, item.map_key)
        if stats_key not in self._stats:
            self._stats[stats_key] = mel_stats(audio["mel"])
        step_frames = interp_frames(audio["beats"], np.arange(item.n_steps) * c.step) / FRAME_SECONDS
        lo, hi = _note_range(notes["note_beats"], k, c)
        offs = notes["note_offsets"]
        feats = note_group_features([notes["note_tokens"][offs[g] : offs[g + 1]] for g in range(lo, hi)])
        cells = step_cells(c, audio["mel"], audio["structure"], step_frames,
                           note_cells_of(notes["note_beats"][lo:hi], c.step, c.cells_per_step), feats,
                           k, 1, self._stats[stats_key])  # fmt: skip
        if self.zero_audio:
            cells[: 2 * (c.n_mels + c.n_structure)] = 0.0
        if self.zero_notes:
            cells[2 * (c.n_mels + c.n_structure) : -1] = 0.0
        groups = self.groups(item, k - c.context_steps, k + 1)
        ctx_tokens, ctx_age = context_arrays([split_light_events(g) for g in groups[:-1]], c.context_steps,
                                             c.max_context_events)  # fmt: skip
        return {"cells": cells, "ctx_tokens": ctx_tokens, "ctx_age": ctx_age, "target": groups[-1],
                "difficulty": item.difficulty, "bar": k % c.bar_steps}  # fmt: skip

    def batch(self, pairs: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        """cells (B, F, W + 2R), difficulty (B,), bar (B,), ctx_tokens (B, E, 5), ctx_age (B, E),
        inputs (B, T) = [BOS, targets[:-1]], targets (B, T) PAD-padded."""
        samples = [self.sample(i, k) for i, k in pairs]
        t = max(len(s["target"]) for s in samples)
        targets = np.full((len(samples), t), LIGHT_PAD, dtype=np.int64)
        inputs = np.full((len(samples), t), LIGHT_PAD, dtype=np.int64)
        for j, s in enumerate(samples):
            tg = s["target"]
            targets[j, : len(tg)] = tg
            inputs[j, : len(tg)] = [LIGHT_BOS, *tg[:-1]]
        return {
            "cells": torch.from_numpy(np.stack([s["cells"] for s in samples])),
            "difficulty": torch.tensor([s["difficulty"] for s in samples], dtype=torch.long),
            "bar": torch.tensor([s["bar"] for s in samples], dtype=torch.long),
            "ctx_tokens": torch.from_numpy(np.stack([s["ctx_tokens"] for s in samples])),
            "ctx_age": torch.from_numpy(np.stack([s["ctx_age"] for s in samples])),
            "inputs": torch.from_numpy(inputs),
            "targets": torch.from_numpy(targets),
        }


def _note_range(note_beats: np.ndarray, k: int, c: LightingConfig) -> tuple[int, int]:
    """Index range of the note groups that can land in step k's input cells."""
    cell_beats = c.step / c.cells_per_step
    before = (c.cells_before + c.receptive + 1) * cell_beats
    after = (c.cells_after + c.receptive + 1) * cell_beats
    start = k * c.step
    lo, hi = np.searchsorted(note_beats, [start - before, start + after])
    return int(lo), int(hi)


class LightingTask(StageTask[LightingConfig, LightingTaskConfig, LightingData]):
    """Stage 3 `TrainingTask`: train on one split of the index, validate on another."""

    name = "lighting"
    metric = "token_accuracy"
    model_class = LightingModel
    task_config_class = LightingTaskConfig
    data_class = LightingData

    def data_options(self) -> dict[str, bool]:
        return {"zero_audio": self.task_config.zero_audio, "zero_notes": self.task_config.zero_notes}

    def prepare(self, train_split: str) -> None:
        if not self.train_data.items:
            raise LightingDataError(f"the frame index has no {train_split!r} rows with lighting")
        self._items, self._steps = self.train_data.epoch_slots(self.task_config.epoch_scale)
        self.val_pairs = self.val_data.all_steps(self.task_config.max_val_steps)

    # --- TrainingTask protocol (build_model, model_config: StageTask) ---------------------
    def train_size(self) -> int:
        return len(self._items)

    def make_batch(self, indices: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]:
        return self.train_data.batch([(int(self._items[i]), int(self._steps[i])) for i in indices])

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(*(batch[k] for k in MODEL_INPUTS))
        return model.loss(logits, batch["targets"])

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Teacher-forced token accuracy, whole-group accuracy and token loss on the val steps."""
        return evaluate(model, self.val_data, self.val_pairs, device, self.task_config.val_batch)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: LightingData,
    pairs: list[tuple[int, int]],
    device: torch.device | str = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """token_accuracy, group_accuracy, val_loss (mean token CE, no smoothing) over `pairs`."""
    was_training = model.training
    model.eval()
    correct = tokens = groups_ok = loss_sum = 0.0
    for s in range(0, len(pairs), batch_size):
        batch = {k: v.to(device) for k, v in data.batch(pairs[s : s + batch_size]).items()}
        logits = model(*(batch[k] for k in MODEL_INPUTS)).float()
        targets = batch["targets"]
        mask = targets != LIGHT_PAD
        hit = (logits.argmax(-1) == targets) & mask
        loss_sum += float(torch.nn.functional.cross_entropy(logits[mask], targets[mask], reduction="sum"))
        correct += float(hit.sum())
        tokens += float(mask.sum())
        groups_ok += float((hit | ~mask).all(dim=1).sum())
    model.train(was_training)
    if not pairs:
        return {"token_accuracy": 0.0, "group_accuracy": 0.0, "val_loss": float("nan")}
    return {
        "token_accuracy": correct / max(tokens, 1.0),
        "group_accuracy": groups_ok / len(pairs),
        "val_loss": loss_sum / max(tokens, 1.0),
    }


def baseline_accuracies(train: LightingData, val: LightingData, limit: int = 20_000) -> dict[str, float]:
    """Token accuracy of the trivial baselines on (up to `limit` of) the val steps, teacher-forced
    positions as in `evaluate`: `majority_position` predicts the train split's most common token at
    each position of a group; `repeat_previous` predicts the previous step's token at the same
    position (EOS past its end; EOS for a song's first step)."""
    counts: dict[int, Counter] = {}
    for i, k in train.all_steps(limit):
        for pos, t in enumerate(train.groups(train.items[i], k, k + 1)[0]):
            counts.setdefault(pos, Counter())[t] += 1
    majority = {pos: c.most_common(1)[0][0] for pos, c in counts.items()}
    hits_major = hits_repeat = total = 0
    for i, k in val.all_steps(limit):
        previous, current = (
            val.groups(val.items[i], k - 1, k + 1) if k > 0 else ([], *val.groups(val.items[i], k, k + 1))
        )
        for pos, t in enumerate(current):
            hits_major += majority.get(pos, LIGHT_EOS) == t
            hits_repeat += (previous[pos] if pos < len(previous) else LIGHT_EOS) == t
            total += 1
    return {
        "majority_position": hits_major / max(total, 1),
        "repeat_previous": hits_repeat / max(total, 1),
    }
