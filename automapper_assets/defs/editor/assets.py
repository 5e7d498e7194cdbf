"""The editor group (issue 17, the learned song editor's data half): `edit_pairs`, the pairs in
<home>/edits/<name>/{raw,edit}.<ext> as an observable source; `edit_alignment`, every pair's pointer
sequence and edit operations (automapper_ml.editing.align), one row a pair in
editor/alignment.parquet, a plot a pair in editor/plots/, and every pair that cannot be read or does
not align in editor/blacklist.parquet with its reason. Synthetic pairs (the demo's, with truth.json)
also get the aligner's pointer accuracy and cut F1 against the truth. The main job writes the demo
songs' pairs (automapper_ml.synth.edits) when it generates the demo corpus."""

import dagster as dg
import polars as pl

from automapper_assets.defs.ingest.config import bytes_version
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.atomic import write_atomic, write_parquet_atomic
from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.editing import align
from automapper_ml.editing.pairs import align_pair, plot_alignment, scan_pairs

EDITS = "edits"  # <home>/edits: the pair folders
EDITOR_DIR = "editor"  # <home>/editor: what the group writes
ALIGNMENT_VERSION = f"1-j{align.JUMP_COST:g}-d{align.MAX_DISTANCE_DB:g}"


@dg.observable_source_asset(
    group_name="editor",
    description="Edit pairs in <home>/edits/<name>/{raw,edit}.<ext>; data version = hash of their files.",
)
def edit_pairs(paths: AutomapperPaths) -> dg.DataVersion:
    pairs, problems = scan_pairs(paths.root() / EDITS)
    return dg.DataVersion(canonical_hash([[p.fingerprint() for p in pairs], sorted(problems.items())]))


@dg.asset(
    deps=[edit_pairs],
    group_name="editor",
    code_version=f"edit-alignment-{ALIGNMENT_VERSION}",
    kinds={"polars"},
)
def edit_alignment(context: dg.AssetExecutionContext, paths: AutomapperPaths) -> dg.MaterializeResult:
    """editor/alignment.parquet (pointers, gains, ops, cuts per pair), editor/plots/<pair>.png and
    editor/blacklist.parquet (pair, reason)."""
    pairs, problems = scan_pairs(paths.root() / EDITS)
    if not pairs and not problems:
        raise dg.Failure(f"no edit pairs in {paths.root() / EDITS}: put <name>/raw.ogg + edit.ogg there")
    rows, rejected = [], [{"pair": k, "reason": v} for k, v in problems.items()]
    plots = paths.folder(EDITOR_DIR, "plots")
    for pair in pairs:
        row, reason = align_pair(pair)
        if row is None:
            rejected.append({"pair": pair.name, "reason": reason})
            context.log.warning(f"{pair.name}: {reason}")
            continue
        write_atomic(plots / f"{pair.name}.png", plot_alignment(row))
        rows.append(row)
    if not rows:
        raise dg.Failure(
            f"no edit pair aligned ({len(rejected)} rejected): see the blacklist reasons in the log"
        )
    table = pl.DataFrame(rows, infer_schema_length=None)
    out = paths.folder(EDITOR_DIR)
    data = write_parquet_atomic(table, out / "alignment.parquet")
    black = write_parquet_atomic(pl.DataFrame(rejected, schema={"pair": pl.String, "reason": pl.String}),
                                 out / "blacklist.parquet")  # fmt: skip
    truth = table.filter(pl.col("exact").is_not_null())
    scores = (
        {k: round(float(truth[k].mean()), 4) for k in ("exact", "within_5", "cut_f1")} if truth.height else {}
    )
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(out / "alignment.parquet")),
            "pairs": table.height,
            "blacklisted": len(rejected),
            "cuts": int(table["cuts"].list.len().sum()),
            "mean_distance_db": round(float(table["distance_db"].mean()), 3),
            "vs_truth": dg.MetadataValue.json(scores),
            "dagster/row_count": table.height,
        },
        data_version=dg.DataVersion(bytes_version(data, black)),
    )
