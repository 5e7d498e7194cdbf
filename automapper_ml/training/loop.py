"""One plain-PyTorch training loop for all three stages.

A stage is a `TrainingTask`: it builds its model, turns a list of sample indices into a batch,
computes the loss and validates. The loop owns everything else: device and autocast (bf16 on
CUDA, fp32 on CPU unless asked), AdamW with linear warmup and cosine decay, gradient clipping
and accumulation, checkpoints (every epoch, every N minutes or N steps, written atomically, best
and last kept), resume mid-epoch after a crash, early stopping, a progress bar and log hooks.

Determinism and resume: the sample order of epoch e is a permutation drawn from a generator
seeded with (seed, e), and each batch gets its own generator seeded with (seed, e, batch), so
the data a resumed run sees does not depend on where it stopped. The global torch RNG (dropout,
masking) is saved in the checkpoint and restored, so on CPU a resumed run reproduces the
uninterrupted run's metrics exactly.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from automapper_ml.atomic import atomic_path
from automapper_ml.models.checkpoint import load_checkpoint

CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200  # linear warmup, then cosine decay to min_lr_ratio * lr
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    grad_accum: int = 1  # optimizer step every grad_accum batches
    checkpoint_minutes: float = 10.0  # mid-epoch checkpoint interval (wall clock)
    checkpoint_steps: int = 0  # also every N optimizer steps when > 0 (tests, crash drills)
    patience: int = 5  # epochs without improvement before stopping
    seed: int = 0
    device: str = "auto"  # "auto" (cuda, then cpu), "cpu", "cuda", "cuda:1"
    bf16_on_cpu: bool = False  # run the bf16 autocast path on CPU (tests; GPUs use it always)
    max_minutes: float | None = None  # time budget: stop after the epoch that crosses it
    progress: bool = True  # tqdm progress bar on stderr

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingTask(Protocol):
    name: str  # stage name: "onset", "sequence", "lighting"
    metric: str  # validation metric for best checkpoint and early stopping
    higher_is_better: bool

    def build_model(self) -> nn.Module: ...
    def model_config(self) -> dict: ...
    def train_size(self) -> int: ...
    def make_batch(self, indices: list[int], generator: torch.Generator) -> dict[str, torch.Tensor]: ...
    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor: ...
    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]: ...


@dataclass
class TrainResult:
    best_metric: float
    best_epoch: int
    epochs_run: int
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)
    best_path: Path | None = None
    last_path: Path | None = None
    device: str = "cpu"
    seconds: float = 0.0
    resumed_from: dict | None = None  # epoch/batch/step of the checkpoint this run resumed


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup to 1, then cosine decay to `min_ratio` at `total` steps."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """torch.save to a temp file beside `path`, then rename: the file is whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def train(
    task: TrainingTask,
    config: TrainConfig,
    checkpoint_dir: str | os.PathLike,
    *,
    extra_state: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    init_weights: dict[str, torch.Tensor] | None = None,
) -> TrainResult:
    """Train `task`, resuming from `checkpoint_dir/last.pt` when it exists and matches.

    `extra_state` (e.g. tokenizer version, frame_index data version) is stored in every
    checkpoint; a last.pt whose extra_state differs is not resumed (training restarts).
    `init_weights` warm-starts a fresh run (ignored when resuming)."""
    log = log or (lambda msg: None)
    extra_state = dict(extra_state or {})
    ckdir = Path(checkpoint_dir)
    device = pick_device(config.device)
    autocast = _autocast(device, config)
    torch.manual_seed(config.seed)
    random.seed(config.seed)

    model = task.build_model().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_batches = max(1, math.ceil(task.train_size() / config.batch_size))
    total_steps = max(1, config.epochs * n_batches // config.grad_accum)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, config.warmup_steps, total_steps, config.min_lr_ratio)
    )

    start_epoch, start_batch, step = 0, 0, 0
    best, best_epoch, bad_epochs = None, -1, 0
    history: list[dict[str, float]] = []
    resumed = None
    last_path, best_path = ckdir / "last.pt", ckdir / "best.pt"
    if last_path.exists():
        state = load_checkpoint(last_path, device)
        if state.get("extra_state") == extra_state and state.get("model_config") == task.model_config():
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            torch.set_rng_state(state["rng_torch"].cpu())
            random.setstate(_tuple_state(state["rng_python"]))
            start_epoch, start_batch, step = state["epoch"], state["batch_in_epoch"], state["step"]
            best, best_epoch, bad_epochs = state["best_metric"], state["best_epoch"], state["bad_epochs"]
            history = list(state["history"])
            resumed = {"epoch": start_epoch, "batch": start_batch, "step": step}
            log(f"{task.name}: resuming at epoch {start_epoch} batch {start_batch} (step {step})")
        else:
            log(f"{task.name}: {last_path} is from another config or data version; starting afresh")
    elif init_weights is not None:
        model.load_state_dict(init_weights)
        log(f"{task.name}: warm start from given weights")

    def checkpoint(epoch: int, batch_in_epoch: int) -> None:
        save_checkpoint(
            last_path,
            {
                "format": CHECKPOINT_FORMAT,
                "stage": task.name,
                "model_config": task.model_config(),
                "train_config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng_torch": torch.get_rng_state(),
                "rng_python": list(_list_state(random.getstate())),
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
                "step": step,
                "best_metric": best,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "history": history,
                "extra_state": extra_state,
            },
        )

    started = time.monotonic()
    last_save = time.monotonic()
    for epoch in range(start_epoch, config.epochs):
        if bad_epochs >= config.patience:
            break
        order = torch.randperm(
            task.train_size(), generator=torch.Generator().manual_seed(_seed(config.seed, epoch))
        )
        model.train()
        first = start_batch if epoch == start_epoch else 0
        bar = tqdm(
            range(first, n_batches),
            desc=f"{task.name} epoch {epoch}",
            disable=None if config.progress else True,  # None: only on a terminal
            leave=False,
            initial=first,
            total=n_batches,
        )
        running, seen = 0.0, 0
        for b in bar:
            indices = order[b * config.batch_size : (b + 1) * config.batch_size].tolist()
            batch = task.make_batch(indices, torch.Generator().manual_seed(_seed(config.seed, epoch, b)))
            batch = {
                k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()
            }
            with autocast:
                loss = task.loss(model, batch)
            (loss.float() / config.grad_accum).backward()
            running += float(loss.detach())
            seen += 1
            if (b + 1) % config.grad_accum == 0 or b + 1 == n_batches:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
                step += 1
                bar.set_postfix(loss=f"{running / seen:.4f}")
                due_steps = config.checkpoint_steps > 0 and step % config.checkpoint_steps == 0
                due_time = time.monotonic() - last_save > 60 * config.checkpoint_minutes
                if (due_steps or due_time) and b + 1 < n_batches:
                    checkpoint(epoch, b + 1)
                    last_save = time.monotonic()
                if on_step is not None:
                    on_step(step)
        bar.close()
        start_batch = 0

        model.eval()
        with torch.no_grad(), autocast:
            metrics = dict(task.validate(model, device))
        metrics["train_loss"] = running / max(seen, 1)
        metrics["epoch"] = epoch
        metrics["lr"] = scheduler.get_last_lr()[0]
        history.append(metrics)
        value = metrics[task.metric]
        improved = best is None or (value > best if task.higher_is_better else value < best)
        if improved:
            best, best_epoch, bad_epochs = value, epoch, 0
        else:
            bad_epochs += 1
        checkpoint(epoch + 1, 0)
        last_save = time.monotonic()
        if improved:
            save_checkpoint(best_path, {**load_checkpoint(last_path), "best": True})
        shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k not in ("epoch",))
        log(f"{task.name} epoch {epoch}: {shown}{' (best)' if improved else ''}")
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if config.max_minutes is not None and time.monotonic() - started > 60 * config.max_minutes:
            log(f"{task.name}: time budget of {config.max_minutes} min reached")
            break

    return TrainResult(
        best_metric=float(best) if best is not None else float("nan"),
        best_epoch=best_epoch,
        epochs_run=len(history),
        steps=step,
        history=history,
        best_path=best_path if best_path.exists() else None,
        last_path=last_path if last_path.exists() else None,
        device=str(device),
        seconds=time.monotonic() - started,
        resumed_from=resumed,
    )


def resumed_steps(last: Path) -> int:
    """Optimizer steps already taken by the run whose last.pt this is (0 if none or unreadable)."""
    if not last.exists():
        return 0
    try:
        return int(load_checkpoint(last).get("step", 0))
    except Exception:  # unreadable last.pt: train() will report it
        return 0


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _autocast(device: torch.device, config: TrainConfig):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if config.bf16_on_cpu:
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return _NullContext()


def _seed(*parts: int) -> int:
    """A 63-bit seed from small integers (stable across runs and platforms)."""
    h = 1469598103934665603
    for p in parts:
        h = ((h ^ (p + 0x9E3779B9)) * 1099511628211) & ((1 << 63) - 1)
    return h


def _list_state(state: tuple) -> list:
    """random.getstate() as nested lists (weights_only loads lists, ints and floats)."""
    return [state[0], list(state[1]), state[2]]


def _tuple_state(state: list) -> tuple:
    return (state[0], tuple(state[1]), state[2])
