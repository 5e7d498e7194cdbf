"""Shared test helpers: where the real fixture maps live (../shared/fixtures), skipping cleanly without them."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
BEATSABER_FIXTURES = SHARED_FIXTURES / "beatsaber"


def beatsaber_fixture_dirs() -> list[Path]:
    """Every human map folder under ../shared/fixtures/beatsaber ([] when the folder is absent)."""
    if not BEATSABER_FIXTURES.is_dir():
        return []
    return sorted(p for p in BEATSABER_FIXTURES.iterdir() if p.is_dir())


def fixture_params() -> list:
    """Parametrisation over the fixture maps, or a single skipped case when they are absent."""
    dirs = beatsaber_fixture_dirs()
    if not dirs:
        return [pytest.param(None, marks=pytest.mark.skip(reason="../shared/fixtures is absent"))]
    return [pytest.param(d, id=d.name) for d in dirs]


def pytest_configure(config):
    """Under pytest-xdist each worker gets one torch thread: two workers x two threads on a
    2-core machine spin against each other (measured ~8x slower steps)."""
    import os

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        # librosa's numba functions are compiled with cache=True into site-packages/__pycache__;
        # two workers writing and loading that cache at once segfaulted a worker (seen in CI). Each
        # worker gets its own cache folder, set before anything imports numba.
        import tempfile

        os.environ.setdefault(
            "NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"automapper-numba-{worker}")
        )
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"  # subprocesses started by tests inherit it
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # torch missing or broken: nothing CUDA can run
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "requires_cuda" in item.keywords:
            item.add_marker(skip)
