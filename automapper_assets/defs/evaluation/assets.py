"""The evaluation group: generated maps for the reference songs, and the metrics of a model set.

Both assets follow training declaratively (`follows_training()`: re-run once a model they read
was re-materialised and its champion check passed) and use the models generation uses
(<home>/models/<stage>/champion.pt, else best.pt). Files only, no IO-manager pickles.
"""

import hashlib
import json
import math
import shutil
import time
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from automapper_assets.defs.automation.retrain import GPU_POOL
from automapper_assets.defs.automation.sensors import follows_training
from automapper_assets.defs.resources import AutomapperPaths, WandbResource
from automapper_assets.runs import holds_pool
from automapper_ml.formats.model import DIFFICULTY_RANKS
from automapper_ml.generation.snapshots import DEFAULT_DIFFICULTIES

GENERATION_CODE_VERSION = (
    "generation-2"  # bump when snapshot generation or its figures change (2: sampling, seam prompts)
)
EVALUATION_CODE_VERSION = "evaluation-1"  # bump when a metric's definition changes
MODEL_DEPS = ["onset_model", "sequence_model", "lighting_model"]
HISTORY_COLUMNS = ("created_at", "snapshot_run", "test_songs", "onset_f1", "token_accuracy",
                   "lighting_token_accuracy", "raw_parity_errors_per_100_swings",
                   "post_parity_errors_per_100_swings", "post_nps", "post_vs_human_nps")  # fmt: skip
PLOTTED = ("onset_f1", "token_accuracy", "raw_parity_errors_per_100_swings", "post_vs_human_nps",
           "raw_most_common_share", "post_notes_changed_share")  # fmt: skip


class SnapshotConfig(dg.Config):
    """One-off settings of a snapshot run (recorded in metadata, never in the code version)."""

    difficulties: list[str] = list(DEFAULT_DIFFICULTIES)  # Standard difficulties generated per song
    seed: int = 0  # sampling, lighting and added bombs/walls


class EvaluationConfig(dg.Config):
    split: str = "test"  # frame-index split the models are scored on


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dg.asset(
    deps=MODEL_DEPS,
    group_name="evaluation",
    kinds={"pytorch"},
    pool=GPU_POOL,
    code_version=GENERATION_CODE_VERSION,
    automation_condition=follows_training(),
)
@holds_pool(GPU_POOL)
def reference_snapshots(
    context: dg.AssetExecutionContext, config: SnapshotConfig, paths: AutomapperPaths
) -> dg.MaterializeResult:
    """Generated zips for every reference song, one folder per run (snapshots/<run-id>/), with history."""
    from automapper_assets.defs.training.common import file_version
    from automapper_ml.evaluation import reference_songs as S
    from automapper_ml.evaluation.report import detail_table, markdown_table, quality_row
    from automapper_ml.generation.snapshots import (
        generate_snapshot,
        generation_errors,
        load_generation_models,
    )

    root = paths.root()
    snapshots = paths.folder("snapshots")
    references = S.reference_songs(root / "reference")
    try:
        models = load_generation_models(root / "models")
    except (FileNotFoundError, ValueError) as err:  # MissingModelsError / ModelLoadError: one line each
        raise dg.Failure(description=str(err)) from err
    checkpoints = {stage: str(p) for stage, p in models.paths.items()}
    checkpoint_versions = {stage: file_version(p).value for stage, p in models.paths.items()}
    difficulties = tuple(config.difficulties)
    unknown = [d for d in difficulties if d not in DIFFICULTY_RANKS]
    if unknown or not difficulties:
        raise dg.Failure(
            description=f"difficulties must be some of {', '.join(DIFFICULTY_RANKS)}, got {unknown}"
        )
    staging = S.staging_folder(snapshots, context.run_id)
    created = _utc_now()
    rows, history, errors, changed = [], [], {}, []
    for song in references:
        context.log.info(f"generating {song.name} ({', '.join(difficulties)})")
        started = time.monotonic()
        try:
            level = generate_snapshot(
                song.audio, staging / f"{song.name}.zip", models, difficulties, config.seed
            )
        except generation_errors() as err:  # this song cannot be generated: record it, keep the others
            errors[song.name] = " ".join(str(err).split())[:300]
            context.log.warning(f"{song.name}: {errors[song.name]}")
        else:
            for name, stages in level.figures.items():
                rows += [quality_row(song.name, name, stage, figures) for stage, figures in stages.items()]
                share = level.notes_changed_share[name]
                changed.append({"song": song.name, "difficulty": name, "notes_changed_share": share})
        history.append({
            "run_id": context.run_id, "created_at": created, "song": song.name, "audio": _relative(song.audio, root),
            "human_map": _relative(song.human_map, root) if song.human_map else None,
            "zip": f"{song.name}.zip" if song.name not in errors else None, "error": errors.get(song.name),
            "difficulties": ",".join(difficulties), "seconds": round(time.monotonic() - started, 2),
            **{f"{stage}_checkpoint": v for stage, v in checkpoint_versions.items()},
        })  # fmt: skip
    if references and len(errors) == len(references):  # nothing generated: not a song's fault
        shutil.rmtree(staging, ignore_errors=True)
        first = next(iter(errors.items()))
        raise dg.Failure(description=f"no reference song could be generated; {first[0]}: {first[1]}")
    if not references:  # still one history row, so evaluation knows this run happened
        history.append({"run_id": context.run_id, "created_at": created, "song": None,
                        "error": f"no reference songs in {root / 'reference'}"})  # fmt: skip
    quality = detail_table(rows)
    if changed:
        quality = quality.join(pl.DataFrame(changed), on=["song", "difficulty"], how="left")
    manifest = {"run_id": context.run_id, "created_at": created, "difficulties": list(difficulties),
                "seed": config.seed, "checkpoints": checkpoints, "checkpoint_versions": checkpoint_versions,
                "songs": [h for h in history if h.get("song")], "errors": errors}  # fmt: skip
    folder = S.publish_run(staging, snapshots, context.run_id, manifest, quality)
    _append_rows(snapshots / S.SNAPSHOT_HISTORY, history)
    zips = sorted(folder.glob("*.zip"))
    summary = quality.select("song", "difficulty", "stage", "notes", "nps", "parity_errors", "left_share")
    return dg.MaterializeResult(
        metadata={
            "run_folder": dg.MetadataValue.path(str(folder)),
            "songs": len(references),
            "snapshots": len(zips),
            "errors": dg.MetadataValue.json(errors),
            "songs_with_human_map": sum(1 for s in references if s.human_map is not None),
            "difficulties": dg.MetadataValue.json(list(difficulties)),
            "checkpoints": dg.MetadataValue.json(checkpoints),
            "quality": dg.MetadataValue.md(markdown_table(summary)),
            "run_config": dg.MetadataValue.json(config.model_dump()),
        },
        data_version=dg.DataVersion(S.map_content_hash(zips) if zips else "no-snapshots"),
    )


def _relative(path, root) -> str:
    """`path` relative to the data root when inside it (the history stays valid if home moves)."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _append_rows(path, rows: list[dict]) -> None:
    """Append several rows in one atomic write (append_history takes one row)."""
    from automapper_ml.atomic import write_parquet_atomic
    from automapper_ml.evaluation.report import read_history

    old = read_history(path)
    new = pl.DataFrame(rows, infer_schema_length=None)
    write_parquet_atomic(new if old.is_empty() else pl.concat([old, new], how="diagonal_relaxed"), path)


@dg.asset(
    deps=[*MODEL_DEPS, "frame_index", "reference_snapshots"],
    group_name="evaluation",
    kinds={"pytorch", "wandb"},
    pool=GPU_POOL,
    code_version=EVALUATION_CODE_VERSION,
    automation_condition=follows_training(),
)
@holds_pool(GPU_POOL)
def evaluation_metrics(
    context: dg.AssetExecutionContext, config: EvaluationConfig, paths: AutomapperPaths, wandb: WandbResource
) -> dg.MaterializeResult:
    """Test-split onset F1/P/R and token accuracy; snapshot quality raw vs post-processed vs human; history."""
    from automapper_assets.defs.training.common import frame_index_state, png_markdown
    from automapper_ml.evaluation import reference_songs as S
    from automapper_ml.evaluation.report import (
        ReportError,
        append_history,
        detail_table,
        markdown_table,
        plot_history,
        plot_quality,
        quality_markdown,
        summarise_snapshots,
        write_parquet_atomic,
    )
    from automapper_ml.generation.models import find_checkpoints
    from automapper_ml.training.split_metrics import split_metrics

    root = paths.root()
    _, index, index_version = frame_index_state(root)
    try:
        checkpoints = find_checkpoints(root / "models")
        snapshot_run, folder, snapshot_rows = S.latest_snapshot_run(root / "snapshots")
    except (FileNotFoundError, ReportError) as err:
        raise dg.Failure(description=str(err)) from err
    test = split_metrics(index, root, checkpoints, config.split)
    generated = pl.read_parquet(folder / S.SNAPSHOT_QUALITY)
    changed = generated["notes_changed_share"] if "notes_changed_share" in generated.columns else None
    rows = generated.select(detail_table([]).columns).to_dicts()
    if not {"human_map", "zip"} <= set(snapshot_rows.columns):  # a run without reference songs
        snapshot_rows = snapshot_rows.head(0).with_columns(
            human_map=pl.lit(None, pl.String), zip=pl.lit(None, pl.String)
        )
    for song in snapshot_rows.filter(pl.col("human_map").is_not_null() & pl.col("zip").is_not_null()).iter_rows(named=True):  # fmt: skip
        made = sorted(set(generated.filter(pl.col("song") == song["song"])["difficulty"].to_list()))
        seconds = S.audio_seconds(root / song["audio"]) if song.get("audio") else None
        rows += S.human_rows(song["song"], root / song["human_map"], made, seconds)
    detail = detail_table(rows)
    summary = summarise_snapshots(detail)
    if changed is not None and len(changed.drop_nulls()):
        summary["post_notes_changed_share"] = float(changed.drop_nulls().mean())
    run_dir = paths.folder("metrics", "runs", context.run_id)
    write_parquet_atomic(detail, run_dir / "snapshot_quality.parquet")
    metrics = {**test, **summary}
    row = {"run_id": context.run_id, "created_at": _utc_now(), "snapshot_run": snapshot_run, "split": config.split,
           "frame_index_version": index_version,
           **{f"{k}_checkpoint": str(v) for k, v in checkpoints.items()}, **metrics}  # fmt: skip
    history = append_history(paths.folder("metrics") / "history.parquet", row)
    quality_png = plot_quality(detail, run_dir / "snapshot_quality.png")
    history_png = plot_history(history, paths.folder("metrics") / "history.png", PLOTTED)
    with wandb.logger(root, name=f"evaluation-{context.run_id[:8]}", group="evaluation") as run:
        run.log_config({"split": config.split, "snapshot_run": snapshot_run, "frame_index_version": index_version,
                        "checkpoints": {k: str(v) for k, v in checkpoints.items()}})  # fmt: skip
        run.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})
        run.log_image("snapshot_quality", quality_png)
        run.log_summary({k: v for k, v in metrics.items() if math.isfinite(v)})
    version = hashlib.sha256(json.dumps({k: round(v, 6) for k, v in metrics.items() if math.isfinite(v)},
                                        sort_keys=True).encode()).hexdigest()[:24]  # fmt: skip
    meta = {k: float(metrics[k]) for k in ("onset_f1", "onset_precision", "onset_recall", "token_accuracy",
            "eos_accuracy", "lighting_token_accuracy", "test_songs", "snapshot_songs",
            "snapshot_songs_with_human") if k in metrics}  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            **meta,
            "snapshot_run": snapshot_run,
            "raw_vs_post": dg.MetadataValue.md(_raw_vs_post_markdown(summary)),
            "snapshot_quality": dg.MetadataValue.md(quality_markdown(detail)),
            "history": dg.MetadataValue.md(markdown_table(history.tail(10), ["run_id", *HISTORY_COLUMNS])),
            "quality_plot": png_markdown(quality_png, "snapshot quality: raw, post-processed, human"),
            "history_plot": png_markdown(history_png, "metric history"),
            "history_path": dg.MetadataValue.path(str(paths.folder("metrics") / "history.parquet")),
            "run_config": dg.MetadataValue.json(config.model_dump()),
        },
        data_version=dg.DataVersion(version),
    )


def _raw_vs_post_markdown(summary: dict[str, float]) -> str:
    """Figure x (raw, post, human, raw vs human, post vs human) as one markdown table."""
    from automapper_ml.evaluation.report import QUALITY_FIGURES, markdown_table

    cols = ["raw", "post", "human", "raw_vs_human", "post_vs_human"]
    table = pl.DataFrame(
        [{"figure": f, **{c: summary.get(f"{c}_{f}") for c in cols}} for f in QUALITY_FIGURES],
        schema={"figure": pl.String, **dict.fromkeys(cols, pl.Float64)},
        orient="row",
    )
    return markdown_table(table.select(["figure", *[c for c in cols if table[c].null_count() < len(table)]]))
