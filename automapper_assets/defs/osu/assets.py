"""The osu group (the second game, osu!standard): `osu_raw`, the .osz sets in <home>/osu_raw as an
observable source; `osu_manifest`, one row per osu!standard difficulty with unusable sets and
difficulties in rejected.parquet; `osu_blacklist`, every excluded set or difficulty with its rule
and reason. Bodies are thin: automapper_ml.data.osu_manifest / osu_blacklist do the work, files are
written atomically under <home>/osu/. The main job writes the demo corpus's osu! sets
(automapper_ml.synth.osu) into osu_raw when it generates the demo corpus."""

from pathlib import Path

import dagster as dg
import polars as pl

from automapper_assets.defs.ingest.config import bytes_version
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.atomic import write_parquet_atomic
from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.data.osu_blacklist import (
    build_osu_blacklist,
    load_osu_blacklist_rules,
    osu_trainable,
    rules_hash,
)
from automapper_ml.data.osu_manifest import build_osu_manifest, scan_osz

OSU_RAW = "osu_raw"  # <home>/osu_raw: the .osz input folder
OSU_DIR = "osu"  # <home>/osu: what the group writes
RULES_FILE = Path(__file__).resolve().parents[3] / "configs" / "osu_ingest.toml"
MANIFEST_VERSION = "1"  # bump when osu_manifest's columns or their meaning change


def raw_dir(paths: AutomapperPaths) -> Path:
    return paths.root() / OSU_RAW


def _scan(paths: AutomapperPaths):
    return scan_osz(raw_dir(paths), paths.folder(OSU_DIR, "cache") / "osz_sha256.json")


@dg.observable_source_asset(
    group_name="osu",
    description="osu! beatmapsets (.osz) in <home>/osu_raw; data version = hash of their (name, size, sha256).",
)
def osu_raw(paths: AutomapperPaths) -> dg.DataVersion:
    """Fingerprint the .osz files (unchanged files are not re-hashed)."""
    return dg.DataVersion(canonical_hash([[e.name, e.size, e.sha256, e.problem] for e in _scan(paths)]))


@dg.asset(deps=[osu_raw], group_name="osu", code_version=f"osu-manifest-{MANIFEST_VERSION}", kinds={"polars"})
def osu_manifest(paths: AutomapperPaths) -> dg.MaterializeResult:
    """One row per osu!standard difficulty (osu/manifest.parquet); unusable sets and difficulties,
    other modes included, with a code and a reason in osu/rejected.parquet."""
    entries = _scan(paths)
    if not entries:
        raise dg.Failure(f"no .osz sets in {raw_dir(paths)}: put osu! beatmapsets there (or run the demo)")
    manifest, rejected = build_osu_manifest(raw_dir(paths), entries)
    out = paths.folder(OSU_DIR)
    m_bytes = write_parquet_atomic(manifest, out / "manifest.parquet")
    r_bytes = write_parquet_atomic(rejected, out / "rejected.parquet")
    codes = rejected.group_by("code").agg(pl.len().alias("rows")).sort("rows", descending=True)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "manifest.parquet")),
            "sets": len(entries),
            "difficulties": manifest.height,
            "rejected": rejected.height,
            "rejected_by_code": dg.MetadataValue.json(dict(codes.iter_rows())),
            "dagster/row_count": manifest.height,
        },
        data_version=dg.DataVersion(bytes_version(m_bytes, r_bytes)),
    )


@dg.asset(
    deps=[osu_manifest],
    group_name="osu",
    code_version=f"osu-blacklist-{rules_hash(load_osu_blacklist_rules(RULES_FILE))}",
    kinds={"polars"},
)
def osu_blacklist(paths: AutomapperPaths) -> dg.MaterializeResult:
    """Every excluded set or difficulty with its rule and reason (osu/blacklist.parquet): the rejected
    rows, then configs/osu_ingest.toml's rules over the manifest."""
    out = paths.folder(OSU_DIR)
    manifest = pl.read_parquet(out / "manifest.parquet")
    blacklist = build_osu_blacklist(
        manifest, pl.read_parquet(out / "rejected.parquet"), load_osu_blacklist_rules(RULES_FILE)
    )
    data = write_parquet_atomic(blacklist, out / "blacklist.parquet")
    trainable = osu_trainable(manifest, blacklist)
    if trainable.is_empty():
        raise dg.Failure(
            f"no osu!standard difficulty passes the blacklist ({blacklist.height} rows): see {out}"
        )
    rules = blacklist.group_by("rule").agg(pl.len().alias("rows")).sort("rows", descending=True)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "blacklist.parquet")),
            "trainable_difficulties": trainable.height,
            "rows": blacklist.height,
            "rows_by_rule": dg.MetadataValue.json(dict(rules.iter_rows())),
        },
        data_version=dg.DataVersion(bytes_version(data)),
    )
