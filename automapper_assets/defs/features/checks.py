"""Asset checks of the features group: the frame index lost no trainable difficulty unexplained."""

import dagster as dg
import polars as pl

from automapper_assets.defs.features.assets import QUARANTINE_FILE, frame_index
from automapper_assets.defs.resources import AutomapperPaths


@dg.asset_check(asset=frame_index)
def every_trainable_difficulty_indexed(paths: AutomapperPaths) -> dg.AssetCheckResult:
    """Every trainable (non-blacklisted Standard) difficulty is in the frame index; those that are
    not are listed with the shard's reason in features/quarantine.parquet (a warning, not a stop:
    the index holds the rest)."""
    quarantine = pl.read_parquet(paths.folder("features") / QUARANTINE_FILE)
    maps = quarantine.group_by("zip_name", "stage", "rule").agg(pl.col("reason").first()).sort("zip_name")
    lines = [
        f"- {r['zip_name']} ({r['stage']}, {r['rule']}): {r['reason']}"
        for r in maps.head(20).iter_rows(named=True)
    ]
    return dg.AssetCheckResult(
        passed=quarantine.height == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "quarantined_maps": quarantine["zip_name"].n_unique(),
            "quarantined_rows": quarantine.height,
            "examples": dg.MetadataValue.md("\n".join(lines) or "none"),
        },
    )
