"""The code location: every asset, check, sensor and resource under automapper_assets/defs.

Adding an asset means adding a module under defs/<group>/; nothing here changes. The
[tool.dg] section of pyproject.toml points `dg` at this module, and
`dagster ... -m automapper_assets.definitions` loads the same `defs`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(project_root=PROJECT_ROOT)


def with_executor(executor: dg.ExecutorDefinition, config_file: Path, name: str) -> dg.Definitions:
    """These definitions run by `executor`, configured from a YAML file (deploy/<kind>/executor.yaml)
    under `name`: what deploy/celery and deploy/k8s load."""
    configured = executor.configured(yaml.safe_load(config_file.read_text()), name=name)
    return dg.Definitions.merge(defs(), dg.Definitions(executor=configured))
