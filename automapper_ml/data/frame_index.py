"""The training index: which (map, Standard difficulty) items train, validate and test, and where
their features live.

One row per trainable difficulty (blacklist applied, `blacklist.trainable`) that both feature
stores hold for the manifest's bytes of its zip: a store record is matched by key (the zip's exact
file name; "<zip name>/<characteristic>/<difficulty>" for tokens) AND zip sha256, so one song's
audio is never paired with another's notes (`x.zip` and `x.ZIP`, or a zip changed since its shard
ran). Every trainable difficulty left out that way is a row of `missing_features`, with the
shard's own failure reason when it recorded one: the index never shrinks silently. Splits are by song, deterministic: u = first 8 bytes of sha256(song id) / 2**64,
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
from pathlib import Path

import polars as pl

from automapper_ml.atomic import atomic_path

SPLIT_BOUNDS = (("train", 0.85), ("val", 0.95), ("test", 1.0))
VERSION_COLUMNS = ("key", "song_id", "difficulty", "split", "weight", "n_frames", "onsets_sha")
INDEX_CODE_VERSION = "2"  # 2: store keys are exact zip names, matched with the zip sha256
QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "zip_name": pl.String,
    "zip_sha256": pl.String,
    "shard": pl.String,
    "characteristic": pl.String,
    "difficulty": pl.String,
    "stage": pl.String,  # audio_features | map_tokens: the store without the item
    "rule": pl.String,  # the shard's failure code, or no_record / stale_record
    "reason": pl.String,
}
FAILURE_SCHEMA: dict[str, pl.DataType] = {  # what the feature shards record (stores.read_quarantine)
    "stage": pl.String,
    "map_id": pl.String,
    "zip_sha": pl.String,
    "rule": pl.String,
    "reason": pl.String,
}


def split_of(song_id: str) -> str:
    u = int.from_bytes(hashlib.sha256(song_id.encode()).digest()[:8], "big") / 2**64
    for name, bound in SPLIT_BOUNDS:
        if u < bound:
            return name
    return "test"


def _items(trainable: pl.DataFrame, reference_song_ids: set[str] | frozenset[str]) -> pl.DataFrame:
    items = trainable.select(
        pl.col("zip_name").alias("map_key"),
        "zip_name",
        "zip_sha256",
        "shard",
        "song_id",
        "characteristic",
        "difficulty",
    ).with_columns(
        (pl.col("map_key") + "/" + pl.col("characteristic") + "/" + pl.col("difficulty")).alias("key")
    )
    return items.filter(~pl.col("song_id").is_in(sorted(reference_song_ids)))


def build_frame_index(
    trainable: pl.DataFrame,
    weights: pl.DataFrame,
    audio_rows: pl.DataFrame,
    token_rows: pl.DataFrame,
    reference_song_ids: set[str] | frozenset[str] = frozenset(),
    test_song_ids: set[str] | frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Join the trainable manifest rows with both stores.

    trainable: manifest rows (zip_name, zip_sha256, shard, song_id, characteristic, difficulty, ...)
        allowed to train.
    weights: sample_weights (zip_name, weight).
    audio_rows: (key = zip name, zip_sha, audio_snapshot, n_frames) for every map in the audio store.
    token_rows: (key = "<zip name>/<characteristic>/<difficulty>", zip_sha, token_snapshot,
        onsets_sha, difficulty_index, n_groups) for every difficulty in the token store.
    """
    items = _items(trainable, reference_song_ids)
    items = items.join(weights.select("zip_name", "weight"), on="zip_name", how="left").with_columns(
        pl.col("weight").fill_null(1.0)
    )
    sha = pl.col("zip_sha").alias("zip_sha256")
    audio = audio_rows.select(pl.col("key").alias("map_key"), sha, "audio_snapshot", "n_frames")
    tokens = token_rows.select("key", sha, "token_snapshot", "onsets_sha", "difficulty_index", "n_groups")
    items = items.join(audio, on=["map_key", "zip_sha256"], how="inner")
    items = items.join(tokens, on=["key", "zip_sha256"], how="inner")
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


def missing_features(
    trainable: pl.DataFrame,
    audio_rows: pl.DataFrame,
    token_rows: pl.DataFrame,
    failures: pl.DataFrame,
    reference_song_ids: set[str] | frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """QUARANTINE_SCHEMA rows: each trainable difficulty `build_frame_index` leaves out for want of
    a store record of its zip's bytes, once per store; the rule and reason are the shard's failure
    (`failures`, FAILURE_SCHEMA) when it recorded one, else no_record / stale_record."""
    items = _items(trainable, reference_song_ids)
    parts = []
    for stage, rows, on in (("audio_features", audio_rows, "map_key"), ("map_tokens", token_rows, "key")):
        held = rows.select(pl.col("key").alias(on), pl.col("zip_sha").alias("held_sha"))
        failed = failures.filter(pl.col("stage") == stage).select(
            pl.col("map_id").alias("map_key"), pl.col("zip_sha").alias("zip_sha256"), "rule", "reason"
        )
        lacking = (
            items.join(held, on=on, how="left")
            .filter(pl.col("held_sha").is_null() | (pl.col("held_sha") != pl.col("zip_sha256")))
            .join(failed, on=["map_key", "zip_sha256"], how="left")
        )
        where = pl.format("{} shard {}", pl.lit(stage), pl.col("shard"))
        parts.append(
            lacking.select(
                "zip_name",
                "zip_sha256",
                "shard",
                "characteristic",
                "difficulty",
                pl.lit(stage).alias("stage"),
                pl.when(pl.col("rule").is_not_null())
                .then(pl.col("rule"))
                .when(pl.col("held_sha").is_not_null())
                .then(pl.lit("stale_record"))
                .otherwise(pl.lit("no_record"))
                .alias("rule"),
                pl.when(pl.col("reason").is_not_null())
                .then(pl.format("{} failed on it: {}", where, pl.col("reason")))
                .when(pl.col("held_sha").is_not_null())
                .then(pl.format("{} holds another version of this zip; materialise it again", where))
                .otherwise(pl.format("{} holds no record of it; materialise it again", where))
                .alias("reason"),
            )
        )
    table = pl.concat(parts).cast(QUARANTINE_SCHEMA)  # type: ignore[arg-type]
    return table.sort("zip_name", "characteristic", "difficulty", "stage")


def index_version(index: pl.DataFrame) -> str:
    """The frame index's data version: a hash of its training meaning (see module docstring)."""
    canonical = index.select(VERSION_COLUMNS).sort("key").write_csv()
    return hashlib.sha256(f"{INDEX_CODE_VERSION}\n{canonical}".encode()).hexdigest()[:20]


def write_index(index: pl.DataFrame, path: str | os.PathLike) -> Path:
    """Write the index parquet atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, prefix=".tmp-", suffix=".parquet") as tmp:
        index.write_parquet(tmp)
    return path
