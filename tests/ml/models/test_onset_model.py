"""Onset model mechanics: shapes, bf16 autocast on CPU, targets, whole-song inference."""

from __future__ import annotations

import numpy as np
import torch

from automapper_ml.models.onset import OnsetConfig, OnsetModel, gaussian_targets, predict_song


def _batch(config: OnsetConfig, b: int = 2, t: int = 200):
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(b, config.n_mels, t, generator=g)
    structure = torch.rand(b, config.n_structure, t, generator=g)
    diff = torch.tensor([3, 4][:b])
    return mel, structure, diff


def test_forward_shapes_and_loss_backward():
    config = OnsetConfig.preset("tiny")
    model = OnsetModel(config)
    mel, structure, diff = _batch(config)
    logits = model(mel, structure, diff)
    assert logits.shape == (2, 200)
    targets = torch.from_numpy(np.stack([gaussian_targets(np.array([10, 50]), 200, 2.0)] * 2))
    loss = model.loss(logits, targets, mask=torch.ones(2, 200))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_bf16_autocast_path_on_cpu():
    """No GPU here: exercise the bf16 path on CPU so dtype bugs (the seed's BCE crash) show up."""
    config = OnsetConfig.preset("tiny")
    model = OnsetModel(config)
    mel, structure, diff = _batch(config)
    targets = torch.rand(2, 200)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(mel, structure, diff)
        loss = model.loss(logits, targets)
    assert logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)


def test_gaussian_targets():
    t = gaussian_targets(np.array([0, 10, 11]), 20, 2.0)
    assert t.shape == (20,) and t.dtype == np.float32
    assert t[0] == 1.0 and t[10] == 1.0 and t[11] == 1.0
    assert 0.5 < t[2] < 0.7  # exp(-0.5) = 0.607 two frames away
    assert t[19] < 0.01
    assert gaussian_targets(np.array([], dtype=np.int64), 5, 2.0).sum() == 0


def test_predict_song_covers_every_frame_with_training_length_windows():
    config = OnsetConfig.preset("tiny")
    model = OnsetModel(config)
    seen = []
    original = model.forward

    def spy(mel, structure, diff):
        seen.append(mel.shape[-1])
        return original(mel, structure, diff)

    model.forward = spy
    n = config.window * 2 + 37
    probs = predict_song(model, np.random.randn(config.n_mels, n), np.random.rand(config.n_structure, n), 3)
    assert probs.shape == (n,)
    assert np.all((probs > 0) & (probs < 1))
    assert set(seen) == {config.window}
