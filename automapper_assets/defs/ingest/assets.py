"""The ingest group: manifest, blacklist, audit and sample weights. Bodies are thin: read files,
call automapper_ml.data, write files atomically, return MaterializeResult with a DataVersion."""

import base64

import dagster as dg
import polars as pl

from automapper_assets.defs.ingest.config import (
    audit_code_version,
    blacklist_code_version,
    bytes_version,
    ingest_config,
    manifest_code_version,
    weights_code_version,
)
from automapper_assets.defs.ingest.raw import raw_map_zips, scan
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.atomic import write_atomic, write_parquet_atomic
from automapper_ml.data.audit import markdown_table, run_audit
from automapper_ml.data.blacklist import build_blacklist
from automapper_ml.data.manifest import build_manifest
from automapper_ml.data.weights import sample_weights as compute_weights

MANIFEST_FILE = "manifest.parquet"
REJECTED_FILE = "rejected.parquet"
BLACKLIST_FILE = "blacklist.parquet"
WEIGHTS_FILE = "sample_weights.parquet"


def _md(df: pl.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(df))


@dg.asset(
    deps=[raw_map_zips],
    group_name="ingest",
    code_version=manifest_code_version(),
    kinds={"polars", "parquet"},
)
def map_manifest(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """One row per map x characteristic x difficulty (ingest/manifest.parquet); unparseable zips in rejected.parquet."""
    cfg = ingest_config()
    build = build_manifest(
        paths.raw, scan(paths), paths.ingest_cache, cfg.shard_count, cfg.workers, log=context.log.info
    )
    m_bytes = write_parquet_atomic(build.manifest, paths.ingest / MANIFEST_FILE)
    r_bytes = write_parquet_atomic(build.rejected, paths.ingest / REJECTED_FILE)
    m = build.manifest
    per_difficulty = (
        m.group_by("characteristic", "difficulty")
        .agg(pl.len().alias("rows"))
        .sort("characteristic", "difficulty")
    )
    categories = m.group_by("category").agg(pl.len().alias("rows")).sort("rows", descending=True)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.ingest / MANIFEST_FILE)),
            "rejected_path": dg.MetadataValue.path(str(paths.ingest / REJECTED_FILE)),
            "zips": build.zips,
            "maps": m["zip_name"].n_unique(),
            "difficulties": m.height,
            "songs": m["song_id"].n_unique(),
            "rejected_zips": build.rejected.height,
            "maps_parsed": build.parsed,
            "per_difficulty": _md(per_difficulty),
            "categories": _md(categories),
            "dagster/row_count": m.height,
        },
        data_version=dg.DataVersion(bytes_version(m_bytes, r_bytes)),
    )


@dg.asset(
    deps=[map_manifest],
    group_name="ingest",
    code_version=blacklist_code_version(),
    kinds={"polars", "parquet"},
)
def outlier_blacklist(paths: AutomapperPaths) -> dg.MaterializeResult:
    """Every excluded zip, map or difficulty with its rule and reason (ingest/blacklist.parquet)."""
    manifest = pl.read_parquet(paths.ingest / MANIFEST_FILE)
    rejected = pl.read_parquet(paths.ingest / REJECTED_FILE)
    blacklist = build_blacklist(manifest, rejected, ingest_config().blacklist)
    data = write_parquet_atomic(blacklist, paths.ingest / BLACKLIST_FILE)
    rules = (
        blacklist.group_by("scope", "rule")
        .agg(pl.len().alias("rows"))
        .sort("scope", "rows", descending=[False, True])
    )
    whole = blacklist.filter(pl.col("scope") != "difficulty")["zip_name"].n_unique()
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.ingest / BLACKLIST_FILE)),
            "rows": blacklist.height,
            "zips_excluded_whole": whole,
            "rules": _md(rules),
            "dagster/row_count": blacklist.height,
        },
        data_version=dg.DataVersion(bytes_version(data)),
    )


@dg.asset(
    deps=[map_manifest, outlier_blacklist],
    group_name="ingest",
    code_version=audit_code_version(),
    kinds={"duckdb", "polars"},
)
def dataset_audit(paths: AutomapperPaths) -> dg.MaterializeResult:
    """Audit of the manifest via duckdb SQL (ingest/audit/audit.md, distributions.png); definitions below.

    S = manifest rows with characteristic 'Standard'; objects = notes+bombs+walls+arcs+chains;
    a pair = distinct (song_id, difficulty).
    pairs_with_arcs_share = pairs in S with arcs > 0 in any row / pairs in S (chains alike);
    arc_object_share = sum(arcs) / sum(objects) over S (chains alike);
    ranked_maps = distinct zip_name with ranked = true over all rows;
    category mix over all rows; NPS and duration per difficulty over S with quantile_cont.
    """
    manifest = pl.read_parquet(paths.ingest / MANIFEST_FILE)
    blacklist = pl.read_parquet(paths.ingest / BLACKLIST_FILE)
    result = run_audit(manifest, blacklist)
    folder = paths.audit
    md_bytes = result.markdown.encode()
    write_atomic(folder / "audit.md", md_bytes)
    write_atomic(folder / "distributions.png", result.plot_png)
    for name, table in result.tables.items():
        write_parquet_atomic(table, folder / f"{name}.parquet")
    png = base64.b64encode(result.plot_png).decode()
    metadata: dict[str, object] = {
        "path": dg.MetadataValue.path(str(folder / "audit.md")),
        "plot_path": dg.MetadataValue.path(str(folder / "distributions.png")),
        "audit": dg.MetadataValue.md(result.markdown),
        "plot": dg.MetadataValue.md(f"![NPS and duration per difficulty](data:image/png;base64,{png})"),
    }
    metadata.update({k: (float(v) if v is not None else float("nan")) for k, v in result.figures.items()})
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(bytes_version(md_bytes)))


@dg.asset(
    deps=[map_manifest, outlier_blacklist],
    group_name="ingest",
    code_version=weights_code_version(),
    kinds={"polars", "parquet"},
)
def sample_weights(paths: AutomapperPaths) -> dg.MaterializeResult:
    """Per-map sampling weight (ingest/sample_weights.parquet): ranked and arc/chain maps weighted up."""
    manifest = pl.read_parquet(paths.ingest / MANIFEST_FILE)
    blacklist = pl.read_parquet(paths.ingest / BLACKLIST_FILE)
    rules = ingest_config().weights
    weights = compute_weights(manifest, blacklist, rules)
    data = write_parquet_atomic(weights, paths.ingest / WEIGHTS_FILE)
    ranked = weights.filter(pl.col("ranked"))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(paths.ingest / WEIGHTS_FILE)),
            "maps": weights.height,
            "ranked_maps": ranked.height,
            "ranked_probability_mass": float(ranked["probability"].sum()) if ranked.height else 0.0,
            "ranked_factor": rules.ranked_factor,
            "arc_chain_factor": rules.arc_chain_factor,
            "dagster/row_count": weights.height,
        },
        data_version=dg.DataVersion(bytes_version(data)),
    )
