"""The training index: which (map, Standard difficulty) items train, validate and test, and where
their features live.

One row per trainable difficulty (blacklist applied, `blacklist.trainable`) that both feature
stores hold. Splits are by song, deterministic: u = first 8 bytes of sha256(song id) / 2**64,
train if u < 0.85, val if u < 0.95, else test — so a song's difficulties (and every map of one
song) land in one split. Songs of reference/ never train: their rows are dropped. Songs named in
configs/ingest.toml [split] test_zips always land in test: a fixed held-out set that stays out of
training whatever their hash says (the real-corpus tests and the shipped models' cards name it).

The data version is a hash of what the index means for training — keys, songs, splits, weights,
frame counts and a hash of each difficulty's onset frames — and NOT of store paths. So a
tokenizer bump rebuilds the index with the same version when the onsets are unchanged, and the
onset model stays fresh (the versioning contract in DESIGN.md).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import polars as pl

SPLIT_BOUNDS = (("train", 0.85), ("val", 0.95), ("test", 1.0))
VERSION_COLUMNS = ("key", "song_id", "difficulty", "split", "weight", "n_frames", "onsets_sha")
INDEX_CODE_VERSION = "1"


def split_of(song_id: str) -> str:
    u = int.from_bytes(hashlib.sha256(song_id.encode()).digest()[:8], "big") / 2**64
    for name, bound in SPLIT_BOUNDS:
        if u < bound:
            return name
    return "test"


def build_frame_index(
    trainable: pl.DataFrame,
    weights: pl.DataFrame,
    audio_rows: pl.DataFrame,
    token_rows: pl.DataFrame,
    reference_song_ids: set[str] | frozenset[str] = frozenset(),
    test_song_ids: set[str] | frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Join the trainable manifest rows with both stores.

    trainable: manifest rows (zip_name, song_id, characteristic, difficulty, ...) allowed to train.
    weights: sample_weights (zip_name, weight).
    audio_rows: (key = zip stem, audio_snapshot, n_frames) for every map in the audio store.
    token_rows: (key = "<stem>/<characteristic>/<difficulty>", token_snapshot, onsets_sha,
        difficulty_index, n_groups) for every difficulty in the token store.
    """
    items = trainable.select(
        pl.col("zip_name").str.replace(r"(?i)\.zip$", "").alias("map_key"),
        "zip_name",
        "song_id",
        "characteristic",
        "difficulty",
    ).with_columns(
        (pl.col("map_key") + "/" + pl.col("characteristic") + "/" + pl.col("difficulty")).alias("key")
    )
    items = items.filter(~pl.col("song_id").is_in(sorted(reference_song_ids)))
    items = items.join(weights.select("zip_name", "weight"), on="zip_name", how="left").with_columns(
        pl.col("weight").fill_null(1.0)
    )
    items = items.join(audio_rows.rename({"key": "map_key"}), on="map_key", how="inner")
    items = items.join(token_rows, on="key", how="inner")
    items = items.with_columns(
        pl.when(pl.col("song_id").is_in(sorted(test_song_ids)))
        .then(pl.lit("test"))
        .otherwise(pl.col("song_id").map_elements(split_of, return_dtype=pl.String))
        .alias("split")
    )
    return items.select(
        "key",
        "map_key",
        "zip_name",
        "song_id",
        "characteristic",
        "difficulty",
        "difficulty_index",
        "split",
        "weight",
        "n_frames",
        "n_groups",
        "onsets_sha",
        "audio_snapshot",
        "token_snapshot",
    ).sort("key")


def index_version(index: pl.DataFrame) -> str:
    """The frame index's data version: a hash of its training meaning (see module docstring)."""
    canonical = index.select(VERSION_COLUMNS).sort("key").write_csv()
    return hashlib.sha256(f"{INDEX_CODE_VERSION}\n{canonical}".encode()).hexdigest()[:20]


def write_index(index: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write the index parquet atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        index.write_parquet(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
