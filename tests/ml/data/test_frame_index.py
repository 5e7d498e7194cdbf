"""Song-level deterministic splits and a data version that ignores store paths."""

from __future__ import annotations

import polars as pl

from automapper_ml.data.frame_index import build_frame_index, index_version, split_of


def _inputs(n_songs: int = 200):
    trainable = pl.DataFrame(
        {
            "zip_name": [f"m{i}.zip" for i in range(n_songs) for _ in range(2)],
            "song_id": [f"song{i // 2}" for i in range(n_songs) for _ in range(2)],  # two maps per song
            "characteristic": ["Standard"] * (2 * n_songs),
            "difficulty": ["Expert", "ExpertPlus"] * n_songs,
        }
    )
    weights = pl.DataFrame({"zip_name": [f"m{i}.zip" for i in range(n_songs)], "weight": [1.0] * n_songs})
    audio = pl.DataFrame(
        {
            "key": [f"m{i}" for i in range(n_songs)],
            "audio_snapshot": ["a.parquet"] * n_songs,
            "n_frames": [1000] * n_songs,
        }
    )
    keys = [f"m{i}/Standard/{d}" for i in range(n_songs) for d in ("Expert", "ExpertPlus")]
    tokens = pl.DataFrame(
        {
            "key": keys,
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
        pl.when(pl.col("key") == "m0/Standard/Expert")
        .then(pl.lit("y"))
        .otherwise(pl.col("onsets_sha"))
        .alias("onsets_sha")
    )
    assert index_version(build_frame_index(trainable, weights, audio, onsets)) != base
    heavier = weights.with_columns(pl.lit(2.0).alias("weight"))
    assert index_version(build_frame_index(trainable, heavier, audio, tokens)) != base
