"""Reading checkpoints: what every stage's loader (`models.<stage>.load_<stage>_model`) shares.

A checkpoint is a dict saved by `training.loop.save_checkpoint`: "stage", "model" (the state dict),
"model_config", "history", "best_epoch", "extra_state". It is always read with weights_only=True, so
a file from a folder a user fills can never run code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no arbitrary unpickling)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def read_stage_checkpoint(
    ckpt_path: str | os.PathLike, stage: str, device: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(checkpoint, the model config saved in it) of one stage. FileNotFoundError when absent; ValueError
    with a one-line reason when unreadable or another stage's."""
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = load_checkpoint(path, device)
    except Exception as err:  # truncated file, not a torch file, or a pickle weights_only refuses
        raise ValueError(f"{path} is not a readable checkpoint: {' '.join(str(err).split())[:200]}") from err
    if not isinstance(state, dict) or state.get("stage") != stage or "model" not in state:
        raise ValueError(f"{path} is not {'an' if stage[0] in 'aeiou' else 'a'} {stage} model checkpoint")
    saved = state.get("model_config") or {}
    return state, saved.get("model", saved)


def best_entry(history: list[dict[str, float]], best_epoch: int) -> dict[str, float]:
    """The history entry of the best epoch (the last one if it is missing)."""
    for entry in history:
        if int(entry.get("epoch", -2)) == best_epoch:
            return dict(entry)
    return dict(history[-1]) if history else {}
