"""Fixtures for the model tests: one torch intra-op thread.

Their tensors are tiny: on a busy 2-core machine a second intra-op thread only spins (measured
8-20x slower steps). A test module asks for it with

    pytestmark = pytest.mark.usefixtures("one_thread")         # each test
    pytestmark = pytest.mark.usefixtures("one_thread_module")  # the whole module, its fixtures too
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch uses n intra-op threads inside the block; the previous count comes back after it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> Iterator[None]:
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_module() -> Iterator[None]:
    with torch_threads(1):
        yield
