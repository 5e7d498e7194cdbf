"""Stage-1 batches: crops, targets on the onsets, padding masks, determinism, epoch sizes,
augmentation, the zero-audio ablation, scoring, and mid-epoch resume through the loop."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from automapper_ml.audio import frame_to_seconds
from automapper_ml.models.onset import OnsetConfig, gaussian_targets
from automapper_ml.training.loop import TrainConfig, train
from automapper_ml.training.onset_task import (
    OnsetData,
    OnsetDataError,
    OnsetTask,
    OnsetTaskConfig,
)

TINY = OnsetConfig(channels=16, tcn_blocks=3, transformer_layers=1, heads=2, window=256)
PLAIN = OnsetTaskConfig(augment=False)

# one torch thread for the module (tests/ml/conftest.py); `corpus` is tests/ml/training/conftest.py's
pytestmark = pytest.mark.usefixtures("one_thread_module")


def test_index_rows_and_relative_paths(corpus):
    root, index = corpus
    assert index.height == 6 and set(index["split"]) == {"train", "val"}
    assert not any(p.startswith("/") for p in index["audio_snapshot"])  # relative to the root
    data = OnsetData(index, root, "train", TINY)
    assert len(data) == 4 and {it.difficulty for it in data.items} == {2, 3}
    assert all(it.n_frames == 1723 for it in data.items)  # 20 s at 86.13 frames/s
    expert = next(it for it in data.items if it.difficulty == 3)
    assert len(expert.onsets) == 30


def test_batch_shapes_targets_and_determinism(corpus):
    root, index = corpus
    task = OnsetTask(index, root, TINY, PLAIN)
    batch = task.make_batch([0, 1, 2, 3], torch.Generator().manual_seed(7))
    assert batch["mel"].shape == (4, 80, 256) and batch["mel"].dtype == torch.float32
    assert batch["structure"].shape == (4, 6, 256) and batch["target"].shape == (4, 256)
    assert batch["mask"].shape == (4, 256) and batch["difficulty"].dtype == torch.long
    assert set(batch["difficulty"].tolist()) <= {2, 3}
    again = task.make_batch([0, 1, 2, 3], torch.Generator().manual_seed(7))
    assert all(torch.equal(batch[k], again[k]) for k in batch)
    other = task.make_batch([0, 1, 2, 3], torch.Generator().manual_seed(8))
    assert not torch.equal(batch["target"], other["target"])
    # targets equal the whole-song Gaussian targets at the crop's position
    for row in range(4):
        item = task.train_data.items[task._slots[row]]
        full = gaussian_targets(item.onsets, item.n_frames, TINY.target_sigma)
        mel_song, _ = task.train_data.features(item)
        starts = [
            s
            for s in range(item.n_frames - 255)
            if np.array_equal(mel_song[:, s : s + 256], batch["mel"][row].numpy())
        ]
        assert len(starts) == 1
        np.testing.assert_allclose(batch["target"][row].numpy(), full[starts[0] : starts[0] + 256])


def test_padding_past_song_end_is_masked(corpus):
    root, index = corpus
    long_window = OnsetConfig(channels=16, tcn_blocks=2, transformer_layers=1, heads=2, window=2048)
    task = OnsetTask(index, root, long_window, PLAIN)
    batch = task.make_batch([0], torch.Generator().manual_seed(0))
    assert batch["mask"][0, :1723].eq(1).all() and batch["mask"][0, 1723:].eq(0).all()
    assert batch["target"][0, 1723:].eq(0).all() and batch["target"][0, :1723].max() == 1.0
    model = task.build_model()
    loss = task.loss(model, batch)
    assert torch.isfinite(loss)


def test_epoch_slots_follow_length_and_weight(corpus):
    root, index = corpus
    heavy = index.with_columns(pl.when(pl.col("map_key") == "m2").then(3.0).otherwise(1.0).alias("weight"))
    data = OnsetData(heavy, root, "train", TINY)
    slots = data.epoch_items(1.0)
    per_map = {m: sum(data.items[i].map_key == m for i in slots) for m in ("m1", "m2")}
    assert per_map == {"m1": 2 * 7, "m2": 2 * 21}  # ceil(1723 / 256) = 7 per difficulty, x3 weight
    assert OnsetTask(heavy, root, TINY, OnsetTaskConfig(epoch_scale=0.5)).train_size() == 2 * 4 + 2 * 11


def test_augmentation_is_deterministic_and_leaves_global_rng_alone(corpus):
    root, index = corpus
    task = OnsetTask(index, root, TINY, OnsetTaskConfig(freq_mask=20, time_mask=40, gain_db=6.0))
    plain = OnsetTask(index, root, TINY, PLAIN).make_batch([0, 1], torch.Generator().manual_seed(3))
    state = torch.get_rng_state()
    a = task.make_batch([0, 1], torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)
    b = task.make_batch([0, 1], torch.Generator().manual_seed(3))
    assert torch.equal(a["mel"], b["mel"])
    assert not torch.equal(a["mel"], plain["mel"])
    assert torch.equal(a["target"], plain["target"])  # only the audio is augmented


def test_zero_audio_ablation_zeroes_inputs(corpus):
    root, index = corpus
    task = OnsetTask(index, root, TINY, OnsetTaskConfig(zero_audio=True))
    batch = task.make_batch([0, 1], torch.Generator().manual_seed(0))
    assert batch["mel"].abs().sum() == 0 and batch["structure"].abs().sum() == 0
    assert batch["target"].sum() > 0
    mel, structure = task.features_for_model(task.val_data, task.val_data.items[0])
    assert not mel.any() and not structure.any()


def test_score_of_perfect_curves_is_one_and_validate_reports(corpus):
    root, index = corpus
    task = OnsetTask(index, root, TINY, PLAIN)
    perfect = [(it, gaussian_targets(it.onsets, it.n_frames, 2.0)) for it in task.val_data.items]
    score = task.score(perfect, 0.5)
    assert score.f1 == 1.0 and score.n_reference == 45  # Expert 30 + Hard 15
    shifted = [(it, np.roll(c, 6)) for it, c in perfect]  # 70 ms late: outside +-50 ms
    assert task.score(shifted, 0.5).f1 == 0.0
    metrics = task.validate(task.build_model(), torch.device("cpu"))
    assert set(metrics) >= {"f1", "precision", "recall", "val_loss", "threshold"}
    assert 0.0 <= metrics["f1"] <= 1.0 and np.isfinite(metrics["val_loss"])
    assert np.allclose(
        frame_to_seconds(task.val_data.items[0].onsets[:1]), task.val_data.items[0].onsets[0] * 256 / 22050
    )


def test_bad_index_is_a_typed_error(corpus, tmp_path):
    root, index = corpus
    with pytest.raises(OnsetDataError, match="lacks columns"):
        OnsetData(index.drop("token_snapshot"), root, "train", TINY)
    with pytest.raises(OnsetDataError, match="does not exist"):
        OnsetData(index, tmp_path, "train", TINY)  # wrong root: the snapshots are not there
    with pytest.raises(OnsetDataError, match="no 'train' rows"):
        OnsetTask(index.filter(pl.col("split") == "val"), root, TINY)


class Crash(Exception):
    pass


def test_resume_mid_epoch_matches_uninterrupted(corpus, tmp_path):
    root, index = corpus
    config = TrainConfig(
        epochs=2, batch_size=4, lr=1e-3, warmup_steps=2, checkpoint_steps=2, progress=False, device="cpu"
    )
    task_cfg = OnsetTaskConfig(epoch_scale=0.5)  # 4 rows x 4 slots = 16 crops: 4 batches per epoch

    whole = train(OnsetTask(index, root, TINY, task_cfg), config, tmp_path / "a")

    def crash_at(step: int) -> None:
        if step == 6:  # mid epoch 1, just after the step-6 checkpoint
            raise Crash

    with pytest.raises(Crash):
        train(OnsetTask(index, root, TINY, task_cfg), config, tmp_path / "b", on_step=crash_at)
    resumed = train(OnsetTask(index, root, TINY, task_cfg), config, tmp_path / "b")
    assert resumed.resumed_from == {"epoch": 1, "batch": 2, "step": 6}
    assert [h["f1"] for h in resumed.history] == [h["f1"] for h in whole.history]
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in whole.history]
    assert [h["train_loss"] for h in resumed.history][0] == whole.history[0]["train_loss"]
