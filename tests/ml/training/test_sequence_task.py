"""Stage-2 batches: targets are the stored groups, contexts match build_context (never across songs),
audio windows are the store's frames with the onset in the middle half, epoch weighting, the
zero-audio ablation, skipped long groups, typed errors, validation figures and a loop round."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest
import torch

from automapper_ml.models.sequence import SequenceConfig, build_context
from automapper_ml.tokenizer import BOS, EOS, PAD
from automapper_ml.training.loop import TrainConfig, train
from automapper_ml.training.sequence_task import (
    SequenceData,
    SequenceDataError,
    SequenceTask,
    SequenceTaskConfig,
)

CFG = replace(SequenceConfig.preset("tiny"), audio_window=256, d_model=32, heads=2, max_context_tokens=40)

# one torch thread per test (tests/ml/conftest.py); `corpus` is tests/ml/training/conftest.py's
pytestmark = pytest.mark.usefixtures("one_thread")


def test_flat_arrays_hold_every_group(corpus):
    root, index = corpus
    data = SequenceData(index, root, "train", CFG)
    assert len(data.items) == 4 and len(data) == sum(index.filter(pl.col("split") == "train")["n_groups"])
    assert data.skipped == 0 and data.tokens.dtype == np.uint8
    for it in data.items:
        groups = [data.group_tokens(g) for g in range(it.first_group, it.first_group + it.n_groups)]
        assert all(g[-1] == EOS and EOS not in g[:-1] for g in groups)
        assert np.all(np.diff(data.group_frame[it.first_group : it.first_group + it.n_groups]) >= 0)
        assert it.n_frames == 1723 and it.mel.shape == (80, 1723)


def test_batch_matches_store_and_build_context(corpus):
    root, index = corpus
    task = SequenceTask(index, root, CFG, SequenceTaskConfig())
    data, w = task.train_data, CFG.audio_window
    indices = list(range(0, task.train_size(), 7))
    batch = task.make_batch(indices, torch.Generator().manual_seed(3))
    b = len(indices)
    assert batch["mel"].shape == (b, 80, w) and batch["structure"].shape == (b, 6, w)
    assert batch["mel"].dtype == torch.float32 and batch["window"].tolist() == list(range(b))
    again = task.make_batch(indices, torch.Generator().manual_seed(3))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    for r, g in enumerate(task._samples[indices]):
        item = data.items[data.group_item[g]]
        onset, frame = int(batch["onset"][r]), int(data.group_frame[g])
        start = frame - onset
        # the onset sits in the middle half, unless the window would start before the song
        assert (w // 4 <= onset < 3 * w // 4) or (start == 0 and onset < w // 4)
        stop = min(start + w, item.n_frames)
        np.testing.assert_array_equal(batch["mel"][r, :, : stop - start].numpy(), item.mel[:, start:stop])
        np.testing.assert_array_equal(
            batch["structure"][r, :, : stop - start].numpy(), item.structure[:, start:stop]
        )
        assert batch["mel"][r, :, stop - start :].eq(0).all()  # zeros past the end, as decode_song pads
        tokens = batch["tokens"][r].tolist()
        group = data.group_tokens(g)
        assert tokens[0] == BOS and tokens[1 : 1 + len(group)] == group
        assert all(t == PAD for t in tokens[1 + len(group) :])
        assert int(batch["difficulty"][r]) == item.difficulty
        prev = list(range(max(g - CFG.context_onsets, item.first_group), g))
        ctx, age, fr = build_context(
            [[data.group_tokens(p) for p in prev]], [[int(data.group_frame[p]) - start for p in prev]],
            CFG.max_context_tokens, CFG.context_onsets,
        )  # fmt: skip
        n = ctx.shape[1]
        row = batch["context"][r]
        assert row[: row.shape[0] - n].eq(PAD).all()
        assert torch.equal(row[-n:], ctx[0]) and torch.equal(batch["context_age"][r, -n:], age[0])
        assert torch.equal(batch["context_frame"][r, -n:], fr[0])
    # a song's first group has no context: nothing leaks from the previous song
    firsts = [i for i, g in enumerate(task._samples) if g == data.group_first[g]]
    first_batch = task.make_batch(firsts, torch.Generator().manual_seed(0))
    assert first_batch["context"].eq(PAD).all() and first_batch["context_age"].eq(0).all()


def test_offsets_cover_the_middle_half(corpus):
    root, index = corpus
    task = SequenceTask(index, root, CFG)
    offsets = task.offsets(4000, torch.Generator().manual_seed(0))
    assert offsets.min() == 64 and offsets.max() == 191  # [W/4, 3W/4) for W = 256


def test_epoch_weighting_and_long_groups(corpus):
    root, index = corpus
    weighted = index.with_columns(
        pl.when(pl.col("key").str.starts_with("m1")).then(2.0).otherwise(0.5).alias("weight")
    )
    data = SequenceData(weighted, root, "train", CFG)
    groups = data.epoch_groups()
    counts = np.bincount(groups, minlength=len(data))
    for it in data.items:
        span = counts[it.first_group : it.first_group + it.n_groups]
        if it.map_key == "m1":
            assert np.all(span == 2)
        else:
            assert span.sum() == round(0.5 * it.n_groups) and span.max() == 1
    assert abs(len(data.epoch_groups(3.0)) - 3 * len(groups)) <= len(data.items)  # 6 and 1.5 per group
    # groups longer than the model can hold are never samples
    short = SequenceData(index, root, "train", replace(CFG, max_group_tokens=6))
    lengths = np.diff(short.group_start)
    assert short.skipped == int((lengths + 1 > 6).sum()) > 0
    assert np.all(lengths[short.epoch_groups()] + 1 <= 6)


def test_zero_audio_and_loss(corpus):
    root, index = corpus
    task = SequenceTask(index, root, CFG, SequenceTaskConfig(zero_audio=True))
    batch = task.make_batch([0, 1, 2, 3], torch.Generator().manual_seed(0))
    assert batch["mel"].eq(0).all() and batch["structure"].eq(0).all()
    model = task.build_model()
    loss = task.loss(model, batch)
    assert torch.isfinite(loss) and loss.requires_grad


def test_typed_errors(corpus, tmp_path):
    root, index = corpus
    with pytest.raises(SequenceDataError, match="lacks columns"):
        SequenceData(index.drop("token_snapshot"), root, "train", CFG)
    with pytest.raises(SequenceDataError, match="does not exist"):
        SequenceData(index, tmp_path, "train", CFG)
    with pytest.raises(SequenceDataError, match="no 'test' note groups"):
        SequenceTask(index, root, CFG, train_split="test")
    with pytest.raises(ValueError):
        SequenceTaskConfig(onset_low=0.8, onset_high=0.2)


def test_validate_and_one_loop_round(corpus, tmp_path):
    root, index = corpus
    task = SequenceTask(index, root, CFG, SequenceTaskConfig(val_batch_size=16))
    model = task.build_model()
    metrics = task.validate(model, torch.device("cpu"))
    for key in ("token_accuracy", "eos_accuracy", "eos_false_rate", "group_accuracy", "majority_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0
    assert np.isfinite(metrics["val_loss"]) and metrics["majority_accuracy"] > 0.05
    assert task.validate(model, torch.device("cpu")) == metrics  # same windows every epoch
    result = train(task, TrainConfig(epochs=1, batch_size=16, progress=False, warmup_steps=2), tmp_path)
    assert result.epochs_run == 1 and result.steps == -(-task.train_size() // 16)
    assert "token_accuracy" in result.history[0] and result.best_path is not None
