"""`raw_map_zips`: the zips in <home>/raw as an observable source, one data version per hash shard."""

import dagster as dg

from automapper_assets.defs.ingest.config import ingest_config
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.data.rawzips import ZipEntry, scan_raw, shard_fingerprints, shard_keys

# Fixed hash shards by zip file name ("00".."15" by default); sharded feature assets reuse this.
SHARDS = dg.StaticPartitionsDefinition(shard_keys(ingest_config().shard_count))


def scan(paths: AutomapperPaths) -> list[ZipEntry]:
    """Every zip in raw/ with its sha256 (cached by name, size and mtime under ingest/cache)."""
    return scan_raw(paths.raw, paths.ingest_cache / "sha256.json")


def fingerprints(paths: AutomapperPaths) -> dict[str, str]:
    """Shard key -> fingerprint of the shard's (name, size, sha256, sidecar sha256)."""
    return shard_fingerprints(scan(paths), ingest_config().shard_count)


@dg.observable_source_asset(
    partitions_def=SHARDS,
    group_name="ingest",
    description="Map zips in <home>/raw; data version per shard = hash of its zips' (name, size, sha256).",
)
def raw_map_zips(paths: AutomapperPaths) -> dg.DataVersionsByPartition:
    """Fingerprint every shard of raw/ (unchanged files are not re-hashed)."""
    return dg.DataVersionsByPartition({k: dg.DataVersion(v) for k, v in fingerprints(paths).items()})
