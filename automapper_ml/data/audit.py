"""Dataset audit: duckdb SQL over the manifest (and the blacklist), as tables, markdown and a plot.

Definitions (S = manifest rows with characteristic = 'Standard'; "objects" = notes + bombs +
walls + arcs + chains, never events or fake objects; a pair is a distinct (song_id, difficulty)):

  pairs_with_arcs_share    #pairs in S with arcs > 0 in at least one row / #pairs in S
  pairs_with_chains_share  #pairs in S with chains > 0 in at least one row / #pairs in S
  arc_object_share         sum(arcs) over S / sum(objects) over S
  chain_object_share       sum(chains) over S / sum(objects) over S
  ranked_maps              count(distinct zip_name) over ALL manifest rows with ranked = true
  category mix             per category, over ALL manifest rows: difficulties (rows), share of rows,
                           maps (distinct zip_name with at least one row of that category)
  NPS / duration per difficulty, over S: n, mean, min, p10, median, p90, max, where pXX is duckdb
                           quantile_cont (linear interpolation) of `nps` / `duration_s`
  trainable per difficulty rows of S that `blacklist.trainable` keeps
  blacklist rules          rows per (scope, rule) and distinct zips per rule

A share with a zero denominator is null.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import duckdb
import polars as pl

from automapper_ml.data.blacklist import trainable

AUDIT_CODE_VERSION = "1"
_DIFF_ORDER = "CASE difficulty WHEN 'Easy' THEN 1 WHEN 'Normal' THEN 2 WHEN 'Hard' THEN 3 WHEN 'Expert' THEN 4 WHEN 'ExpertPlus' THEN 5 ELSE 6 END"

SQL_FIGURES = """
WITH s AS (SELECT * FROM manifest WHERE characteristic = 'Standard'),
pairs AS (
  SELECT song_id, difficulty, max(arcs) > 0 AS any_arcs, max(chains) > 0 AS any_chains
  FROM s GROUP BY song_id, difficulty
)
SELECT
  (SELECT count(*) FROM pairs) AS pairs,
  (SELECT count(*) FROM pairs WHERE any_arcs) AS pairs_with_arcs,
  (SELECT count(*) FROM pairs WHERE any_chains) AS pairs_with_chains,
  (SELECT count(*) FILTER (WHERE any_arcs) / nullif(count(*), 0) FROM pairs) AS pairs_with_arcs_share,
  (SELECT count(*) FILTER (WHERE any_chains) / nullif(count(*), 0) FROM pairs) AS pairs_with_chains_share,
  (SELECT sum(arcs) / nullif(sum(notes + bombs + walls + arcs + chains), 0) FROM s) AS arc_object_share,
  (SELECT sum(chains) / nullif(sum(notes + bombs + walls + arcs + chains), 0) FROM s) AS chain_object_share,
  (SELECT count(DISTINCT zip_name) FROM manifest WHERE ranked) AS ranked_maps,
  (SELECT count(DISTINCT zip_name) FROM manifest) AS maps,
  (SELECT count(*) FROM manifest) AS difficulties,
  (SELECT count(DISTINCT song_id) FROM manifest) AS songs
"""

SQL_CATEGORIES = """
SELECT category, count(*) AS difficulties, count(*) / sum(count(*)) OVER () AS share,
       count(DISTINCT zip_name) AS maps
FROM manifest GROUP BY category ORDER BY difficulties DESC, category
"""

SQL_DISTRIBUTION = """
SELECT difficulty, count(*) AS n,
  {agg}
FROM manifest WHERE characteristic = 'Standard'
GROUP BY difficulty ORDER BY {order}
"""


def _agg(column: str) -> str:
    c = column
    return (
        f"avg({c}) AS mean, min({c}) AS min, quantile_cont({c}, 0.1) AS p10, "
        f"quantile_cont({c}, 0.5) AS median, quantile_cont({c}, 0.9) AS p90, max({c}) AS max"
    )


@dataclass
class AuditResult:
    figures: dict[str, float | int | None]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    markdown: str = ""
    plot_png: bytes = b""


def markdown_table(df: pl.DataFrame, digits: int = 4) -> str:
    """A GitHub markdown table; floats rounded to `digits` significant decimals."""
    if df.width == 0:
        return "_(empty)_"

    def cell(v: object) -> str:
        if v is None:
            return ""
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * df.width]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.iter_rows()]
    return "\n".join(lines)


def run_audit(manifest: pl.DataFrame, blacklist: pl.DataFrame) -> AuditResult:
    """Every figure and table in the module docstring, plus markdown and an NPS/duration PNG."""
    con = duckdb.connect()
    try:
        con.register("manifest", manifest.to_arrow())
        con.register("blacklist", blacklist.to_arrow())
        fig_df = con.sql(SQL_FIGURES).pl()
        tables = {
            "categories": con.sql(SQL_CATEGORIES).pl(),
            "nps_by_difficulty": con.sql(SQL_DISTRIBUTION.format(agg=_agg("nps"), order=_DIFF_ORDER)).pl(),
            "duration_by_difficulty": con.sql(
                SQL_DISTRIBUTION.format(agg=_agg("duration_s"), order=_DIFF_ORDER)
            ).pl(),
            "blacklist_rules": con.sql(
                "SELECT scope, rule, count(*) AS rows, count(DISTINCT zip_name) AS zips "
                "FROM blacklist GROUP BY scope, rule ORDER BY scope, rows DESC, rule"
            ).pl(),
        }
        kept = trainable(manifest, blacklist)
        con.register("kept", kept.to_arrow())
        tables["trainable_by_difficulty"] = con.sql(
            f"SELECT difficulty, count(*) AS difficulties, count(DISTINCT song_id) AS songs "
            f"FROM kept GROUP BY difficulty ORDER BY {_DIFF_ORDER}"
        ).pl()
    finally:
        con.close()
    row = fig_df.row(0, named=True)
    figures = {k: (float(v) if isinstance(v, float) else v) for k, v in row.items()}
    figures["trainable_difficulties"] = kept.height
    result = AuditResult(figures=figures, tables=tables)
    result.markdown = audit_markdown(result)
    result.plot_png = plot_distributions(manifest)
    return result


def audit_markdown(result: AuditResult) -> str:
    f = result.figures
    defs = [
        ("pairs_with_arcs_share", "(song, difficulty) pairs in Standard rows with arcs > 0 / all such pairs"),
        (
            "pairs_with_chains_share",
            "(song, difficulty) pairs in Standard rows with chains > 0 / all such pairs",
        ),
        ("arc_object_share", "sum(arcs) / sum(notes+bombs+walls+arcs+chains), Standard rows"),
        ("chain_object_share", "sum(chains) / sum(notes+bombs+walls+arcs+chains), Standard rows"),
        ("ranked_maps", "distinct zip_name with ranked = true (ScoreSaber or BeatLeader), all rows"),
        ("maps", "distinct zip_name in the manifest"),
        ("difficulties", "manifest rows (map x characteristic x difficulty)"),
        ("songs", "distinct song_id in the manifest"),
        ("trainable_difficulties", "Standard rows not excluded by the blacklist"),
        ("pairs", "distinct (song_id, difficulty) in Standard rows"),
    ]
    fig_table = pl.DataFrame(
        {
            "figure": [k for k, _ in defs],
            "value": [f.get(k) for k, _ in defs],
            "definition": [d for _, d in defs],
        },
        schema={"figure": pl.String, "value": pl.Float64, "definition": pl.String},
    )
    parts = ["# Dataset audit", "", "## Figures", "", markdown_table(fig_table)]
    titles = {
        "categories": "Category mix (all rows; share = rows of the category / all rows)",
        "nps_by_difficulty": "NPS per difficulty (Standard rows; quantile_cont)",
        "duration_by_difficulty": "Duration (s) per difficulty (Standard rows; quantile_cont)",
        "trainable_by_difficulty": "Trainable difficulties (Standard, not blacklisted)",
        "blacklist_rules": "Blacklist rows per rule",
    }
    for name, title in titles.items():
        parts += ["", f"## {title}", "", markdown_table(result.tables[name])]
    return "\n".join(parts) + "\n"


def plot_distributions(manifest: pl.DataFrame) -> bytes:
    """PNG: NPS and duration histograms per Standard difficulty (two panels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = manifest.filter(pl.col("characteristic") == "Standard")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), dpi=80)
    for ax, column, label in ((axes[0], "nps", "notes per second"), (axes[1], "duration_s", "duration (s)")):
        for name in ("Easy", "Normal", "Hard", "Expert", "ExpertPlus"):
            values = s.filter(pl.col("difficulty") == name)[column].drop_nulls().to_list()
            if values:
                ax.hist(values, bins=20, alpha=0.5, label=f"{name} ({len(values)})")
        ax.set_xlabel(label)
        ax.set_ylabel("difficulties")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle("Standard difficulties in the manifest")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
