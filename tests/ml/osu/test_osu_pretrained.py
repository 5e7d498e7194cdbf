"""The shipped osu! model: its card matches the code (or the model must be retrained), and it learned.

Without the real osu! corpus the held-out figures are the card's, measured by
`python -m automapper_assets.pretrain_osu` (never trained on, see its module docstring); with
AUTOMAPPER_OSU_CORPUS set, the teacher-forced claim is measured again here on held-out sets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from automapper_ml.audio import AUDIO_FEATURES_VERSION
from automapper_ml.data.rawzips import sha256_file
from automapper_ml.models.osu import OsuConfig, load_osu_model
from automapper_ml.pretrained.osu import OSU_DIR, OSU_MODEL_FILE, default_sampling, read_osu_card
from automapper_ml.tokenizer_osu import OSU_TOKENIZER_VERSION
from automapper_ml.training.osu import load_osu_preset, osu_config_hash
from tests.ml.osu.fixtures import corpus_sets

CARD = read_osu_card()
pytestmark = pytest.mark.skipif(not CARD, reason="no shipped osu! model card")


def test_the_card_matches_the_code():
    assert CARD["tokenizer_version"] == OSU_TOKENIZER_VERSION, (
        "retrain: python -m automapper_assets.pretrain_osu"
    )
    assert CARD["audio_features_version"] == AUDIO_FEATURES_VERSION
    assert CARD["config_hash"] == osu_config_hash(), "configs/osu.toml changed since the model was trained"
    assert CARD["files"]["best.pt"] == sha256_file(OSU_MODEL_FILE)
    preset = load_osu_preset(CARD["preset"])
    assert OsuConfig(**CARD["model_config"]["model"]) == preset.model
    model = load_osu_model(OSU_MODEL_FILE)
    assert sum(p.numel() for p in model.parameters()) == CARD["training"]["parameters"]
    assert CARD["training"]["minutes"] <= 60  # the cpu preset's budget on 2 cores
    assert default_sampling(seed=1).seed == 1 and (OSU_DIR / "MODEL_CARD.md").is_file()
    splits = CARD["splits"]
    assert splits["test"] >= 10 and splits["train"] > splits["val"] > 0


def test_the_card_shows_learning_on_held_out_sets():
    tf = CARD["figures"]["teacher_forced_test"]
    assert tf["audio"]["token_accuracy"] > 2 * tf["audio"]["majority_accuracy"]
    assert tf["audio"]["val_loss"] < tf["zero_audio"]["val_loss"]  # the audio lowers the held-out loss
    held = CARD["figures"]["held_out"]["summary"]
    model, onsets = held["model"], held["onset circles"]
    assert model["cases"] >= 20
    assert (
        model["rhythm_f1_50ms"] > onsets["rhythm_f1_50ms"]
        and model["rhythm_f1_10ms"] > onsets["rhythm_f1_10ms"]
    )
    assert model["stars_within_1"] >= 0.9 and model["slider_invalid_share"] == 0
    assert model["objects_outside"] == 0 and model["path_points_outside"] == 0 and model["slider_kinds"] >= 3


@pytest.mark.xfail(strict=True, reason="issue 16: on held-out songs the generated rhythm does not yet beat the "
                   "model's own audio-zeroed ablation (0.504 vs 0.520 F1 +-50 ms: the beat grid, detected "
                   "from the audio, carries most of the timing) nor reach 0.6")  # fmt: skip
def test_generated_rhythm_beats_the_zeroed_audio_and_reaches_the_target():
    held = CARD["figures"]["held_out"]["summary"]
    assert held["model"]["rhythm_f1_50ms"] > held["model, audio zeroed"]["rhythm_f1_50ms"]
    assert held["model"]["rhythm_f1_50ms"] >= 0.6


@pytest.mark.slow
@pytest.mark.skipif(
    not corpus_sets(), reason="AUTOMAPPER_OSU_CORPUS is unset (the real osu! corpus is not built)"
)
def test_teacher_forced_learning_measured_again_on_held_out_sets():
    from automapper_assets.pretrain_osu import osu_split, teacher_forced

    rows = osu_split(corpus_sets())
    held = [r for r in rows if r[2] == "test"][:3]
    assert {Path(r[0]).name for r in held} <= {
        s["osz"] for s in CARD["corpus"]["sets"] if s["split"] == "test"
    }
    torch.set_num_threads(1)
    figures = teacher_forced(load_osu_model(OSU_MODEL_FILE), held, "test")
    assert figures["audio"]["token_accuracy"] > 2 * figures["audio"]["majority_accuracy"]
    assert figures["audio"]["val_loss"] < figures["zero_audio"]["val_loss"]
