"""Where automapper's data lives: one lookup of the data root for the commands, the pipeline and
the model loader; and `restored_env`, for code that sets such variables for one call only.

The root is the explicit argument (a --home flag, a resource's `home`), else $AUTOMAPPER_HOME, else
./data; an empty string counts as not given, at both steps. `home()` returns the path as named
(relative stays relative, `~` is not expanded); callers that need it absolute resolve it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOME_ENV = "AUTOMAPPER_HOME"
DEFAULT_HOME = "data"


def home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root: `explicit`, else $AUTOMAPPER_HOME, else ./data (empty strings skipped)."""
    return Path(explicit or os.environ.get(HOME_ENV) or DEFAULT_HOME)


@contextmanager
def restored_env(*keys: str) -> Iterator[None]:
    """The environment variables `keys` put back on exit as they were before (unset ones unset)."""
    old = {k: os.environ.get(k) for k in keys}
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
