"""One small demo corpus, generated once per test session and shared by the synth tests."""

from __future__ import annotations

import pytest

from automapper_ml.synth import DemoConfig, generate_demo_corpus

# Small but complete: remaps, BPM changes, every version, sidecars, the broken set, references.
SMALL = DemoConfig(
    seed=3, n_songs=5, min_seconds=30.0, max_seconds=36.0, share_twice_mapped=0.4, n_reference=2
)


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    home = tmp_path_factory.mktemp("demo_home")
    return generate_demo_corpus(home, SMALL)
