"""Asset checks of the ingest group: the manifest is sound, the blacklist explains itself, nothing is lost."""

import dagster as dg
import polars as pl

from automapper_assets.defs.ingest.assets import (
    BLACKLIST_FILE,
    MANIFEST_FILE,
    map_manifest,
    outlier_blacklist,
)
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.data.manifest import check_manifest_schema
from automapper_ml.data.rawzips import list_zip_keys


@dg.asset_check(asset=map_manifest, blocking=True)
def manifest_schema_and_keys(paths: AutomapperPaths) -> dg.AssetCheckResult:
    """Every manifest column present with its type; (zip_name, characteristic, difficulty) unique and non-null."""
    problems = check_manifest_schema(pl.read_parquet(paths.ingest / MANIFEST_FILE))
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )


@dg.asset_check(asset=outlier_blacklist)
def blacklist_rows_have_reasons(paths: AutomapperPaths) -> dg.AssetCheckResult:
    """Every blacklist row names a rule and a non-empty reason."""
    bl = pl.read_parquet(paths.ingest / BLACKLIST_FILE)
    bad = bl.filter(
        pl.col("rule").is_null()
        | (pl.col("rule").str.strip_chars() == "")
        | pl.col("reason").is_null()
        | (pl.col("reason").str.strip_chars() == "")
    )
    return dg.AssetCheckResult(passed=bad.height == 0, metadata={"rows_without_reason": bad.height})


@dg.asset_check(asset=outlier_blacklist)
def every_zip_accounted_for(paths: AutomapperPaths) -> dg.AssetCheckResult:
    """Every zip now in raw/ is in the manifest or the blacklist (by its key, the exact file name
    made UTF-8): nothing silently lost."""
    raw = set(list_zip_keys(paths.raw))
    manifest = set(pl.read_parquet(paths.ingest / MANIFEST_FILE, columns=["zip_name"])["zip_name"].to_list())
    blacklist = set(
        pl.read_parquet(paths.ingest / BLACKLIST_FILE, columns=["zip_name"])["zip_name"].to_list()
    )
    lost = sorted(raw - manifest - blacklist)
    return dg.AssetCheckResult(
        passed=not lost,
        metadata={"zips": len(raw), "lost": len(lost), "lost_examples": ", ".join(lost[:20]) or "none"},
    )
