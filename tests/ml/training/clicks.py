"""The click corpus the stage tests train on: small real map zips (tests.ml.data.mapzips) indexed."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from automapper_ml.training.onset_task import index_zips
from tests.ml.data.mapzips import make_map_zip


def click_corpus(root: Path, n_maps: int = 3) -> pl.DataFrame:
    """The frame index of n_maps 20 s click maps (Expert + Hard each) written under root/raw and
    indexed into root: m0 validates, m1, m2 ... train."""
    zips = [make_map_zip(root / "raw" / f"m{i}.zip", seed=i) for i in range(n_maps)]
    splits = {f"m{i}": "train" if i else "val" for i in range(n_maps)}
    return index_zips(zips, root, splits=splits)
