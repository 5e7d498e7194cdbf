"""Deterministic demo corpus: rendered songs, human-style maps, broken inputs (see corpus.py)."""

from automapper_ml.synth.broken import BROKEN_KINDS, BrokenZip, write_broken_set
from automapper_ml.synth.corpus import (
    DemoConfig,
    DemoMap,
    DemoReport,
    DemoSong,
    MapPlan,
    SongPlan,
    build_map,
    generate_demo_corpus,
    plan_corpus,
)

__all__ = [
    "BROKEN_KINDS",
    "BrokenZip",
    "DemoConfig",
    "DemoMap",
    "DemoReport",
    "DemoSong",
    "MapPlan",
    "SongPlan",
    "build_map",
    "generate_demo_corpus",
    "plan_corpus",
    "write_broken_set",
]
