"""A small wrapper around wandb: offline by default, online only when the user asks.

Modes:
    "offline"  (default) the run is written under <home>/wandb/ and never leaves the machine;
               `wandb sync <home>/wandb/offline-run-...` uploads it later if the user wants.
    "online"   only when asked explicitly (mode="online" here, or WANDB_MODE=online together
               with an API key in the environment); `mode_from_env` decides.
    "disabled" nothing is imported or written (tests).

Offline must not touch the network nor hang: system metrics, machine info (which probes a
cloud metadata address), git and code capture are switched off, console capture is off, and
the environment wandb reads (WANDB_DIR, WANDB_MODE, WANDB_SILENT) is set only around `init`,
so nothing leaks into the caller's process. wandb is imported lazily: the library imports fast
and works without wandb installed when disabled.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from automapper_ml.paths import restored_env

MODES = ("offline", "online", "disabled")


def mode_from_env(default: str = "offline") -> str:
    """The mode the environment asks for: WANDB_MODE if it names a known mode, and "online" only
    with an API key (WANDB_API_KEY); otherwise `default`."""
    mode = os.environ.get("WANDB_MODE", "").strip().lower()
    if mode == "online" and not os.environ.get("WANDB_API_KEY"):
        return default
    if mode == "dryrun":
        return "offline"
    return mode if mode in MODES else default


@contextmanager
def _env(values: Mapping[str, str]) -> Iterator[None]:
    with restored_env(*values):
        os.environ.update(values)
        yield


class WandbLogger:
    """One wandb run: config, per-epoch metrics, checkpoint artifacts and images.

    home: the data home; runs go to <home>/wandb. Use as a context manager or call `finish()`.
    Every method is a no-op when mode is "disabled"."""

    def __init__(
        self,
        home: str | os.PathLike,
        *,
        project: str = "automapper",
        name: str | None = None,
        mode: str = "offline",
        config: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        group: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown wandb mode {mode!r} (one of {', '.join(MODES)})")
        self.mode = mode
        self.dir = Path(home) / "wandb"
        self.run = None
        if mode == "disabled":
            return
        import wandb  # lazily: slow import, optional in disabled mode

        self.dir.mkdir(parents=True, exist_ok=True)
        settings = wandb.Settings(
            mode=mode,
            silent=True,
            console="off",
            disable_git=True,
            disable_code=True,
            save_code=False,
            x_disable_stats=True,
            x_disable_machine_info=True,
            init_timeout=60.0,
        )
        with _env(self._env()):
            self.run = wandb.init(
                project=project,
                name=name,
                dir=str(self.dir),
                config=dict(config or {}),
                tags=tags,
                group=group,
                settings=settings,
                reinit="create_new",
            )

    def _env(self) -> dict[str, str]:
        """Where wandb writes: everything under <home>/wandb (not ~/.cache, ~/.local, ~/.config)."""
        return {
            "WANDB_DIR": str(self.dir),
            "WANDB_MODE": self.mode,
            "WANDB_SILENT": "true",
            "WANDB_CACHE_DIR": str(self.dir / ".cache"),
            "WANDB_DATA_DIR": str(self.dir / ".data"),
            "WANDB_ARTIFACT_DIR": str(self.dir / ".artifacts"),
            "WANDB_CONFIG_DIR": str(self.dir / ".config"),
        }

    @property
    def enabled(self) -> bool:
        return self.run is not None

    @property
    def run_dir(self) -> Path | None:
        """The run's folder (offline-run-<time>-<id> under <home>/wandb/wandb), or None."""
        return Path(self.run.dir).parent if self.run is not None else None

    def log_config(self, config: Mapping[str, Any]) -> None:
        if self.run is not None:
            self.run.config.update(dict(config), allow_val_change=True)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.run is not None:
            self.run.log({k: float(v) for k, v in metrics.items()}, step=step)

    def log_summary(self, values: Mapping[str, Any]) -> None:
        if self.run is not None:
            for k, v in values.items():
                self.run.summary[k] = v

    def log_image(self, key: str, path: str | os.PathLike, step: int | None = None) -> None:
        if self.run is not None:
            import wandb

            self.run.log({key: wandb.Image(str(path))}, step=step)

    def log_artifact(
        self,
        path: str | os.PathLike,
        name: str,
        type: str = "model",
        metadata: Mapping[str, Any] | None = None,
        aliases: list[str] | None = None,
    ) -> None:
        """Log a file (e.g. best.pt) as an artifact; offline it is stored with the run."""
        if self.run is not None:
            import wandb

            with _env(self._env()):  # artifact staging goes under <home>/wandb too
                artifact = wandb.Artifact(name, type=type, metadata=dict(metadata or {}))
                artifact.add_file(str(path))
                self.run.log_artifact(artifact, aliases=aliases)

    def finish(self) -> None:
        if self.run is not None:
            with _env(self._env()):
                self.run.finish()
            self.run = None

    def __enter__(self) -> WandbLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()
