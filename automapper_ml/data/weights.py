"""Per-map sampling weights for training (configs/ingest.toml [weights]).

For every map (zip) with at least one trainable difficulty (`blacklist.trainable`):

    weight = ranked_factor        if ranked (ScoreSaber or BeatLeader), else 1
           x arc_chain_factor     if any trainable difficulty has an arc or a chain, else 1
           / maps_of_song         if normalise_per_song (kept maps sharing its song_id), else 1

`probability` is weight / sum(weight): the chance a map is drawn. Maps with nothing trainable
get no row (weight 0 by absence).
"""

from __future__ import annotations

import polars as pl

from automapper_ml.data.blacklist import trainable
from automapper_ml.data.ingest_config import WeightRules

WEIGHTS_CODE_VERSION = "1"

WEIGHTS_SCHEMA: dict[str, pl.DataType] = {
    "zip_name": pl.String,
    "map_id": pl.String,
    "song_id": pl.String,
    "ranked": pl.Boolean,
    "has_arcs_or_chains": pl.Boolean,
    "maps_of_song": pl.Int64,
    "weight": pl.Float64,
    "probability": pl.Float64,
}


def sample_weights(manifest: pl.DataFrame, blacklist: pl.DataFrame, rules: WeightRules) -> pl.DataFrame:
    """WEIGHTS_SCHEMA, one row per map with a trainable difficulty, sorted by zip_name."""
    kept = trainable(manifest, blacklist)
    maps = kept.group_by("zip_name").agg(
        pl.col("map_id").first(),
        pl.col("song_id").first(),
        pl.col("ranked").first().fill_null(False),
        ((pl.col("arcs") + pl.col("chains")) > 0).any().alias("has_arcs_or_chains"),
    )
    maps = maps.with_columns(pl.len().over("song_id").cast(pl.Int64).alias("maps_of_song"))
    weight = pl.when(pl.col("ranked")).then(rules.ranked_factor).otherwise(1.0) * pl.when(
        pl.col("has_arcs_or_chains")
    ).then(rules.arc_chain_factor).otherwise(1.0)
    if rules.normalise_per_song:
        weight = weight / pl.col("maps_of_song")
    maps = maps.with_columns(weight.cast(pl.Float64).alias("weight"))
    maps = maps.with_columns((pl.col("weight") / pl.col("weight").sum()).alias("probability"))
    return maps.select(list(WEIGHTS_SCHEMA)).cast(WEIGHTS_SCHEMA).sort("zip_name")  # type: ignore[arg-type]
