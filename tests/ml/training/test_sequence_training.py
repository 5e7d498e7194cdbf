"""Stage-2 entry point: presets from configs/sequence.toml, train_sequence_model end to end on a tiny
corpus (metrics, generated-map figures, checkpoints), load_sequence_model and its typed errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.models.sequence import SequenceConfig
from automapper_ml.tokenizer import TOKENIZER_VERSION
from automapper_ml.training.loop import TrainConfig, save_checkpoint
from automapper_ml.training.sequence import (
    DEFAULT_CONFIG,
    load_sequence_model,
    load_sequence_preset,
    sequence_config_hash,
    train_sequence_model,
)
from automapper_ml.training.sequence_task import SequenceTaskConfig

CFG = replace(SequenceConfig.preset("tiny"), audio_window=256, d_model=32, heads=2, max_context_tokens=40)


def test_presets_come_from_the_toml(tmp_path):
    demo = load_sequence_preset()
    assert demo.name == "demo" and demo.model_name == "tiny"
    assert demo.model == SequenceConfig.preset("tiny")  # the file and the model's presets agree
    assert load_sequence_preset("gpu").model == SequenceConfig.preset("full")
    assert demo.train.batch_size > 0 and demo.task.eval_songs > 0 and demo.decoding.strategy == "sample"
    text = DEFAULT_CONFIG.read_text()
    copy = tmp_path / "sequence.toml"
    copy.write_text("# a comment changes nothing\n" + text)
    assert sequence_config_hash(copy) == sequence_config_hash()
    copy.write_text(text.replace("lr = 2e-3", "lr = 1e-3", 1))
    assert sequence_config_hash(copy) != sequence_config_hash()
    with pytest.raises(ValueError, match="no preset"):
        load_sequence_preset("nope")
    copy.write_text(text.replace("d_model = 64", "d_model = 64\nwidth = 3", 1))
    with pytest.raises(ValueError, match="unknown keys"):
        load_sequence_preset("demo", copy)
    copy.write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        sequence_config_hash(copy)


def test_train_load_and_errors(corpus, tmp_path):  # corpus: tests/ml/training/conftest.py
    root, index = corpus
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_sequence_model(
            index, root, tmp_path / "run", CFG,
            TrainConfig(epochs=2, batch_size=16, lr=2e-3, warmup_steps=2, progress=False),
            task_config=SequenceTaskConfig(eval_songs=1), extra_state={"frame_index": "v1"},
        )  # fmt: skip
        model = load_sequence_model(result.best_path)
    finally:
        torch.set_num_threads(before)
    assert result.epochs == 2 and result.steps == 2 * -(-90 // 16) and not result.zero_audio
    assert 0.0 <= result.metrics["token_accuracy"] <= 1.0 and "eos_accuracy" in result.metrics
    assert result.generation["maps"] == 2 and result.generation["human_notes"] == 45
    assert result.n_params == sum(p.numel() for p in model.parameters())
    assert model.config == CFG and not model.training
    summary = result.summary()
    assert all(isinstance(v, float) for v in summary.values()) and "gen_left_share" in summary
    state = load_checkpoint(result.best_path)
    assert state["extra_state"] == {"tokenizer_version": TOKENIZER_VERSION, "frame_index": "v1"}
    assert state["model_config"]["task"]["zero_audio"] is False

    with pytest.raises(FileNotFoundError):
        load_sequence_model(tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_sequence_model(junk)
    other = tmp_path / "onset.pt"
    save_checkpoint(other, {"stage": "onset", "model": {}, "model_config": {}})
    with pytest.raises(ValueError, match="not a sequence model checkpoint"):
        load_sequence_model(other)
    bad = Path(tmp_path / "bad.pt")
    save_checkpoint(bad, {**state, "model": {k: v[:1] for k, v in state["model"].items()}})
    with pytest.raises(ValueError, match="do not fit"):
        load_sequence_model(bad)
