"""The one difficulty the tokenizer tests build their maps in."""

from __future__ import annotations

from automapper_ml.formats.model import Difficulty


def make_diff(**objects) -> Difficulty:
    """Standard Expert holding `objects` (notes=..., bombs=..., events=..., any Difficulty list field)."""
    return Difficulty("Standard", "Expert", 7, "ExpertStandard.dat", **objects)
