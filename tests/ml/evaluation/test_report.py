"""evaluation.report: figures on hand-built difficulties, aggregation, vs-human, history and plots."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from automapper_ml.evaluation.report import (
    QUALITY_FIGURES,
    ReportError,
    append_history,
    detail_table,
    difficulty_quality,
    direction_entropy,
    markdown_table,
    plot_history,
    plot_quality,
    quality_row,
    read_history,
    summarise_snapshots,
    vs_human,
)
from automapper_ml.formats.model import BombNote, ColorNote, Difficulty, Obstacle, Timing

UP, DOWN = 0, 1


def alternating(n: int, color: int = 0) -> Difficulty:
    """n notes of one hand, down/up alternating on whole beats at 120 BPM (no parity error)."""
    notes = [ColorNote(float(i), 1, 0, color, DOWN if i % 2 == 0 else UP) for i in range(n)]
    return Difficulty("Standard", "Expert", 7, "ExpertStandard.dat", notes=notes)


def test_direction_entropy() -> None:
    assert direction_entropy(np.zeros(9)) == 0.0
    one = np.zeros(9)
    one[3] = 1.0
    assert direction_entropy(one) == 0.0
    assert direction_entropy(np.full(9, 1 / 9)) == pytest.approx(math.log2(9))
    two = np.zeros(9)
    two[[0, 1]] = 0.5
    assert direction_entropy(two) == pytest.approx(1.0)
    with pytest.raises(ReportError):
        direction_entropy(np.ones(4))


def test_difficulty_quality_counts_and_figures() -> None:
    d = alternating(8)
    d.bombs = [BombNote(10.0, 0, 0), BombNote(11.0, 3, 0)]
    d.obstacles = [Obstacle(12.0, 1.0, 0, 0, 1, 5)]
    q = difficulty_quality(d, Timing.from_changes(120, []), duration_seconds=8.0)
    assert set(q) == set(QUALITY_FIGURES)
    assert q["notes"] == 8 and q["bombs"] == 2 and q["walls"] == 1 and q["arcs"] == 0
    assert q["nps"] == pytest.approx(1.0)
    assert q["left_share"] == 1.0
    assert q["cells_used"] == 1
    assert q["direction_entropy"] == pytest.approx(1.0)  # half up, half down
    assert q["parity_errors"] == 0
    assert q["off_beat_share"] == 0.0
    assert q["most_common_share"] == pytest.approx(0.5)


def test_parity_error_is_seen() -> None:
    d = alternating(4)
    d.notes[1] = ColorNote(1.0, 1, 0, 0, DOWN)  # down after down
    assert difficulty_quality(d)["parity_errors"] >= 1


def _detail() -> pl.DataFrame:
    rows = [
        quality_row("a", "Expert", "raw", {"nps": 6.0, "left_share": 0.9}),
        quality_row("a", "Expert", "post", {"nps": 5.0, "left_share": 0.6}),
        quality_row("a", "Expert", "human", {"nps": 4.0, "left_share": 0.5}),
        quality_row("b", "Expert", "raw", {"nps": 2.0, "left_share": 0.5}),
        quality_row("b", "Expert", "post", {"nps": 3.0, "left_share": 0.5}),
    ]
    return detail_table(rows)


def test_vs_human_only_where_a_human_map_exists() -> None:
    diffs = vs_human(_detail())
    assert diffs["song"].to_list() == ["a", "a"]
    post = diffs.filter(pl.col("stage") == "post").row(0, named=True)
    assert post["nps"] == pytest.approx(1.0) and post["left_share"] == pytest.approx(0.1)


def test_summary_means_and_vs_human_keys() -> None:
    s = summarise_snapshots(_detail())
    assert s["snapshot_songs"] == 2 and s["snapshot_songs_with_human"] == 1
    assert s["raw_nps"] == pytest.approx(4.0)  # mean of 6 and 2
    assert s["post_left_share"] == pytest.approx(0.55)
    assert s["human_nps"] == pytest.approx(4.0)
    assert s["raw_vs_human_nps"] == pytest.approx(2.0)
    assert s["post_vs_human_left_share"] == pytest.approx(0.1)
    no_human = summarise_snapshots(_detail().filter(pl.col("song") == "b"))
    assert not any("human" in k for k in no_human if k != "snapshot_songs_with_human")
    assert no_human["snapshot_songs_with_human"] == 0


def test_unknown_stage_is_an_error() -> None:
    with pytest.raises(ReportError, match="stage"):
        quality_row("a", "Expert", "cooked", {})


def test_history_appends_atomically_and_grows_columns(tmp_path) -> None:
    path = tmp_path / "metrics" / "history.parquet"
    assert read_history(path).is_empty()
    append_history(path, {"run_id": "r1", "onset_f1": 0.5})
    table = append_history(path, {"run_id": "r2", "onset_f1": 0.7, "post_nps": 4.2})
    assert table.height == 2
    again = read_history(path)
    assert again["run_id"].to_list() == ["r1", "r2"]
    assert again["post_nps"].to_list() == [None, 4.2]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    path.write_bytes(b"not parquet")
    with pytest.raises(ReportError, match="history"):
        read_history(path)


def test_markdown_and_plots(tmp_path) -> None:
    md = markdown_table(_detail(), ["song", "stage", "nps", "missing"])
    assert md.splitlines()[0] == "| song | stage | nps |"
    assert "| a | raw | 6.000 |" in md
    assert markdown_table(pl.DataFrame({"x": [1]}), ["y"]) == "*no data*"
    png = plot_quality(_detail(), tmp_path / "q.png")
    history = pl.DataFrame({"onset_f1": [0.1, 0.4, None], "post_nps": [1.0, 2.0, 3.0]})
    hist = plot_history(history, tmp_path / "h.png", ["onset_f1", "post_nps", "absent"])
    for p in (png, hist):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
