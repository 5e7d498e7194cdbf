"""Song-level deterministic splits and a data version that ignores store paths."""

from __future__ import annotations

import polars as pl

from automapper_ml.data.frame_index import (
    FAILURE_SCHEMA,
    build_frame_index,
    index_version,
    missing_features,
    split_of,
)


def _inputs(n_songs: int = 200):
    trainable = pl.DataFrame(
        {
            "zip_name": [f"m{i}.zip" for i in range(n_songs) for _ in range(2)],
            "zip_sha256": [f"sha{i}" for i in range(n_songs) for _ in range(2)],
            "shard": ["00"] * (2 * n_songs),
            "song_id": [f"song{i // 2}" for i in range(n_songs) for _ in range(2)],  # two maps per song
            "characteristic": ["Standard"] * (2 * n_songs),
            "difficulty": ["Expert", "ExpertPlus"] * n_songs,
        }
    )
    weights = pl.DataFrame({"zip_name": [f"m{i}.zip" for i in range(n_songs)], "weight": [1.0] * n_songs})
    audio = pl.DataFrame(
        {
            "key": [f"m{i}.zip" for i in range(n_songs)],
            "zip_sha": [f"sha{i}" for i in range(n_songs)],
            "audio_snapshot": ["a.parquet"] * n_songs,
            "n_frames": [1000] * n_songs,
        }
    )
    keys = [f"m{i}.zip/Standard/{d}" for i in range(n_songs) for d in ("Expert", "ExpertPlus")]
    tokens = pl.DataFrame(
        {
            "key": keys,
            "zip_sha": [f"sha{i}" for i in range(n_songs) for _ in range(2)],
            "token_snapshot": ["t1.parquet"] * len(keys),
            "onsets_sha": ["x"] * len(keys),
            "difficulty_index": [3, 4] * n_songs,
            "n_groups": [50] * len(keys),
        }
    )
    return trainable, weights, audio, tokens


def test_splits_are_by_song_and_near_85_10_5():
    index = build_frame_index(*_inputs())
    per_song = index.group_by("song_id").agg(pl.col("split").n_unique())
    assert (per_song["split"] == 1).all()
    shares = index["split"].value_counts(normalize=True)
    share = dict(zip(shares["split"], shares["proportion"]))
    assert 0.75 < share["train"] < 0.93 and 0.04 < share["val"] < 0.17 and share.get("test", 0) < 0.12
    assert split_of("song3") == split_of("song3")


def test_reference_songs_never_train():
    index = build_frame_index(*_inputs(), reference_song_ids={"song1", "song2"})
    assert not index.filter(pl.col("song_id").is_in(["song1", "song2"])).height


def test_version_ignores_store_paths_but_sees_onsets_and_weights():
    trainable, weights, audio, tokens = _inputs(20)
    base = index_version(build_frame_index(trainable, weights, audio, tokens))
    moved = tokens.with_columns(pl.lit("t2.parquet").alias("token_snapshot"))
    assert index_version(build_frame_index(trainable, weights, audio, moved)) == base
    onsets = tokens.with_columns(
        pl.when(pl.col("key") == "m0.zip/Standard/Expert")
        .then(pl.lit("y"))
        .otherwise(pl.col("onsets_sha"))
        .alias("onsets_sha")
    )
    assert index_version(build_frame_index(trainable, weights, audio, onsets)) != base
    heavier = weights.with_columns(pl.lit(2.0).alias("weight"))
    assert index_version(build_frame_index(trainable, heavier, audio, tokens)) != base


def test_every_trainable_difficulty_is_indexed_or_quarantined_with_a_reason():
    trainable, weights, audio, tokens = _inputs(6)
    audio = audio.filter(pl.col("key") != "m1.zip")  # its shard failed on it
    audio = audio.with_columns(  # m2.zip changed since its shard ran: the store holds the old bytes
        pl.when(pl.col("key") == "m2.zip").then(pl.lit("old")).otherwise(pl.col("zip_sha")).alias("zip_sha")
    )
    tokens = tokens.filter(pl.col("key") != "m3.zip/Standard/Expert")  # never processed
    failures = pl.DataFrame(
        [{"stage": "audio_features", "map_id": "m1.zip", "zip_sha": "sha1", "rule": "internal_error",
          "reason": "ZeroDivisionError: boom"}],
        schema=FAILURE_SCHEMA,
    )  # fmt: skip
    index = build_frame_index(trainable, weights, audio, tokens)
    quarantine = missing_features(trainable, audio, tokens, failures)
    assert index.height + quarantine.height == trainable.height
    assert set(index["zip_name"]) == {"m0.zip", "m3.zip", "m4.zip", "m5.zip"}
    by = {(r["zip_name"], r["difficulty"]): r for r in quarantine.iter_rows(named=True)}
    assert by[("m1.zip", "Expert")]["rule"] == "internal_error"
    assert "ZeroDivisionError: boom" in by[("m1.zip", "Expert")]["reason"]
    assert by[("m2.zip", "ExpertPlus")]["rule"] == "stale_record"
    assert (
        by[("m3.zip", "Expert")]["stage"] == "map_tokens" and by[("m3.zip", "Expert")]["rule"] == "no_record"
    )
    assert ("m3.zip", "ExpertPlus") not in by


def test_keys_are_exact_zip_names():
    """x.zip and x.ZIP are two maps: each difficulty pairs with its own zip's audio, never the other's."""
    trainable = pl.DataFrame(
        {
            "zip_name": ["x.zip", "x.ZIP"],
            "zip_sha256": ["lower", "upper"],
            "shard": ["00", "01"],
            "song_id": ["a", "b"],
            "characteristic": ["Standard"] * 2,
            "difficulty": ["Expert"] * 2,
        }
    )
    weights = pl.DataFrame({"zip_name": ["x.zip", "x.ZIP"], "weight": [1.0, 1.0]})
    audio = pl.DataFrame(
        {"key": ["x.zip", "x.ZIP"], "zip_sha": ["lower", "upper"], "audio_snapshot": ["a", "a"],
         "n_frames": [270, 300]}
    )  # fmt: skip
    tokens = pl.DataFrame(
        {"key": ["x.zip/Standard/Expert", "x.ZIP/Standard/Expert"], "zip_sha": ["lower", "upper"],
         "token_snapshot": ["t", "t"], "onsets_sha": ["o1", "o2"], "difficulty_index": [3, 3], "n_groups": [27, 30]}
    )  # fmt: skip
    index = build_frame_index(trainable, weights, audio, tokens)
    rows = {r["zip_name"]: (r["n_frames"], r["n_groups"]) for r in index.iter_rows(named=True)}
    assert rows == {"x.zip": (270, 27), "x.ZIP": (300, 30)}
