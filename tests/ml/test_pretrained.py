"""The shipped models (automapper_ml/pretrained) still match the code, load, and map a song.

When one of these fails after a change to the tokenizer, the audio features, a config schema or the
cpu profile's presets, the shipped models are stale: retrain them with
`python -m automapper_assets.pretrain` (about an hour on 2 CPU cores) and commit what it writes.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from automapper_ml.generation.models import default_models_dir, load_models
from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.pretrained import ABLATION_FILE, PRETRAINED_DIR, read_card
from automapper_ml.pretrained.build import expected_versions, model_config_class, sha256_file
from automapper_ml.training.profiles import STAGES

RETRAIN = "shipped models are stale: run `python -m automapper_assets.pretrain` and commit automapper_ml/pretrained/"


@pytest.fixture(scope="module")
def card():
    return read_card()


@pytest.mark.parametrize(
    "key",
    ["tokenizer_version", "audio_features_version", "profile", "presets", "settings_hash", "config_fields"],
)
def test_card_matches_the_code(card, key):
    assert card[key] == expected_versions(card["profile"])[key], f"{key}: {RETRAIN}"


def test_files_are_the_ones_the_card_describes(card):
    expected = {f"{s}/best.pt" for s in STAGES} | {str(ABLATION_FILE.relative_to(PRETRAINED_DIR))}
    assert set(card["files"]) == expected
    total = 0
    for name, digest in card["files"].items():
        path = PRETRAINED_DIR / name
        assert path.is_file() and sha256_file(path) == digest, f"{name} changed without its card"
        total += path.stat().st_size
    assert total < 16 * 2**20  # a few MB in all


@pytest.mark.parametrize("stage", STAGES)
def test_checkpoints_hold_weights_and_a_config_of_this_schema(stage):
    state = load_checkpoint(PRETRAINED_DIR / stage / "best.pt")  # weights_only
    assert state["stage"] == stage and "optimizer" not in state
    saved = state["model_config"]["model"]
    assert sorted(saved) == sorted(f.name for f in fields(model_config_class(stage))), RETRAIN


def test_the_corpus_and_held_out_songs_are_named(card):
    names = {z["zip"] for z in card["corpus"]["zips"]}
    assert len(names) >= 60 and all(len(z["sha256"]) == 64 for z in card["corpus"]["zips"])
    assert len(card["held_out"]) >= 8 and set(card["held_out"]) <= names
    density = load_checkpoint(PRETRAINED_DIR / "onset" / "best.pt")["extra_state"]["density"]
    assert {"Expert", "ExpertPlus"} <= set(density["quantiles"])


def test_they_are_the_default_and_map_a_song():
    """Out of the box: `generate` without --models loads these, and a rendered song gets notes."""
    from automapper_ml.generation.level import generate_level

    assert default_models_dir() == PRETRAINED_DIR
    models = load_models(default_models_dir())
    rng = np.random.default_rng(0)
    sr, bpm = 22050, 120.0
    song = np.zeros(sr * 30, dtype=np.float32)
    for beat in np.arange(0, 30 * bpm / 60, 0.5):  # a drum on every half beat, noise between
        i = int(beat * 60 / bpm * sr)
        hit = rng.standard_normal(2000).astype(np.float32) * np.exp(-np.arange(2000) / 300).astype(np.float32)
        song[i : i + 2000] += hit
    song += 0.01 * rng.standard_normal(song.size).astype(np.float32)
    result = generate_level(song, ("Expert", "ExpertPlus"), models=models, sample_rate=sr)
    expert, plus = result.difficulties
    assert expert.notes > 0 and plus.notes >= expert.notes * 0.8
    assert 1.0 < expert.quality.nps < 8.0
