"""Test helper: run KivalEvan's bsmap schema check (tools/bsmap-check) on map files.

`bsmap_issues(paths)` returns {path: [issue, ...]} as printed by tools/bsmap-check/validate.mjs.
Tests that need it call `require_bsmap()` first, which skips (with the reason) when node or the
installed bsmap package (`npm ci` in tools/bsmap-check, done by scripts/setup.sh) is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BSMAP_DIR = REPO / "tools" / "bsmap-check"
VALIDATE = BSMAP_DIR / "validate.mjs"
# Files per node process: keeps the command line short even for a big batch.
_BATCH = 200


def bsmap_unavailable_reason() -> str | None:
    """Why the bsmap check cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the bsmap schema check needs Node.js 20+)"
    if not (BSMAP_DIR / "node_modules" / "bsmap" / "package.json").is_file():
        return "bsmap is not installed: run `npm ci` in tools/bsmap-check (scripts/setup.sh does)"
    return None


def require_bsmap() -> None:
    """Skip the calling test, saying why, when the bsmap check cannot run."""
    reason = bsmap_unavailable_reason()
    if reason:
        pytest.skip(reason)


def bsmap_issues(paths: Iterable[str | os.PathLike]) -> dict[str, list]:
    """bsmap's schema issues for each file ({} entries are clean); skips the test if bsmap is absent."""
    require_bsmap()
    files = [str(Path(p).resolve()) for p in paths]
    report: dict[str, list] = {}
    for start in range(0, len(files), _BATCH):
        batch = files[start : start + _BATCH]
        proc = subprocess.run(
            ["node", str(VALIDATE), *batch],
            cwd=BSMAP_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"validate.mjs failed ({proc.returncode}): {proc.stderr.strip()[:2000]}")
        report.update(json.loads(proc.stdout))
    return report


def failing(report: dict[str, list]) -> dict[str, list]:
    """Only the files with issues (what an assertion should print)."""
    return {path: issues for path, issues in report.items() if issues}
