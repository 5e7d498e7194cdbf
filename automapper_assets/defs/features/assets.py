"""The features group: per-shard audio features and map tokens, and the frame index.

The sharded assets depend on `raw_map_zips` only (never on the manifest: an unpartitioned
parent would make every shard stale whenever it changed); the blacklist and the weights are
applied where the shards meet, in `frame_index`. Each shard run returns its own DataVersion:
the content-addressed name of the snapshot it left, so an unchanged shard keeps its version.
"""

import dagster as dg
import polars as pl

from automapper_assets.defs.features.stores import (
    audio_store,
    head_snapshot,
    read_heads,
    set_head,
    shard_entries,
    token_store,
)
from automapper_assets.defs.ingest.assets import BLACKLIST_FILE, MANIFEST_FILE, WEIGHTS_FILE
from automapper_assets.defs.ingest.config import ingest_config, split_code_version
from automapper_assets.defs.ingest.raw import SHARDS
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.audio import AUDIO_FEATURES_VERSION, HOP_LENGTH, SAMPLE_RATE
from automapper_ml.data.blacklist import trainable
from automapper_ml.data.features import audio_records, process_shard, token_records
from automapper_ml.data.frame_index import INDEX_CODE_VERSION, build_frame_index, index_version, write_index
from automapper_ml.data.reference import reference_song_ids
from automapper_ml.tokenizer import TOKENIZER_VERSION

FRAME_INDEX_FILE = "frame_index.parquet"
SPLIT = ingest_config().split
SPLIT_HASH = split_code_version()


def _shard_result(context: dg.AssetExecutionContext, paths: AutomapperPaths, store, make_records):
    shard = context.partition_key
    entries = shard_entries(paths, shard)
    result = process_shard(
        entries, store, f"shard-{shard}", make_records, previous=head_snapshot(store, shard)
    )
    set_head(store, shard, result.snapshot)
    for map_id, reason in result.failures:
        context.log.warning(f"shard {shard}: {map_id} skipped ({reason})")
    version = result.snapshot.stem if result.snapshot is not None else f"empty-{shard}"
    return dg.MaterializeResult(
        metadata={
            "maps_decoded": result.maps_processed,
            "maps_reused": result.maps_reused,
            "records": result.records,
            "failures": len(result.failures),
            "snapshot": dg.MetadataValue.path(str(result.snapshot) if result.snapshot else "(empty)"),
        },
        data_version=dg.DataVersion(version),
    )


@dg.asset(
    partitions_def=SHARDS,
    deps=["raw_map_zips"],
    group_name="features",
    kinds={"numpy"},
    code_version=f"audio-features-{AUDIO_FEATURES_VERSION}-sr{SAMPLE_RATE}-hop{HOP_LENGTH}",
)
def audio_features(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Per map: log-mel, six structure features and the beat grid; only new or changed zips are decoded."""
    return _shard_result(context, paths, audio_store(paths), audio_records)


@dg.asset(
    partitions_def=SHARDS,
    deps=["raw_map_zips"],
    group_name="features",
    kinds={"numpy"},
    code_version=f"map-tokens-{TOKENIZER_VERSION}-hop{HOP_LENGTH}",
)
def map_tokens(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Per Standard difficulty: onset frames, note token groups and half-beat lighting token groups."""
    return _shard_result(context, paths, token_store(paths), token_records)


@dg.asset(
    deps=["audio_features", "map_tokens", "outlier_blacklist", "sample_weights"],
    group_name="features",
    kinds={"polars", "parquet"},
    code_version=f"frame-index-{INDEX_CODE_VERSION}-split{SPLIT_HASH}",
)
def frame_index(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Training index over non-blacklisted Standard difficulties with a song-level 85/10/5 split."""
    root = paths.root()
    manifest = pl.read_parquet(paths.ingest / MANIFEST_FILE)
    blacklist = pl.read_parquet(paths.ingest / BLACKLIST_FILE)
    weights = pl.read_parquet(paths.ingest / WEIGHTS_FILE)
    excluded = reference_song_ids(root / "reference", manifest)
    held_out = set(manifest.filter(pl.col("zip_name").is_in(list(SPLIT.test_zips)))["song_id"].to_list())
    index = build_frame_index(
        trainable(manifest, blacklist),
        weights,
        read_heads(audio_store(paths), root, "audio_snapshot", ["n_frames"]),
        read_heads(
            token_store(paths), root, "token_snapshot", ["onsets_sha", "difficulty_index", "n_groups"]
        ),
        excluded,
        held_out,
    )
    path = write_index(index, paths.folder("features") / FRAME_INDEX_FILE)
    counts = index.group_by("split").len().sort("split")
    context.log.info(f"frame index: {index.height} difficulties; {dict(counts.iter_rows())}")
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "difficulties": index.height,
            "songs": index["song_id"].n_unique(),
            "splits": dg.MetadataValue.md(_md(counts)),
            "reference_songs_excluded": len(excluded),
            "songs_held_out_by_name": len(held_out),
        },
        data_version=dg.DataVersion(index_version(index)),
    )


def _md(df: pl.DataFrame) -> str:
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
