"""The stage tests' shared corpus fixture."""

from __future__ import annotations

import pytest

from tests.ml.training.clicks import click_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, request):
    """(root, frame index) of three click maps (click_corpus: m0 validates, m1 and m2 train),
    built once per test module."""
    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    return root, click_corpus(root)
