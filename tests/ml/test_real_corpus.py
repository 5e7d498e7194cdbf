"""The shipped models on real songs they never saw: the held-out songs of ../shared/corpus.

The split is fixed and named (HELD_OUT, the same list as configs/ingest.toml [split] test_zips, so
`frame_index` never trains on these songs). Each song is mapped as `automapper generate SONG -d Expert
ExpertPlus` maps it and compared with its human map (automapper_ml.training.real_songs). Skipped
when the corpus is absent. bench/real_corpus.py prints the same figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
HELD_OUT = (
    "BryanZWu__test-map.zip",
    "RHKasper__195a5-Get-Get-Down-ItsVasili.zip",
    "RHKasper__4ac0-Body-Teuflum.zip",
    "RHKasper__8215-Better-When-You-re-Gone-Halcyon12.zip",
    "RHKasper__9b94-365-Dont-Shoot-ME.zip",
    "RHKasper__Dandelion-Girls-Dandelion-Boys-Mili-22186.zip",
    "RHKasper__Lovefool-172f2.zip",
    "RHKasper__Shane-Codd-Get-Out-My-Head-1ec13.zip",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("real_corpus"),  # one worker builds the module's fixtures once
    pytest.mark.skipif(
        not all((CORPUS / z).is_file() for z in HELD_OUT), reason="../shared/corpus is absent"
    ),
]


def test_the_held_out_split_is_the_one_frame_index_holds_out():
    from automapper_assets.defs.ingest.config import ingest_config

    assert tuple(sorted(ingest_config().split.test_zips)) == tuple(sorted(HELD_OUT))


@pytest.fixture(scope="module")
def report():
    from automapper_ml.generation.models import default_models_dir, load_models
    from automapper_ml.training.real_songs import evaluate_real_songs, load_case

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cases = [load_case(CORPUS / z) for z in HELD_OUT]
        return evaluate_real_songs(cases, load_models(default_models_dir()))
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stage2(tmp_path_factory):
    """Teacher-forced figures of the shipped stage 2 and its audio-zeroed twin on the held-out maps."""
    from automapper_ml.models.sequence import load_sequence_model
    from automapper_ml.pretrained import ABLATION_FILE, PRETRAINED_DIR
    from automapper_ml.training.onset_task import index_zips
    from automapper_ml.training.real_songs import sequence_split_metrics

    root = tmp_path_factory.mktemp("real_stage2")
    index = index_zips([CORPUS / z for z in HELD_OUT], root, splits={Path(z).stem: "test" for z in HELD_OUT})
    index = index.filter(index["key"].str.contains("/Standard/"))
    model = load_sequence_model(PRETRAINED_DIR / "sequence" / "best.pt")
    ablation = load_sequence_model(ABLATION_FILE)
    return (
        sequence_split_metrics(model, index, root),
        sequence_split_metrics(ablation, index, root, zero_audio=True),
    )


def test_every_song_gets_both_difficulties(report):
    pairs = {(r["song"], r["difficulty"]) for r in report.rows}
    assert len(pairs) == 2 * len(HELD_OUT)


def test_onsets_beat_librosa_and_a_tuned_spectral_flux(report):
    ours = report.mean("f1_generated")
    assert ours >= report.mean("f1_librosa") + 0.10
    assert ours > report.mean("f1_flux_tuned")


def test_stage2_beats_the_majority(stage2):
    audio, zeroed = stage2
    assert audio["note_accuracy"] > audio["majority_accuracy"] + 0.3  # measured 0.673 vs 0.159
    assert zeroed["note_accuracy"] > audio["majority_accuracy"] + 0.3


@pytest.mark.xfail(
    reason="not yet on ~45 real training songs: placement accuracy 0.673 with audio vs 0.676 audio-zeroed "
    "(CE 0.979 vs 0.976) on these songs; SpecAugment, a 128-frame window, structure-only audio and an "
    "unweighted timing loss all stayed behind the ablation on validation (see the issue note)",
    strict=False,
)
def test_stage2_listens(stage2):
    """On the tokens generation samples (placement: colour, cell, arrow, EOS; timing is forced from
    stage 1), the shipped stage 2 should beat the same model trained and run with its audio zeroed."""
    audio, zeroed = stage2
    assert audio["note_accuracy"] > zeroed["note_accuracy"]
    assert audio["note_ce"] < zeroed["note_ce"]


@pytest.mark.parametrize("difficulty, lo, hi", [("Expert", 2.0, 7.0), ("ExpertPlus", 2.5, 10.0)])
def test_density_is_human(report, difficulty, lo, hi):
    rows = [r for r in report.rows if r["difficulty"] == difficulty]
    assert all(lo <= r["nps"] <= hi for r in rows), [round(float(r["nps"]), 2) for r in rows]


def test_expert_plus_is_at_least_as_dense_as_expert(report):
    by = {(r["song"], r["difficulty"]): float(r["nps"]) for r in report.rows}
    songs = {s for s, _ in by}
    assert all(by[(s, "ExpertPlus")] >= by[(s, "Expert")] for s in songs)


@pytest.mark.parametrize("difficulty", ["Expert", "ExpertPlus"])
def test_generated_maps_are_playable(report, difficulty):
    rows = [r for r in report.rows if r["difficulty"] == difficulty]
    raw = np.mean([float(r["raw_parity_errors_per_100_swings"]) for r in rows])
    assert raw <= 3.0  # measured 1.5 Expert, 0.9 ExpertPlus
    # up+down: 0.48 / 0.50 on average, at most 0.58 per map (level.UP_DOWN_LIMIT re-decodes above it)
    assert np.mean([float(r["up_down_share"]) for r in rows]) <= 0.60
    for r in rows:
        song = r["song"]
        assert r["parity_errors_per_100_swings"] <= 0.5, song
        assert r["up_down_share"] <= 0.60, song
        assert r["cells_used"] >= 10, song
        assert 0.4 <= r["red_share"] <= 0.6, song
        assert r["off_beat_share"] <= 0.05, song
        assert r["notes_changed_share"] <= 0.10, song
