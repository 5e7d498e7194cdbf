"""The code location: every asset, check, sensor and resource under automapper_assets/defs.

Adding an asset means adding a module under defs/<group>/; nothing here changes. The
[tool.dg] section of pyproject.toml points `dg` at this module, and
`dagster ... -m automapper_assets.definitions` loads the same `defs`.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(project_root=PROJECT_ROOT)
