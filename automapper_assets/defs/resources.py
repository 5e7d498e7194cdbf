"""Resources shared by every asset: where the data lives.

`AUTOMAPPER_HOME` (and `AUTOMAPPER_RAW`, a map folder read in place instead of <home>/raw) are read
when a run (or sensor tick) asks for a path, never at import, so one code location serves whatever
data root the process is started with.
"""

import os
from pathlib import Path

import dagster as dg

from automapper_ml import paths

RAW_ENV = "AUTOMAPPER_RAW"


def resolve_home(home: str | None = None) -> Path:
    """`home`, else $AUTOMAPPER_HOME, else ./data (automapper_ml.paths.home), as an absolute path."""
    return paths.home(home).expanduser().resolve()


class AutomapperPaths(dg.ConfigurableResource):
    """The data root and its folders (DESIGN.md "Data folder"); folders are created on demand."""

    home: str = ""  # empty: $AUTOMAPPER_HOME at run time, else ./data
    raw_dir: str = ""  # empty: $AUTOMAPPER_RAW at run time, else <home>/raw

    def root(self) -> Path:
        return resolve_home(self.home)

    def folder(self, *parts: str) -> Path:
        """<home>/<parts...>, created if missing."""
        path = self.root().joinpath(*parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def raw(self) -> Path:
        """Map zips (input; never written by the pipeline, so not created here)."""
        named = self.raw_dir or os.environ.get(RAW_ENV)
        return Path(named).expanduser().resolve() if named else self.root() / "raw"

    @property
    def ingest(self) -> Path:
        return self.folder("ingest")

    @property
    def ingest_cache(self) -> Path:
        return self.folder("ingest", "cache")

    @property
    def audit(self) -> Path:
        return self.folder("ingest", "audit")


class WandbResource(dg.ConfigurableResource):
    """wandb for training assets: offline by default (runs under <home>/wandb, no network calls);
    online only when configured here or with WANDB_MODE=online (and an API key); "disabled" for tests."""

    mode: str = ""  # "", "offline", "online", "disabled"; empty: $WANDB_MODE at run time, else offline
    project: str = "automapper"

    def resolved_mode(self) -> str:
        from automapper_ml.training.wandb_logger import mode_from_env

        return self.mode or mode_from_env("offline")

    def logger(self, home: Path, name: str, group: str):
        """A WandbLogger for one training run (use as a context manager)."""
        from automapper_ml.training.wandb_logger import WandbLogger

        return WandbLogger(home, project=self.project, name=name, group=group, mode=self.resolved_mode())


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"paths": AutomapperPaths(), "wandb": WandbResource()})
