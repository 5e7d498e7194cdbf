"""Proof of learning for stage 3 on the demo corpus (slow: a few minutes on CPU with `tiny`).

Trained on the train songs, validated on held-out songs: teacher-forced token accuracy must beat
both trivial baselines (majority token per group position; repeat the previous step), and the
same model trained with the audio zeroed must not do better. Generation on a held-out song must
decode completely. The dataset/task plumbing checks at the top are fast.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.generation.lighting import LightingOptions, generate_lights
from automapper_ml.models.lighting import LightingConfig, interp_frames, load_lighting_model
from automapper_ml.synth import DemoConfig, generate_demo_corpus
from automapper_ml.tokenizer import LIGHT_BOS, LIGHT_EOS, LIGHT_PAD, LightGrammar, NoteGroup, decode_lights
from automapper_ml.training.lighting import load_lighting_preset, train_lighting_model
from automapper_ml.training.lighting_task import (
    LightingData,
    LightingDataError,
    LightingTask,
    LightingTaskConfig,
    baseline_accuracies,
)
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.onset_task import index_zips

HELD_OUT = 3  # songs validated on (never trained on)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    home = tmp_path_factory.mktemp("lighting_corpus")
    report = generate_demo_corpus(
        home,
        DemoConfig(seed=3, n_songs=9, min_seconds=30, max_seconds=36, include_broken=False, n_reference=0),
    )
    song_of = {m.path.stem: m.song_key for m in report.maps}
    songs = sorted(set(song_of.values()))
    splits = {s: ("val" if i < HELD_OUT else "train") for i, s in enumerate(songs)}
    index = index_zips([m.path for m in report.maps], home, song_ids=song_of, splits=splits)
    return home, index


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny model, busy 2-core machine: threads only spin
    yield
    torch.set_num_threads(threads)


def test_task_batches_and_baselines(corpus):
    home, index = corpus
    config = LightingConfig.preset("tiny")
    task = LightingTask(index, home, config)
    assert task.train_size() == sum(it.n_steps for it in task.train_data.items) > 0
    batch = task.make_batch(list(range(0, 64, 4)), torch.Generator())
    assert batch["cells"].shape == (16, config.n_cell_features, config.window + 2 * config.receptive)
    assert batch["ctx_tokens"].shape == (16, config.max_context_events, 5)
    inputs, targets = batch["inputs"], batch["targets"]
    assert (inputs[:, 0] == LIGHT_BOS).all()
    assert ((targets == LIGHT_EOS).sum(1) == 1).all()  # one EOS per group, then PAD
    assert torch.equal(
        inputs[:, 1:][targets[:, 1:] != LIGHT_PAD], targets[:, :-1][targets[:, 1:] != LIGHT_PAD]
    )
    assert (batch["cells"][:, -1].sum(1) > 0).all()  # every window holds cells inside the song
    grammar = LightGrammar(0.5)
    for row in targets.tolist():
        assert grammar.state_after([t for t in row if t != LIGHT_PAD]).can_end
    zero = LightingTask(index, home, config, LightingTaskConfig(zero_audio=True)).make_batch(
        [0, 1], torch.Generator()
    )
    n_audio = 2 * (config.n_mels + config.n_structure)
    assert (zero["cells"][:, :n_audio] == 0).all() and zero["cells"][:, n_audio:].abs().sum() > 0
    base = baseline_accuracies(task.train_data, task.val_data)
    assert 0.0 < base["repeat_previous"] < 1.0 and 0.0 < base["majority_position"] < 1.0
    with pytest.raises(LightingDataError):
        LightingData(index.drop("weight"), home, "train", config)
    with pytest.raises(LightingDataError):
        LightingTask(index, home, config, train_split="nope")
    demo = load_lighting_preset("demo")
    assert demo.model == config and demo.train.epochs > 0 and demo.task.max_val_steps > 0


def _train(home, index, out, zero_audio: bool):
    return train_lighting_model(
        index,
        home,
        out,
        LightingConfig.preset("tiny"),
        TrainConfig(epochs=4, batch_size=64, lr=2e-3, warmup_steps=30, progress=False, patience=10, seed=0),
        task_config=LightingTaskConfig(zero_audio=zero_audio, max_val_steps=1200),
        extra_state={"test": "lighting"},
    )


@pytest.mark.slow
def test_lighting_model_learns_from_audio_and_notes(corpus, tmp_path):
    home, index = corpus
    with_audio = _train(home, index, tmp_path / "audio", zero_audio=False)
    without = _train(home, index, tmp_path / "zero", zero_audio=True)
    base = with_audio.baselines
    print(
        f"\nlighting held-out token accuracy {with_audio.token_accuracy:.4f} "
        f"(val loss {with_audio.val_loss:.4f}), "
        f"audio zeroed {without.token_accuracy:.4f} (val loss {without.val_loss:.4f}); baselines "
        f"majority/position {base['majority_position']:.4f}, repeat previous {base['repeat_previous']:.4f}; "
        f"{with_audio.train_steps} train steps, {with_audio.val_steps} val steps, {with_audio.seconds:.0f} s"
    )
    assert with_audio.token_accuracy > base["majority_position"] + 0.15
    assert with_audio.token_accuracy > base["repeat_previous"] + 0.3
    assert without.token_accuracy <= with_audio.token_accuracy + 0.01  # audio never hurts
    assert without.val_loss > with_audio.val_loss  # and the model uses it: lower held-out loss

    model = load_lighting_model(with_audio.best_path)
    data = LightingData(index, home, "val", model.config)
    item = data.items[0]
    audio = data.reader(item.audio_snapshot).get(item.map_key, ["mel", "structure", "beats"])
    notes = data.reader(item.token_snapshot).get(item.key, ["note_tokens", "note_offsets", "note_beats"])
    offs = notes["note_offsets"]
    groups = [NoteGroup(float(b), notes["note_tokens"][offs[i] : offs[i + 1]].tolist())
              for i, b in enumerate(notes["note_beats"])]  # fmt: skip
    mel = np.asarray(audio["mel"], dtype=np.float32)
    n_steps = int(math.floor(mel.shape[1] * FRAME_SECONDS / np.diff(audio["beats"]).mean() * 2))
    beats = np.arange(n_steps) * 0.5
    sbf = np.stack([beats, interp_frames(audio["beats"], beats) / FRAME_SECONDS], axis=1)
    lights = generate_lights(model, mel, np.asarray(audio["structure"], np.float32), groups, sbf,
                             LightingOptions(difficulty=item.difficulty))  # fmt: skip
    decoded = decode_lights(lights)
    assert len(lights) == n_steps and decoded.dropped == 0
    assert len(decoded.events) > n_steps // 8  # it lights the song, not just EOS
