"""Evaluation reports: map-quality figures of snapshots, their aggregation, and the metric history.

Pure functions over polars tables (no Dagster, no model code) so the `evaluation_metrics` asset
stays thin and every number here is tested on hand-built maps.

Tables:

- detail: one row per (song, difficulty, stage) with stage in STAGES: "raw" (decoder output),
  "post" (after post-processing), "human" (the reference song's human map, when one exists);
  the columns are `QUALITY_FIGURES` (figures from `quality.quality_report`, plus object counts and
  the direction entropy), so the three stages of one song are compared column by column.
- summary: one flat dict per run: `<stage>_<figure>` is the mean over the stage's (song,
  difficulty) rows, and `<stage>_vs_human_<figure>` the mean absolute difference to the human
  map over the rows that have one; those keys are absent when no reference song has a human map.
- history: the summary plus the test-split metrics, one row per evaluation run, appended to
  <home>/metrics/history.parquet (whole file rewritten atomically; columns may grow between runs,
  old rows read null there).

Means over (song, difficulty) rows, not pooled notes, because snapshots are few and each
reference song should count the same however dense its map is.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from automapper_ml.atomic import write_atomic, write_parquet_atomic
from automapper_ml.evaluation.quality import DIRECTION_BINS, QualityReport, quality_report
from automapper_ml.formats.model import Difficulty, Timing

STAGES = ("raw", "post", "human")
GENERATED_STAGES = ("raw", "post")
KEY_COLUMNS = ("song", "difficulty", "stage")
QUALITY_FIGURES = (
    "notes",
    "nps",
    "left_share",  # colour balance
    "cells_used",  # of 12
    "direction_entropy",  # bits, 0 .. log2(9)
    "parity_errors",
    "parity_errors_per_100_swings",
    "off_beat_share",
    "bombs",
    "walls",
    "arcs",
    "chains",
    "most_common_share",
    "distinct_patterns",
    "up_down_share",
)
# Figures shown in markdown and plots (the full set goes to parquet and wandb).
HEADLINE_FIGURES = (
    "nps",
    "left_share",
    "cells_used",
    "direction_entropy",
    "parity_errors_per_100_swings",
    "off_beat_share",
    "most_common_share",
)


class ReportError(ValueError):
    """A table or history file that cannot be used (one-line reason)."""


def direction_entropy(histogram: np.ndarray) -> float:
    """Shannon entropy in bits of a (9,) cut-direction share histogram (0 for an empty map).

    One direction only: 0; all nine equally: log2(9) = 3.17. Human maps sit near 2.5-3 (mostly up
    and down, some diagonals and dots); a collapsed model sits near 0."""
    p = np.asarray(histogram, dtype=np.float64).ravel()
    if p.shape != (DIRECTION_BINS,):
        raise ReportError(f"direction histogram must have {DIRECTION_BINS} bins, got shape {p.shape}")
    total = p.sum()
    if total <= 0:
        return 0.0
    p = p[p > 0] / total
    return float(-(p * np.log2(p)).sum())


def figures_from_quality(report: QualityReport, counts: Mapping[str, int]) -> dict[str, float]:
    """QUALITY_FIGURES from a QualityReport plus object counts (`bombs`, `walls`, `arcs`, `chains`;
    missing kinds count 0), for callers that kept the report but not the objects (generation's raw
    decoder output: `DifficultyResult.raw_quality` + `PostProcessReport.counts_in`)."""
    return {
        "notes": float(report.notes),
        "nps": report.nps,
        "left_share": report.left_share,
        "cells_used": float(report.cells_used),
        "direction_entropy": direction_entropy(report.direction_histogram),
        "parity_errors": float(report.parity_errors),
        "parity_errors_per_100_swings": report.parity_errors_per_100_swings,
        "off_beat_share": report.off_beat_share,
        "bombs": float(counts.get("bombs", 0)),
        "walls": float(counts.get("walls", 0)),
        "arcs": float(counts.get("arcs", 0)),
        "chains": float(counts.get("chains", 0)),
        "most_common_share": report.most_common_share,
        "distinct_patterns": float(report.distinct_patterns),
        "up_down_share": report.up_down_share,
    }


def difficulty_quality(
    difficulty: Difficulty, timing: Timing | None = None, duration_seconds: float | None = None
) -> dict[str, float]:
    """QUALITY_FIGURES of one difficulty's objects (timing: beats -> seconds; duration: NPS)."""
    d = difficulty
    report = quality_report(d.notes, timing, d.bombs, duration_seconds=duration_seconds)
    counts = {"bombs": len(d.bombs), "walls": len(d.obstacles), "arcs": len(d.arcs), "chains": len(d.chains)}
    return figures_from_quality(report, counts)


def quality_row(song: str, difficulty: str, stage: str, figures: Mapping[str, float]) -> dict:
    """One detail-table row; figures missing from `figures` read NaN."""
    if stage not in STAGES:
        raise ReportError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")
    row: dict = {"song": song, "difficulty": difficulty, "stage": stage}
    row.update({k: float(figures.get(k, math.nan)) for k in QUALITY_FIGURES})
    return row


def detail_table(rows: Iterable[Mapping]) -> pl.DataFrame:
    """The detail table from `quality_row` dicts, in a fixed column order and schema (empty is fine)."""
    schema = {"song": pl.String, "difficulty": pl.String, "stage": pl.String}
    schema.update(dict.fromkeys(QUALITY_FIGURES, pl.Float64))
    return pl.DataFrame(list(rows), schema=schema, orient="row").sort(KEY_COLUMNS)


def vs_human(detail: pl.DataFrame) -> pl.DataFrame:
    """Per (song, difficulty, generated stage) with a human row: |generated - human| per figure.

    Songs without a human map have no row here (never a zero that reads as a perfect match)."""
    human = detail.filter(pl.col("stage") == "human").drop("stage")
    made = detail.filter(pl.col("stage").is_in(GENERATED_STAGES))
    joined = made.join(human, on=["song", "difficulty"], how="inner", suffix="_human")
    return joined.select(
        "song",
        "difficulty",
        "stage",
        *[(pl.col(k) - pl.col(f"{k}_human")).abs().alias(k) for k in QUALITY_FIGURES],
    ).sort(KEY_COLUMNS)


def summarise_snapshots(detail: pl.DataFrame) -> dict[str, float]:
    """Flat run figures (module docstring): `<stage>_<figure>`, `<stage>_vs_human_<figure>` and counts."""
    out: dict[str, float] = {
        "snapshot_songs": float(detail["song"].n_unique()) if len(detail) else 0.0,
        "snapshot_songs_with_human": float(
            detail.filter(pl.col("stage") == "human")["song"].n_unique() if len(detail) else 0
        ),
    }
    for stage in STAGES:
        part = detail.filter(pl.col("stage") == stage)
        if part.is_empty():
            continue
        out.update({f"{stage}_{k}": _mean(part[k]) for k in QUALITY_FIGURES})
    diffs = vs_human(detail)
    for stage in GENERATED_STAGES:
        part = diffs.filter(pl.col("stage") == stage)
        if part.is_empty():
            continue
        out.update({f"{stage}_vs_human_{k}": _mean(part[k]) for k in QUALITY_FIGURES})
    return out


def _mean(col: pl.Series) -> float:
    values = col.drop_nulls().drop_nans()
    return float(values.mean()) if len(values) else math.nan


# ------------------------------------------------------------------------------------- history


def read_history(path: Path) -> pl.DataFrame:
    """The history table, empty when the file does not exist yet. ReportError if it is unreadable."""
    if not path.exists():
        return pl.DataFrame()
    try:
        return pl.read_parquet(path)
    except Exception as err:  # truncated or foreign file: say which, do not guess
        raise ReportError(
            f"{path} is not a readable history table ({str(err).splitlines()[0][:160]})"
        ) from err


def append_history(path: Path, row: Mapping[str, object]) -> pl.DataFrame:
    """Append one run's row (scalars) to the history at `path` atomically; returns the new table.

    New columns are added (null in older rows); a column that changed type reads as its supertype."""
    new = pl.DataFrame([dict(row)])
    old = read_history(path)
    table = new if old.is_empty() else pl.concat([old, new], how="diagonal_relaxed")
    write_parquet_atomic(table, path)
    return table


# ------------------------------------------------------------------------------ presentation


def markdown_table(df: pl.DataFrame, columns: Sequence[str] | None = None, digits: int = 3) -> str:
    """A GitHub markdown table of `df` (floats rounded; missing columns skipped; null -> "")."""
    cols = [c for c in (columns or df.columns) if c in df.columns]
    if not cols:
        return "*no data*"

    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.select(cols).iter_rows()]
    return "\n".join(lines)


def quality_markdown(detail: pl.DataFrame, figures: Sequence[str] = HEADLINE_FIGURES) -> str:
    """Detail table (raw / post / human side by side per song and difficulty) as markdown."""
    return markdown_table(detail, [*KEY_COLUMNS, *figures])


def _save_figure(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    write_atomic(path, buf.getvalue())
    return path


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_quality(detail: pl.DataFrame, path: Path, figures: Sequence[str] = HEADLINE_FIGURES) -> Path:
    """PNG: one panel per figure, bars of the per-stage mean (raw, post, human)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(figures), figsize=(2.2 * len(figures), 2.8), squeeze=False)
    colours = {"raw": "tab:orange", "post": "tab:blue", "human": "tab:gray"}
    for ax, name in zip(axes[0], figures, strict=True):
        stages = [s for s in STAGES if not detail.filter(pl.col("stage") == s).is_empty()]
        values = [_mean(detail.filter(pl.col("stage") == s)[name]) for s in stages]
        ax.bar(stages, [0.0 if math.isnan(v) else v for v in values], color=[colours[s] for s in stages])
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=7)
    return _save_figure(fig, path)


def plot_history(history: pl.DataFrame, path: Path, columns: Sequence[str]) -> Path:
    """PNG: one panel per history column present, value per run in order (x = run number)."""
    plt = _pyplot()
    cols = [c for c in columns if c in history.columns] or ["(none)"]
    fig, axes = plt.subplots(1, len(cols), figsize=(2.6 * len(cols), 2.6), squeeze=False)
    for ax, name in zip(axes[0], cols, strict=True):
        if name in history.columns:
            y = history[name].cast(pl.Float64, strict=False).to_numpy()
            x = np.arange(1, len(y) + 1)
            ax.plot(x, y, "o-", ms=3)
            ax.set_xticks(x if len(x) <= 10 else x[:: max(1, len(x) // 10)])
        ax.set_title(name.replace("_", " "), fontsize=8)
        ax.set_xlabel("run", fontsize=7)
        ax.tick_params(labelsize=7)
    return _save_figure(fig, path)


__all__ = [
    "GENERATED_STAGES",
    "HEADLINE_FIGURES",
    "QUALITY_FIGURES",
    "STAGES",
    "ReportError",
    "append_history",
    "detail_table",
    "difficulty_quality",
    "figures_from_quality",
    "direction_entropy",
    "markdown_table",
    "plot_history",
    "plot_quality",
    "quality_markdown",
    "quality_row",
    "read_history",
    "summarise_snapshots",
    "vs_human",
]
