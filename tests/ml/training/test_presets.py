"""configs/onset.toml: every preset builds, the hash ignores layout, unknown keys are errors."""

from __future__ import annotations

import pytest

from automapper_ml.models.onset import OnsetConfig
from automapper_ml.training.presets import DEFAULT_CONFIG, config_hash, load_preset, model_config, read_config


def test_shipped_presets_build():
    names = read_config()["preset"]
    assert {"demo", "cpu15", "gpu"} <= set(names)
    for name in names:
        preset = load_preset(name)
        assert preset.model.window > 0 and preset.train.epochs > 0
    assert load_preset().name == read_config()["default_preset"]
    assert model_config("tiny") == OnsetConfig.preset("tiny")  # the code's tiny and the file's agree
    assert model_config("full") == OnsetConfig.preset("full")
    assert load_preset("cpu15").train.max_minutes <= 30


def test_hash_ignores_comments_and_order_but_sees_values(tmp_path):
    text = DEFAULT_CONFIG.read_text()
    reformatted = tmp_path / "a.toml"
    reformatted.write_text("# a new comment\n" + text.replace(" = ", "=  "))
    assert config_hash(reformatted) == config_hash()
    changed = tmp_path / "b.toml"
    changed.write_text(text.replace("epochs = ", "epochs = 1", 1))  # e.g. 6 -> 16
    assert changed.read_text() != text
    assert config_hash(changed) != config_hash()


def test_bad_config_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model.tiny]\nchannels = 32\nwidth = 3\n[preset.x]\nmodel = "tiny"\n')
    with pytest.raises(ValueError, match=r"\[model.tiny\]: unknown keys \['width'\]"):
        load_preset("x", bad)
    with pytest.raises(ValueError, match="no preset 'nope'"):
        load_preset("nope")
    bad.write_text("[model\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        read_config(bad)
