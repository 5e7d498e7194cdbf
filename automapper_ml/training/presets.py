"""Training presets from configs/onset.toml: model size + TrainConfig + OnsetTaskConfig.

The TOML file is the single source of these numbers. The Dagster layer calls `load_preset`
once and `config_hash` for the `onset_model` code version; modules below never read files.

    [model.<size>]           OnsetConfig fields
    [preset.<name>]          model = "<size>"
    [preset.<name>.train]    TrainConfig fields (defaults for the rest)
    [preset.<name>.task]     OnsetTaskConfig fields
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.data.onset_data import OnsetTaskConfig
from automapper_ml.models.onset import OnsetConfig
from automapper_ml.training.loop import TrainConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "onset.toml"


@dataclass(frozen=True)
class OnsetPreset:
    name: str
    model_name: str  # the [model.<size>] it uses
    model: OnsetConfig
    train: TrainConfig
    task: OnsetTaskConfig


def read_config(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The parsed TOML (ValueError with a one-line reason when it cannot be parsed)."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err


def config_hash(path: str | os.PathLike | None = None) -> str:
    """Canonical hash of the whole file (parsed, then dumped): part of onset_model's code version."""
    return canonical_hash(read_config(path))


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")
    return cls(**values)


def model_config(name: str, path: str | os.PathLike | None = None) -> OnsetConfig:
    """The [model.<name>] OnsetConfig."""
    models = read_config(path).get("model", {})
    if name not in models:
        raise ValueError(f"no model size {name!r} in the onset config (have {sorted(models)})")
    return _build(OnsetConfig, models[name], f"[model.{name}]")


def load_preset(name: str | None = None, path: str | os.PathLike | None = None) -> OnsetPreset:
    """The named preset (default: the file's `default_preset`)."""
    data = read_config(path)
    name = name or data.get("default_preset", "demo")
    presets = data.get("preset", {})
    if name not in presets:
        raise ValueError(f"no preset {name!r} in the onset config (have {sorted(presets)})")
    section = presets[name]
    unknown = sorted(set(section) - {"model", "train", "task"})
    if unknown:
        raise ValueError(f"[preset.{name}]: unknown keys {unknown}")
    size = section.get("model", "tiny")
    return OnsetPreset(
        name=name,
        model_name=size,
        model=model_config(size, path),
        train=_build(TrainConfig, section.get("train", {}), f"[preset.{name}.train]"),
        task=_build(OnsetTaskConfig, section.get("task", {}), f"[preset.{name}.task]"),
    )
