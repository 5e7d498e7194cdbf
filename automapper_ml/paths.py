"""Where automapper's data lives: one lookup of the data root for the commands, the pipeline and
the model loader.

The root is the explicit argument (a --home flag, a resource's `home`), else $AUTOMAPPER_HOME, else
./data; an empty string counts as not given, at both steps. `home()` returns the path as named
(relative stays relative, `~` is not expanded); callers that need it absolute resolve it.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "AUTOMAPPER_HOME"
DEFAULT_HOME = "data"


def home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root: `explicit`, else $AUTOMAPPER_HOME, else ./data (empty strings skipped)."""
    return Path(explicit or os.environ.get(HOME_ENV) or DEFAULT_HOME)
