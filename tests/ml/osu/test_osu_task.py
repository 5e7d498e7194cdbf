"""osu! training data and task: samples cut as generation decodes, masks, the majority baseline, the
zero_audio ablation, quarantine of broken sets and a tiny train run whose best.pt loads. Synthetic
sets: clicks on the hit objects' times, maps through the formats/osu writer."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

import automapper_ml.formats.osu as fo
import automapper_ml.generation.osu as gen
from automapper_ml.audio import SAMPLE_RATE
from automapper_ml.formats.osu.model import General, Metadata
from automapper_ml.models.osu import OsuConfig, OsuModel, load_osu_model
from automapper_ml.tokenizer_osu import EOS, PAD, SOS
from automapper_ml.training.loop import TrainConfig
from automapper_ml.training.osu import load_osu_preset, train_osu_model
from automapper_ml.training.osu_task import IGNORE, OsuTask, OsuTaskConfig, set_table

# small windows and positions so a 14 s song has several windows and the max_tokens limit is hit
CFG = replace(OsuConfig.preset("tiny"), audio_window=256, max_tokens=48, context_tokens=12)
SECONDS = 14.0


def synthetic_map(seed: int, version: str, beat: float = 500.0) -> fo.OsuMap:
    rng = np.random.default_rng(seed)
    objects: list = []
    t = 1000.0
    while t < (SECONDS - 2) * 1000:
        x, y = float(rng.integers(64, 448)), float(rng.integers(64, 320))
        kind = rng.random()
        if kind < 0.6:
            objects.append(fo.Circle(x, y, t, new_combo=len(objects) % 4 == 0))
            t += beat / 2
        elif kind < 0.95:
            end = (min(x + 80, 500.0), y)
            objects.append(fo.Slider(x, y, t, curve=(fo.CurveSegment("L", (end,)),), slides=1, length=80.0))
            t += beat
        else:
            objects.append(fo.Spinner(256, 192, t, end=t + 2 * beat))
            t += 3 * beat
    return fo.OsuMap(
        general=General(audio_filename="audio.wav"),
        metadata=Metadata(title=f"song{seed}", artist="synth", creator="test", version=version),
        difficulty=fo.Difficulty(hp=4, cs=4, od=5 + seed % 3, ar=6 + seed % 3),
        timing_points=(fo.TimingPoint(0.0, beat),),
        hit_objects=tuple(objects),
    )


def click_audio(m: fo.OsuMap) -> bytes:
    audio = np.random.default_rng(0).normal(0, 0.003, int(SECONDS * SAMPLE_RATE)).astype(np.float32)
    for o in m.hit_objects:
        i = int(o.time / 1000 * SAMPLE_RATE)
        audio[i : i + 400] += 0.8 * np.exp(-np.arange(len(audio[i : i + 400])) / 60.0)
    buf = io.BytesIO()
    sf.write(buf, audio, SAMPLE_RATE, format="WAV")
    return buf.getvalue()


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("osz")
    paths = []
    for i in range(4):
        maps = [synthetic_map(i, "Normal"), synthetic_map(10 + i, "Hard", beat=400.0)]
        paths.append(fo.write_osz(root / f"set{i}.osz", maps, {"audio.wav": click_audio(maps[0])}))
    broken = fo.write_osz(root / "broken.osz", [synthetic_map(9, "X")], {"audio.wav": b"not audio at all"})
    return paths, broken


@pytest.fixture(scope="module")
def task(sets):
    paths, broken = sets
    rows = [(str(p), None, "val" if i == 3 else "train") for i, p in enumerate(paths)]
    return OsuTask([*rows, (str(broken), None, "train")], CFG, OsuTaskConfig(val_batch_size=8))


def test_broken_set_is_quarantined_with_a_reason(task, sets, tmp_path):
    _, broken = sets
    assert set(task.quarantined) == {broken.name}
    assert task.quarantined[broken.name].startswith("audio 'audio.wav' cannot be decoded")
    (tmp_path / "junk.osz").write_bytes(b"PK not a zip")
    t = OsuTask([*(str(p) for p in sets[0]), str(tmp_path / "junk.osz")], CFG)
    assert "unreadable set" in t.quarantined["junk.osz"]


def test_set_table_plain_paths_split_every_nth(sets):
    rows = set_table(sets[0], val_every=2)
    assert [r[2] for r in rows] == ["train", "val", "train", "val"]
    assert all(r[1] is None for r in rows)


def test_sample_shapes_and_masks(task):
    data = task.train_data
    assert len(data.items) == 6 and len(data.windows) > len(data.items)  # several windows each
    batch = data.batch(list(range(len(data))))
    b, t = batch["tokens"].shape
    assert batch["mel"].shape == (b, CFG.n_mels, CFG.audio_window)
    assert batch["structure"].shape == (b, CFG.n_structure, CFG.audio_window)
    assert batch["cond"].shape == (b, 5) and batch["frames"].shape == (b, t) and t <= CFG.max_tokens
    assert (batch["tokens"][:, 0] == SOS).all()
    targets, tokens = batch["targets"], batch["tokens"]
    for r in range(b):
        _, ws, c0, i0, i1 = data.windows[r]
        n = 1 + i1 - c0
        assert (tokens[r, n:] == PAD).all() and (targets[r, n - 1 :] == IGNORE).all()
        assert (targets[r, : i0 - c0] == IGNORE).all()  # context positions are not trained
        assert torch.equal(targets[r, i0 - c0 : n - 1], tokens[r, i0 - c0 + 1 : n])
        assert i0 - c0 <= CFG.context_tokens
    # star rating from rosu-pp-py when importable, else NaN ("unknown")
    stars = batch["cond"][:, 4]
    assert torch.isfinite(batch["cond"][:, :4]).all()
    assert torch.isfinite(stars).all() or torch.isnan(stars).all()
    # every token of a difficulty is a target exactly once, EOS included
    for k, item in enumerate(data.items):
        rows = data.windows[data.windows[:, 0] == k]
        assert rows[0, 3] == 1 and (rows[1:, 3] == rows[:-1, 4]).all() and rows[-1, 4] == len(item.tokens)


def test_samples_equal_what_generation_feeds(task, monkeypatch):
    """Replay generate_osu with its sampler forced to the human tokens: every window's audio, decoder
    tokens and cursor frames equal the training samples of that difficulty."""
    data, k = task.train_data, 1
    item = data.items[k]
    s = data.sets[item.set_index]
    fed: list[dict] = []
    start, step = gen.OsuCache.start, gen._step
    stream = iter(item.tokens[1:].tolist())

    def record_start(self, mel, structure, cond):
        fed.append(
            {"mel": mel.clone(), "structure": structure.clone(), "tokens": [], "frames": [], "phases": []}
        )
        return start(self, mel, structure, cond)

    def record_step(cache, tokens, frames, ws, device, phases):
        fed[-1]["tokens"] += tokens
        fed[-1]["frames"] += [f - ws for f in frames]
        fed[-1]["phases"] += phases
        return step(cache, tokens, frames, ws, device, phases)

    monkeypatch.setattr(gen.OsuCache, "start", record_start)
    monkeypatch.setattr(gen, "_step", record_step)
    monkeypatch.setattr(gen, "sample_top_p", lambda probs, p, g: torch.tensor([next(stream)]))
    timing = (fo.TimingPoint(0.0, 500.0 if k % 2 == 0 else 400.0),)
    out = gen.generate_osu(OsuModel(CFG), s.mel, s.structure, timing, item.cond)
    assert out.tokens == item.tokens.tolist()
    ks = np.flatnonzero(data.windows[:, 0] == k)
    assert len(fed) == len(ks)
    assert (1 + data.windows[ks, 4] - data.windows[ks, 2]).max() == CFG.max_tokens  # that switch too
    for w, j in zip(fed, ks, strict=True):
        tokens, frames, _, _ = data.sample(int(j))
        phases = data.sample_phases(int(j))
        if tokens[-1] == EOS:  # generation stops on EOS without feeding it
            tokens, frames, phases = tokens[:-1], frames[:-1], phases[:-1]
        assert w["tokens"] == tokens and w["frames"] == frames and w["phases"] == phases
        batch = data.batch([int(j)])
        assert torch.equal(batch["mel"], w["mel"]) and torch.equal(batch["structure"], w["structure"])
        assert batch["phases"][0, : len(phases)].tolist() == phases[: batch["phases"].shape[1]]


def test_majority_baseline_and_validation(task):
    counts = np.bincount(task.train_data.target_tokens())
    assert task.majority_token == int(counts.argmax())
    metrics = task.validate(OsuModel(CFG), torch.device("cpu"))
    batch = task.val_data.batch(task._val)
    real = batch["targets"] != IGNORE
    share = float(((batch["targets"] == task.majority_token) & real).sum() / real.sum())
    assert metrics["majority_accuracy"] == pytest.approx(share)
    assert metrics["val_targets"] == float(real.sum())
    assert 0 <= metrics["token_accuracy"] <= 1 and np.isfinite(metrics["val_loss"])


def test_zero_audio_zeroes_the_audio_input(task):
    on = task.train_data.batch([0, 1])
    off = task.train_data.batch([0, 1], zero_audio=True)
    assert on["mel"].abs().sum() > 0
    assert not off["mel"].any() and not off["structure"].any()
    assert torch.equal(on["tokens"], off["tokens"]) and torch.equal(on["frames"], off["frames"])
    t = OsuTask([str(p) for p in task.train_data.sets[0].path.parent.glob("set*.osz")], CFG,
                OsuTaskConfig(zero_audio=True))  # fmt: skip
    assert not t.make_batch([0, 1], torch.Generator())["mel"].any()


def test_tiny_train_run_writes_a_loadable_checkpoint(sets, tmp_path):
    paths, broken = sets
    logs: list[str] = []
    cfg = TrainConfig(epochs=2, batch_size=8, warmup_steps=2, device="cpu", progress=False)
    result = train_osu_model([*map(str, paths), str(broken)], tmp_path / "run", CFG, cfg, log=logs.append)
    assert result.best_path is not None and result.best_path.name == "best.pt"
    model = load_osu_model(result.best_path)
    assert isinstance(model, OsuModel) and model.config == CFG
    assert result.epochs == 2 and result.samples_per_second > 0
    assert broken.name in result.quarantined and any("quarantined" in line for line in logs)
    assert 0 <= result.majority_accuracy <= 1 and 0 <= result.token_accuracy <= 1


def test_presets_load():
    for name, size in (("demo", "tiny"), ("cpu", "tiny"), ("gpu", "full")):
        preset = load_osu_preset(name)
        assert preset.model == OsuConfig.preset(size) and preset.model_name == size
    assert load_osu_preset().name == "demo"
