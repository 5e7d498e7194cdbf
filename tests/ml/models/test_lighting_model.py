"""Lighting model mechanics: shapes, bf16 on CPU, windowed == whole-song encoding, KV cache == full
decode, batched chunked generation == naive one-step-at-a-time decoding, grammar-valid output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automapper_ml.generation.lighting import LightingOptions, generate_lights
from automapper_ml.models.lighting import (
    LightingConfig,
    LightingModel,
    cell_features,
    context_arrays,
    load_lighting_model,
    mel_stats,
    note_cells_of,
    note_group_features,
    step_cells,
)
from automapper_ml.tokenizer import (
    LIGHT_BOOST_IDS,
    LIGHT_BOS,
    LIGHT_COLOR_IDS,
    LIGHT_EOS,
    LIGHT_EVENT_TOKENS,
    LIGHT_PAD,
    LIGHT_VOCAB,
    LIGHT_VOCAB_SIZE,
    LightGrammar,
    NoteGroup,
    decode_lights,
    split_light_events,
    truncate_light_group,
)

FPS = 22050 / 256
ID = {n: i for i, n in enumerate(LIGHT_VOCAB)}

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/ml/conftest.py: the ops are tiny


def _model(seed: int = 0) -> LightingModel:
    torch.manual_seed(seed)
    return LightingModel(LightingConfig.preset("tiny")).eval()


def _song(n_steps: int = 20, seed: int = 0):
    """Random audio of n_steps half beats at 120 BPM, a few note groups, (beat, frame) per step."""
    rng = np.random.default_rng(seed)
    t = int(n_steps * 0.25 * FPS) + 40
    mel = rng.normal(-4, 1, (80, t)).astype(np.float32)
    structure = rng.random((6, t)).astype(np.float32)
    notes = [NoteGroup(float(b), [5, 70, 90, 99, LIGHT_EOS]) for b in np.arange(0, n_steps * 0.5, 1.0)]
    sbf = np.stack([np.arange(n_steps) * 0.5, np.arange(n_steps) * 0.25 * FPS + 3.0], axis=1)
    return mel, structure, notes, sbf


def _batch(config: LightingConfig, b: int = 3, t: int = 7):
    g = torch.Generator().manual_seed(1)
    cells = torch.randn(b, config.n_cell_features, config.window + 2 * config.receptive, generator=g)
    ctx = torch.randint(3, LIGHT_VOCAB_SIZE, (b, config.max_context_events, LIGHT_EVENT_TOKENS), generator=g)
    age = torch.randint(0, config.context_steps + 1, (b, config.max_context_events), generator=g)
    tokens = torch.randint(3, LIGHT_VOCAB_SIZE, (b, t), generator=g)
    tokens[:, 0] = LIGHT_BOS
    return cells, torch.tensor([0, 3, 4][:b]), torch.tensor([0, 5, 7][:b]), ctx, age, tokens


def test_forward_shapes_loss_and_gradients():
    model = _model().train()
    cells, diff, bar, ctx, age, tokens = _batch(model.config)
    logits = model(cells, diff, bar, ctx, age, tokens)
    assert logits.shape == (3, 7, LIGHT_VOCAB_SIZE)
    targets = tokens.roll(-1, dims=1)
    targets[:, -1] = LIGHT_PAD
    loss = model.loss(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing


def test_bf16_autocast_on_cpu_keeps_loss_fp32():
    model = _model().train()
    cells, diff, bar, ctx, age, tokens = _batch(model.config)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(cells, diff, bar, ctx, age, tokens)
        loss = model.loss(logits, torch.full_like(tokens, LIGHT_EOS))
    assert logits.dtype == torch.bfloat16
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()


def test_kv_cached_steps_match_full_decode():
    model = _model()
    cells, diff, bar, ctx, age, tokens = _batch(model.config)
    with torch.no_grad():
        memory, valid = model.memory(model.encode_cells(cells), diff, bar, ctx, age)
        full = model.decode(tokens, memory, valid)
        cache = model.start(memory, valid)
        stepped = torch.stack([model.step(tokens[:, i], cache) for i in range(tokens.shape[1])], dim=1)
    torch.testing.assert_close(stepped, full, rtol=1e-4, atol=1e-4)


def test_windowed_encoding_equals_whole_song_encoding():
    """Training encodes one step's window; generation encodes the song once and slices it."""
    model = _model()
    c = model.config
    mel, structure, notes, sbf = _song(12)
    cells_of = note_cells_of(np.array([g.beat for g in notes]), c.step, c.cells_per_step)
    feats = note_group_features([g.tokens for g in notes])
    stats = mel_stats(mel)
    with torch.no_grad():
        whole = step_cells(c, mel, structure, sbf[:, 1], cells_of, feats, 0, 12, stats)
        song = model.encode_cells(torch.from_numpy(whole)[None])[0]
        for k in (0, 5, 11):
            one = step_cells(c, mel, structure, sbf[:, 1], cells_of, feats, k, 1, stats)
            window = model.encode_cells(torch.from_numpy(one)[None])[0]
            expected = song[k * c.cells_per_step : k * c.cells_per_step + c.window]
            torch.testing.assert_close(window, expected, rtol=1e-5, atol=1e-5)


def test_cell_features_place_hits_notes_and_song_bounds():
    t = 200
    mel = np.full((80, t), -5.0, dtype=np.float32)
    mel[:, 100] = 2.0  # a click at frame 100 = step 4 (frames 0, 25, 50 ...)
    structure = np.zeros((6, t), dtype=np.float32)
    step_frames = np.arange(0, 10) * 25.0
    cells_of = note_cells_of(np.array([2.0, 2.125]), 0.5, 4)  # beat 2 = step 4 = cell 16; 2.125 -> 17
    feats = note_group_features([[ID["EOS"]], [ID["EOS"]]])
    out = cell_features(mel, structure, step_frames, cells_of, feats, -4, 50, 4, mel_stats(mel))
    mel_max = out[80:160].mean(axis=0)
    assert int(np.argmax(mel_max)) == 16 + 4  # cell 16 (column 20) pools frames around its start
    assert out[-2, 20] == 1 and out[-2, 21] == 1 and out[-2].sum() == 2
    assert out[-1, 0] == 0 and out[-1, 4] == 1  # before the song / inside it
    assert out[-1, -1] == 0  # cell 45 starts at frame ~281 > 200: outside


def test_events_context_and_truncation():
    group = [ID["OFFSET_0"], ID["LTYPE_4"], ID["LVALUE_2"], ID["OFFSET_6"], ID["BOOST_ON"], LIGHT_EOS]
    events = split_light_events(group)
    assert events == [group[:3], group[3:5]]
    tokens, age = context_arrays([events, None, [events[0]]], context_steps=16, max_events=4)
    assert age.tolist() == [3, 3, 1, 0]
    assert tokens[2, :3].tolist() == group[:3] and (tokens[3] == LIGHT_PAD).all()
    tokens, age = context_arrays([events, [events[0]]], context_steps=1, max_events=4)
    assert age.tolist() == [1, 0, 0, 0]
    assert truncate_light_group(group, 5) == [*group[:3], LIGHT_EOS]
    assert truncate_light_group(group, 6) == group


def _naive(
    model: LightingModel, mel, structure, notes, sbf, first: int, stop: int, cap: int
) -> list[list[int]]:
    """Greedy, one step at a time, each token from a full decode of the prefix (no cache, no rows)."""
    c = model.config
    cells_of = note_cells_of(np.array([g.beat for g in notes]), c.step, c.cells_per_step)
    feats = note_group_features([g.tokens for g in notes])
    grammar = LightGrammar(c.step)
    groups: list[list[int]] = []
    with torch.no_grad():
        for k in range(first, stop):
            one = step_cells(c, mel, structure, sbf[:, 1], cells_of, feats, k, 1, mel_stats(mel))
            ctx, age = context_arrays(
                [split_light_events(g) for g in groups], c.context_steps, c.max_context_events
            )
            memory, valid = model.memory(model.encode_cells(torch.from_numpy(one)[None]), torch.tensor([3]),
                                         torch.tensor([k % c.bar_steps]), torch.from_numpy(ctx)[None],
                                         torch.from_numpy(age)[None])  # fmt: skip
            state, tokens = grammar.start(), []
            while not tokens or tokens[-1] != LIGHT_EOS:
                logits = model.decode(torch.tensor([[LIGHT_BOS, *tokens]]), memory, valid)[0, -1]
                allowed = state.allowed().copy()
                if len(tokens) + LIGHT_EVENT_TOKENS + 1 > cap:
                    allowed[ID["OFFSET_0"] : ID["OFFSET_0"] + 96] = False
                t = int(logits.masked_fill(~torch.from_numpy(allowed), float("-inf")).argmax())
                state = state.advance(t)
                tokens.append(t)
            groups.append(tokens)
    return groups


@pytest.mark.parametrize("chunk, burn", [(0, 0), (4, 3)])
def test_batched_cached_generation_equals_naive_decoding(chunk, burn):
    model = _model(2)
    mel, structure, notes, sbf = _song(11, seed=2)
    cap = 12
    got = generate_lights(model, mel, structure, notes, sbf,
                          LightingOptions(chunk_steps=chunk, burn_in=burn, max_group_tokens=cap))  # fmt: skip
    n = len(sbf)
    expected: list[list[int]] = []
    for s in range(0, n, chunk or n):
        first = max(0, s - burn)
        expected += _naive(model, mel, structure, notes, sbf, first, min(s + (chunk or n), n), cap)[
            s - first :
        ]
    assert [g.tokens for g in got] == expected
    assert [g.beat for g in got] == sbf[:, 0].tolist()


def test_sampled_generation_always_decodes_and_respects_options():
    model = _model(3)
    mel, structure, notes, sbf = _song(24, seed=3)
    opts = LightingOptions(temperature=1.5, top_p=1.0, seed=7, chunk_steps=6, burn_in=2, max_group_tokens=20)
    groups = generate_lights(model, mel, structure, notes, sbf, opts)
    assert len(groups) == 24
    grammar = LightGrammar(0.5)
    n_events = 0
    for g in groups:
        assert len(g.tokens) <= 20 and g.tokens[-1] == LIGHT_EOS
        assert grammar.state_after(g.tokens).can_end  # every token allowed, ends on a boundary
        n_events += len(split_light_events(g.tokens))
    decoded = decode_lights(groups)
    assert decoded.dropped == 0 and len(decoded.events) + len(decoded.boosts) == n_events > 0
    assert generate_lights(model, mel, structure, notes, sbf, opts) == groups  # seeded: deterministic
    plain_opts = LightingOptions(temperature=1.5, top_p=1.0, chroma=False, boosts=False)
    plain = generate_lights(model, mel, structure, notes, sbf, plain_opts)
    used = {t for g in plain for t in g.tokens}
    assert not used & set(LIGHT_COLOR_IDS.tolist()) and not used & set(LIGHT_BOOST_IDS.tolist())


def test_generation_rejects_bad_input():
    model = _model()
    mel, structure, notes, sbf = _song(4)
    with pytest.raises(ValueError):
        generate_lights(model, mel, structure, notes, sbf[:, :1])
    with pytest.raises(ValueError):
        generate_lights(model, mel[:40], structure, notes, sbf)
    with pytest.raises(ValueError):
        generate_lights(model, mel, structure, notes, np.array([[0.0, np.nan]]))
    with pytest.raises(TypeError):
        generate_lights(model, mel, structure, ["not a group"], sbf)
    assert generate_lights(model, mel, structure, notes, np.zeros((0, 2))) == []


def test_presets_and_checkpoint_loading(tmp_path):
    assert LightingConfig.preset("full").d_model > LightingConfig.preset("tiny").d_model
    with pytest.raises(ValueError):
        LightingConfig.preset("huge")
    with pytest.raises(ValueError):
        LightingConfig(step=0.3)
    model = _model(4)
    path = tmp_path / "best.pt"
    torch.save({"stage": "lighting", "model_config": {"model": model.config.to_dict(), "task": {}},
                "model": model.state_dict()}, path)  # fmt: skip
    loaded = load_lighting_model(path)
    assert loaded.config == model.config and not loaded.training
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    torch.save({"stage": "onset", "model": {}}, tmp_path / "onset.pt")
    with pytest.raises(ValueError, match="not a lighting"):
        load_lighting_model(tmp_path / "onset.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable"):
        load_lighting_model(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        load_lighting_model(tmp_path / "missing.pt")
