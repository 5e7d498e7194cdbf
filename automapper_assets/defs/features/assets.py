"""The features group: per-shard audio features and map tokens, and the frame index.

The sharded assets depend on `raw_map_zips` only (never on the manifest: an unpartitioned
parent would make every shard stale whenever it changed); the blacklist and the weights are
applied where the shards meet, in `frame_index`. What the audio shards skip without decoding
depends on the zip's bytes alone (ingest's parse result, from its cache, and the silent_audio
thresholds, which are in the code version). Each shard run returns its own DataVersion: the
content-addressed name of the snapshot it left, so an unchanged shard keeps its version.

Every map a shard could not give a record is quarantined (features/stores/<store>/quarantine/),
and every trainable difficulty the frame index lacks for that reason, or any other, is a row
of features/quarantine.parquet and counted in the index's metadata: the index never shrinks
silently.
"""

import dagster as dg
import polars as pl

from automapper_assets.defs.features.stores import KEYS_VERSION, audio_store, shard_entries, token_store
from automapper_assets.defs.ingest.assets import BLACKLIST_FILE, MANIFEST_FILE, WEIGHTS_FILE
from automapper_assets.defs.ingest.config import ingest_config, silence_code_version, split_code_version
from automapper_assets.defs.ingest.raw import SHARDS
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.atomic import write_parquet_atomic
from automapper_ml.audio import AUDIO_FEATURES_VERSION, HOP_LENGTH, SAMPLE_RATE
from automapper_ml.data.blacklist import trainable
from automapper_ml.data.features import Screen, audio_records, parse_screen, process_shard, token_records
from automapper_ml.data.frame_index import (
    INDEX_CODE_VERSION,
    build_frame_index,
    index_version,
    missing_features,
    write_index,
)
from automapper_ml.data.manifest import MANIFEST_CODE_VERSION
from automapper_ml.data.reference import reference_song_ids
from automapper_ml.data.store_heads import (
    head_snapshot,
    read_heads,
    read_quarantine,
    set_head,
    write_quarantine,
)
from automapper_ml.tokenizer import TOKENIZER_VERSION

FRAME_INDEX_FILE = "frame_index.parquet"
QUARANTINE_FILE = "quarantine.parquet"
SPLIT = ingest_config().split
SPLIT_HASH = split_code_version()
MAX_LISTED = 20  # quarantine rows shown in metadata (the parquet holds all)


def _shard_result(
    context: dg.AssetExecutionContext, paths: AutomapperPaths, store, make_records, screen: Screen | None
):
    shard = context.partition_key
    entries = shard_entries(paths, shard)
    result = process_shard(
        entries, store, f"shard-{shard}", make_records, previous=head_snapshot(store, shard), screen=screen
    )
    set_head(store, shard, result.snapshot)
    write_quarantine(store, shard, result.failures, result.skipped)
    for q in result.failures:
        context.log.warning(f"shard {shard}: {q.map_id} quarantined ({q.rule}: {q.reason})")
    listed = pl.DataFrame(
        [{"map": q.map_id, "kind": kind, "rule": q.rule, "reason": q.reason}
         for kind, qs in (("failed", result.failures), ("skipped", result.skipped)) for q in qs],
        schema={"map": pl.String, "kind": pl.String, "rule": pl.String, "reason": pl.String},
    )  # fmt: skip
    version = result.snapshot.stem if result.snapshot is not None else f"empty-{shard}"
    return dg.MaterializeResult(
        metadata={
            "maps_decoded": result.maps_processed,
            "maps_reused": result.maps_reused,
            "records": result.records,
            "failures": len(result.failures),
            "skipped": len(result.skipped),
            "quarantined": dg.MetadataValue.md(_md(listed.head(MAX_LISTED)) if listed.height else "none"),
            "snapshot": dg.MetadataValue.path(str(result.snapshot) if result.snapshot else "(empty)"),
        },
        data_version=dg.DataVersion(version),
    )


@dg.asset(
    partitions_def=SHARDS,
    deps=["raw_map_zips"],
    group_name="features",
    kinds={"numpy"},
    code_version=(
        f"audio-features-{AUDIO_FEATURES_VERSION}-sr{SAMPLE_RATE}-hop{HOP_LENGTH}-keys{KEYS_VERSION}"
        f"-screen{MANIFEST_CODE_VERSION}.{silence_code_version()}"
    ),
)
def audio_features(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Per map: log-mel, six structure features and the beat grid; only new or changed zips are
    decoded, never one ingest rejects or finds silent."""
    screen = parse_screen(paths.ingest_cache, ingest_config().blacklist)
    return _shard_result(context, paths, audio_store(paths), audio_records, screen)


@dg.asset(
    partitions_def=SHARDS,
    deps=["raw_map_zips"],
    group_name="features",
    kinds={"numpy"},
    code_version=f"map-tokens-{TOKENIZER_VERSION}-hop{HOP_LENGTH}-keys{KEYS_VERSION}",
)
def map_tokens(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Per Standard difficulty: onset frames, note token groups and half-beat lighting token groups."""
    return _shard_result(context, paths, token_store(paths), token_records, None)


@dg.asset(
    deps=["audio_features", "map_tokens", "outlier_blacklist", "sample_weights"],
    group_name="features",
    kinds={"polars", "parquet"},
    code_version=f"frame-index-{INDEX_CODE_VERSION}-split{SPLIT_HASH}",
)
def frame_index(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """Training index over non-blacklisted Standard difficulties with a song-level 85/10/5 split;
    trainable difficulties without features in features/quarantine.parquet."""
    root = paths.root()
    manifest = pl.read_parquet(paths.ingest / MANIFEST_FILE)
    blacklist = pl.read_parquet(paths.ingest / BLACKLIST_FILE)
    weights = pl.read_parquet(paths.ingest / WEIGHTS_FILE)
    excluded = reference_song_ids(root / "reference", manifest)
    held_out = set(manifest.filter(pl.col("zip_name").is_in(list(SPLIT.test_zips)))["song_id"].to_list())
    shards = SHARDS.get_partition_keys()
    rows = trainable(manifest, blacklist)
    audio = read_heads(
        audio_store(paths), root, "audio_snapshot", {"zip_sha": pl.String, "n_frames": pl.Int64}, shards
    )
    tokens = read_heads(
        token_store(paths),
        root,
        "token_snapshot",
        {"zip_sha": pl.String, "onsets_sha": pl.String, "difficulty_index": pl.Int64, "n_groups": pl.Int64},
        shards,
    )
    index = build_frame_index(rows, weights, audio, tokens, excluded, held_out)
    failures = pl.concat(
        [
            read_quarantine(audio_store(paths), shards, "audio_features"),
            read_quarantine(token_store(paths), shards, "map_tokens"),
        ]
    )
    quarantine = missing_features(rows, audio, tokens, failures, excluded)
    path = write_index(index, paths.folder("features") / FRAME_INDEX_FILE)
    write_parquet_atomic(quarantine, paths.folder("features") / QUARANTINE_FILE)
    counts = index.group_by("split").len().sort("split")
    context.log.info(f"frame index: {index.height} difficulties; {dict(counts.iter_rows())}")
    if quarantine.height:
        context.log.warning(
            f"frame index: {quarantine['zip_name'].n_unique()} trainable maps lack features "
            f"({quarantine.height} rows in {QUARANTINE_FILE}); first: {quarantine['reason'][0]}"
        )
    listed = quarantine.select("zip_name", "difficulty", "stage", "rule", "reason").head(MAX_LISTED)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "difficulties": index.height,
            "songs": index["song_id"].n_unique(),
            "splits": dg.MetadataValue.md(_md(counts)),
            "reference_songs_excluded": len(excluded),
            "songs_held_out_by_name": len(held_out),
            "quarantine_path": dg.MetadataValue.path(str(paths.folder("features") / QUARANTINE_FILE)),
            "quarantined_difficulties": quarantine.select("zip_name", "characteristic", "difficulty")
            .unique()
            .height,
            "quarantined_maps": quarantine["zip_name"].n_unique(),
            "quarantined": dg.MetadataValue.md(_md(listed) if listed.height else "none"),
        },
        data_version=dg.DataVersion(index_version(index)),
    )


def _md(df: pl.DataFrame) -> str:
    cols = df.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)
