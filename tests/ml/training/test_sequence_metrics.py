"""Generated-map figures: beat-grid timing, per-map figures from the shared quality report, pooling,
and evaluate_generation on validation songs at their human onsets."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.evaluation.quality import quality_report
from automapper_ml.formats.model import Arc, ColorNote
from automapper_ml.models.sequence import SequenceConfig, SequenceModel
from automapper_ml.tokenizer import DBEATS0, DFRAC0, EOS, NOTE_L, DecodedNotes, NoteGroup, decode_notes
from automapper_ml.training.sequence_metrics import (
    aggregate_metrics,
    evaluate_generation,
    generated_map_metrics,
    timing_from_beat_grid,
    timing_prefix,
)
from automapper_ml.training.sequence_task import SequenceData
from tests.ml.training.clicks import click_corpus

CFG = replace(SequenceConfig.preset("tiny"), audio_window=256, d_model=32, heads=2, max_context_tokens=40)


def test_timing_from_beat_grid():
    steady = timing_from_beat_grid(np.arange(20) * 0.5)  # 120 BPM
    assert steady is not None and steady.to_seconds(4.0) == pytest.approx(2.0)
    changed = timing_from_beat_grid(np.concatenate([np.arange(5) * 0.5, 2.0 + np.arange(1, 6) * 0.25]))
    assert changed is not None and changed.to_seconds(6.0) == pytest.approx(2.5)
    assert len(changed.segments) == 2 and changed.segments[1][2] == pytest.approx(240.0)
    assert timing_from_beat_grid(np.array([0.3, 0.8, 1.3])) is None  # beat numbering unknown
    assert timing_from_beat_grid(np.array([0.0])) is None


def test_generated_map_metrics_and_pooling():
    notes = [ColorNote(float(b), 1, 0, 0, 1) for b in range(3)] + [ColorNote(3.0, 2, 0, 1, 1)]
    arcs = [Arc(0.0, 0, 1, 0, 1, 1.0, 1.0, 2, 0, 0, 1.0, 0)] * 2
    m = generated_map_metrics(DecodedNotes(notes=notes, arcs=arcs), None, duration_seconds=60.0)
    report = quality_report(notes, None, [], duration_seconds=60.0)
    assert m["left_share"] == 0.75 and m["most_common_share"] == 0.75 and m["distinct_patterns"] == 2
    assert m["arcs_per_minute"] == 2.0 and m["chains_per_minute"] == 0.0 and m["nps"] == pytest.approx(4 / 60)
    assert m["parity_errors_per_100_swings"] == report.parity_errors_per_100_swings
    other = dict(
        m, notes=12.0, left_share=0.5, most_common_share=0.25, arcs=0.0, swings=10.0, parity_errors=1.0
    )
    pooled = aggregate_metrics([m, other])
    assert pooled["maps"] == 2 and pooled["notes"] == 16
    assert pooled["left_share"] == pytest.approx((0.75 * 4 + 0.5 * 12) / 16)
    assert pooled["max_most_common_share"] == 0.75 and pooled["min_left_share"] == 0.5
    assert pooled["arcs_per_minute"] == pytest.approx(2 / 2.0)
    assert pooled["parity_errors_per_100_swings"] == pytest.approx(
        100 * (m["parity_errors"] + 1) / (m["swings"] + 10)
    )
    assert aggregate_metrics([])["maps"] == 0


def test_timing_prefix():
    assert timing_prefix([DBEATS0 + 2, DFRAC0 + 12, NOTE_L, 70, 80, EOS]) == [DBEATS0 + 2, DFRAC0 + 12]
    assert timing_prefix([EOS]) == []


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two click maps (m0 validates, m1 trains): fewer than conftest's corpus."""
    root = tmp_path_factory.mktemp("sequence_metrics")
    return root, click_corpus(root, 2)


def test_evaluate_generation_at_human_onsets(corpus):
    root, index = corpus
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = SequenceModel(CFG).eval()
        data = SequenceData(index, root, "val", CFG)
        out = evaluate_generation(model, data, max_songs=1, streams=4)
        again = evaluate_generation(model, index, root, max_songs=1, streams=4)  # opens the split itself
    finally:
        torch.set_num_threads(before)
    assert out == again
    assert out["maps"] == 2 and 0.0 <= out["incomplete_groups"] <= 1.0
    for key in ("left_share", "most_common_share", "distinct_patterns", "parity_errors_per_100_swings",
                "arcs_per_minute", "chains_per_minute", "nps"):  # fmt: skip
        assert key in out and np.isfinite(out[key]) and f"human_{key}" in out
    # the human figures are the shared report on the stored groups (click maps: 30 + 15 notes)
    assert out["human_notes"] == 45
    item = next(it for it in data.items if it.difficulty == 3)
    truth = decode_notes(
        [NoteGroup(float(data.group_beat[g]), data.group_tokens(g))
         for g in range(item.first_group, item.first_group + item.n_groups)]
    )  # fmt: skip
    per_map = generated_map_metrics(
        truth, timing_from_beat_grid(data.beat_grid(item)), item.n_frames * FRAME_SECONDS
    )
    assert per_map["notes"] == 30 and per_map["left_share"] == 0.5
