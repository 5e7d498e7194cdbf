"""Training presets: one layout for every stage's configs/<stage>.toml (onset, sequence, lighting).

The TOML file is the single source of these numbers. The Dagster layer calls the stage's loader
(`load_preset` here for onset, `load_sequence_preset`, `load_lighting_preset`) once and hashes the
file into the stage's code version; modules below never read files.

    default_preset = "<name>"
    [model.<size>]           the stage's model config fields (defaults for the rest)
    [preset.<name>]          model = "<size>"
    [preset.<name>.train]    TrainConfig fields (defaults for the rest)
    [preset.<name>.task]     the stage's task config fields
    [preset.<name>.<part>]   any further part a stage knows (sequence: decoding)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.models.onset import OnsetConfig
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.onset_task import OnsetTaskConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "onset.toml"


ModelT = TypeVar("ModelT")
TaskT = TypeVar("TaskT")


@dataclass(frozen=True)
class Preset(Generic[ModelT, TaskT]):
    """A stage's [preset.<name>]: its model size and the configs it trains with."""

    name: str
    model_name: str  # the [model.<size>] it uses
    model: ModelT
    train: TrainConfig
    task: TaskT


OnsetPreset = Preset[OnsetConfig, OnsetTaskConfig]


def read_config(path: str | os.PathLike | None = None, default: Path = DEFAULT_CONFIG) -> dict[str, Any]:
    """The parsed TOML at `path` (else `default`); ValueError with a one-line reason when it cannot be
    read or parsed. Shared by every stage's preset file."""
    path = Path(path) if path is not None else default
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from err


def config_hash(path: str | os.PathLike | None = None) -> str:
    """Canonical hash of the whole file (parsed, then dumped): part of onset_model's code version."""
    return canonical_hash(read_config(path))


def build_section(cls: type, values: dict[str, Any], where: str) -> Any:
    """`cls(**values)` for a TOML table; unknown keys and rejected values are one-line ValueErrors naming
    the table (`where`)."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from err


def model_section(data: dict[str, Any], size: str, stage: str) -> dict[str, Any]:
    """The [model.<size>] table of a stage's parsed preset file."""
    models = data.get("model", {})
    if size not in models:
        raise ValueError(f"no model size {size!r} in the {stage} config (have {sorted(models)})")
    return models[size]


def preset_section(
    data: dict[str, Any], name: str | None, stage: str, parts: set[str]
) -> tuple[str, dict[str, Any]]:
    """(name, [preset.<name>] table) of a stage's parsed preset file; `name` None means the file's
    `default_preset`; `parts` are the sub-tables the stage knows besides `model`."""
    name = name or data.get("default_preset", "demo")
    presets = data.get("preset", {})
    if name not in presets:
        raise ValueError(f"no preset {name!r} in the {stage} config (have {sorted(presets)})")
    section = presets[name]
    unknown = sorted(set(section) - {"model", *parts})
    if unknown:
        raise ValueError(f"[preset.{name}]: unknown keys {unknown}")
    return name, section


def preset_part(cls: type, section: dict[str, Any], name: str, part: str) -> Any:
    """`cls` built from the [preset.<name>.<part>] sub-table (absent: the dataclass defaults)."""
    return build_section(cls, section.get(part, {}), f"[preset.{name}.{part}]")


def model_part(cls: type, data: dict[str, Any], size: str, stage: str) -> Any:
    """`cls` built from the [model.<size>] table of a stage's parsed preset file."""
    return build_section(cls, model_section(data, size, stage), f"[model.{size}]")


def preset_fields(
    data: dict[str, Any],
    name: str | None,
    stage: str,
    model: Callable[[str], Any],
    parts: dict[str, type],
) -> dict[str, Any]:
    """The fields of a stage's preset dataclass: name, model_name, model (`model(size)`), then each
    of `parts` (sub-table name -> the class built from it), in that order."""
    name, section = preset_section(data, name, stage, set(parts))
    size = section.get("model", "tiny")
    fields_ = {"name": name, "model_name": size, "model": model(size)}
    return fields_ | {part: preset_part(cls, section, name, part) for part, cls in parts.items()}


def stage_preset(
    cls: type, data: dict[str, Any], name: str | None, stage: str, model: type, parts: dict[str, type]
) -> Any:
    """`cls` (a Preset) for [preset.<name>] of a stage's parsed file: its [model.<size>] built as
    `model`, then each of `parts` (sub-table name -> class)."""
    return cls(**preset_fields(data, name, stage, lambda size: model_part(model, data, size, stage), parts))


def model_config(name: str, path: str | os.PathLike | None = None) -> OnsetConfig:
    """The [model.<name>] OnsetConfig."""
    return model_part(OnsetConfig, read_config(path), name, "onset")


def load_preset(name: str | None = None, path: str | os.PathLike | None = None) -> OnsetPreset:
    """The named preset (default: the file's `default_preset`)."""
    parts = {"train": TrainConfig, "task": OnsetTaskConfig}
    return stage_preset(Preset, read_config(path), name, "onset", OnsetConfig, parts)
