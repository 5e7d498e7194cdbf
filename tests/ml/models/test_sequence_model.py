"""Stage-2 sequence model: shapes, cache == training forward, loss terms, bf16, and a learning check."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from automapper_ml.generation.sequence_cache import ContextCache, start_cache, step_model
from automapper_ml.models.sequence import (
    SequenceConfig,
    SequenceInputs,
    SequenceModel,
    build_context,
    group_tensor,
)
from automapper_ml.tokenizer import (
    CELL0,
    DBEATS0,
    DFRAC0,
    DIR0,
    EOS,
    NOTE_L,
    NOTE_R,
    NOTE_VOCAB_SIZE,
    PAD,
)

CFG = replace(SequenceConfig.preset("tiny"), audio_window=128, dropout=0.0)


def note(color: int, cell: int, direction: int) -> list[int]:
    return [(NOTE_L, NOTE_R)[color], CELL0 + cell, DIR0 + direction]


def group(*objects: list[int], beats: int = 1) -> list[int]:
    return [DBEATS0 + beats, DFRAC0] + [t for o in objects for t in o] + [EOS]


def make_inputs(b: int = 3, seed: int = 0, cfg: SequenceConfig = CFG) -> tuple[SequenceInputs, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    history = [[group(note(0, 1, 1)), group(note(1, 2, 0), note(0, 1, 0))], [], [group(note(1, 3, 1))]][:b]
    history += [[group(note(0, 4, 2))]] * (b - len(history))
    ctx, age, frame = build_context(history, [[10 * (i + 1) for i in range(len(h))] for h in history], 96)
    w = cfg.audio_window
    inputs = SequenceInputs(
        torch.randn(2, cfg.n_mels, w, generator=g), torch.rand(2, cfg.n_structure, w, generator=g),
        torch.arange(b) % 2, torch.randint(w // 4, 3 * w // 4, (b,), generator=g), ctx, age, frame,
        torch.arange(b) % 5,
    )  # fmt: skip
    tokens = group_tensor(
        [group(note(1, 5, 0)), group(note(0, 2, 1), note(1, 9, 6)), group(note(0, 0, 8))][:b]
    )
    return inputs, tokens


def test_presets_and_shapes():
    assert SequenceConfig.preset("full").layers >= 8 and SequenceConfig.preset("full").d_model >= 512
    with pytest.raises(ValueError):
        SequenceConfig.preset("huge")
    with pytest.raises(ValueError):
        SequenceConfig(audio_stride=3)
    torch.manual_seed(0)
    model = SequenceModel(CFG).eval()
    inputs, tokens = make_inputs()
    logits = model(inputs, tokens)
    assert logits.shape == (3, tokens.shape[1], NOTE_VOCAB_SIZE)
    assert model.encode_audio(inputs.mel, inputs.structure).shape == (2, CFG.audio_positions, CFG.d_model)
    # the checkpoint contract: the model rebuilds from its saved config dict
    again = SequenceModel(SequenceConfig(**model.config.to_dict()))
    again.load_state_dict(model.state_dict())
    assert torch.allclose(again.eval()(inputs, tokens), logits)


def test_build_context_truncates_from_the_left():
    groups = [[[5, 6, EOS], [7, EOS]], []]
    ctx, age, frame = build_context(groups, [[100, 120], []], max_tokens=4)
    assert ctx.tolist() == [[6, EOS, 7, EOS], [PAD] * 4]
    assert age.tolist() == [[2, 2, 1, 1], [0] * 4]
    assert frame[0].tolist() == [100, 100, 120, 120]
    ctx, age, _ = build_context([[[5, EOS]] * 10], [[0] * 10], max_tokens=100, context_onsets=8)
    assert ctx.shape[1] == 16 and age[0, 0] == 8


def _full_and_stepped(model, inputs, tokens, dtype=torch.float32):
    """Without grad: the training forward's logits, those of feeding `tokens` one position at a time
    through a fresh cache, and that cache."""
    with torch.no_grad():
        full = model(inputs, tokens)
        cache = start_cache(model, inputs, dtype=dtype)
        steps = [step_model(model, tokens[:, i : i + 1], cache) for i in range(tokens.shape[1])]
    return full, torch.cat(steps, dim=1), cache


def test_cached_steps_equal_training_forward():
    torch.manual_seed(1)
    model = SequenceModel(CFG).eval()
    inputs, tokens = make_inputs()
    full, stepped, _ = _full_and_stepped(model, inputs, tokens)
    with torch.no_grad():
        cache2 = start_cache(model, inputs)  # a multi-token chunk then single steps
        chunked = torch.cat(
            [step_model(model, tokens[:, :3], cache2), step_model(model, tokens[:, 3:], cache2)], dim=1
        )
    assert (stepped - full).abs().max() < 1e-4
    assert (chunked - full).abs().max() < 1e-4
    # weight-derived inference constants (pre-transposed weights, context tables) follow training
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 0.01
    torch.optim.SGD(model.parameters(), lr=0.5).step()  # in place, as in training
    full, stepped, _ = _full_and_stepped(model, inputs, tokens)
    assert (stepped - full).abs().max() < 1e-4


def test_bfloat16_cache_stays_close_to_the_fp32_forward():
    torch.manual_seed(7)
    model = SequenceModel(CFG).eval()
    inputs, tokens = make_inputs()
    full, stepped, cache = _full_and_stepped(model, inputs, tokens, dtype=torch.bfloat16)
    assert (
        cache.cross_k[0].dtype == cache.self_k[0].dtype == torch.bfloat16 and stepped.dtype == torch.float32
    )
    err = (stepped - full).abs().max() / full.abs().max()
    assert 0 < err < 0.05, err  # bf16 rounding: close, not equal


def test_context_cache_matches_training_memory_and_reuses_groups():
    """Groups encoded once (keyed by tokens) + projected age/frame tables == the training path's K/V,
    including a group cut by left truncation, a group without EOS and rows of different lengths."""
    torch.manual_seed(5)
    model = SequenceModel(CFG).eval()
    a, b, c = group(note(0, 1, 1)), group(note(1, 2, 0), note(0, 1, 0)), group(note(1, 3, 1))[:-1]
    history = [[a, b, c, a], [b, a], [], [c, b]]
    ctx, age, frame = build_context(history, [[5, 40, 90, 130][: len(h)] for h in history], max_tokens=14)
    assert ctx[0, 0] != PAD and ctx[0].tolist()[:2] != a[:2]  # row 0's oldest group is cut
    cache = ContextCache(model)
    with torch.no_grad():
        kv, valid = cache.memory(ctx, age, frame)
        inputs = replace(make_inputs(4)[0], context=ctx, context_age=age, context_frame=frame)
        memory, valid_train = model.encode_context(inputs)
        for i, block in enumerate(model.blocks):
            k, v = block.cross_attn.project_kv(memory)  # (B, H, 1 + C, dh)
            kc, vc = kv.view(*kv.shape[:2], 2 * CFG.layers, CFG.heads, -1)[:, :, 2 * i : 2 * i + 2].unbind(2)
            for train, cached in ((k, kc), (v, vc)):
                assert (train.transpose(1, 2) - cached)[valid].abs().max() < 1e-4
    assert torch.equal(valid, valid_train)
    assert cache.encoded == 5  # a, b, c and b cut two ways (rows 0 and 1), each once
    again = cache.memory(ctx.flip(0), age.flip(0), frame.flip(0))[0]
    assert cache.encoded == 5 and torch.allclose(again.flip(0), kv)  # all reused


def test_context_groups_are_encoded_on_their_own():
    """Changing one context group leaves the other groups' memory unchanged: that independence is
    what makes the per-group cache exact."""
    torch.manual_seed(6)
    model = SequenceModel(CFG).eval()
    first, second = group(note(0, 1, 1)), group(note(1, 2, 0))
    other = group(note(0, 7, 3), note(1, 8, 2))
    inputs = make_inputs(1)[0]
    with torch.no_grad():
        mems = []
        for g in (first, other):
            ctx, age, frame = build_context([[g, second]], [[10, 20]], 96)
            mems.append(
                model.encode_context(replace(inputs, context=ctx, context_age=age, context_frame=frame))[0]
            )
    n = len(second)
    assert (mems[0][:, -n:] - mems[1][:, -n:]).abs().max() < 1e-5  # the newest group's memory
    assert (mems[0][:, 0] - mems[1][:, 0]).abs().max() < 1e-6  # the start slot


def test_audio_and_context_change_the_output():
    torch.manual_seed(2)
    model = SequenceModel(CFG).eval()
    inputs, tokens = make_inputs()
    base = model(inputs, tokens)
    louder = replace(inputs, mel=inputs.mel.flip(-1))
    no_ctx = replace(inputs, context=torch.full_like(inputs.context, PAD))
    assert (model(louder, tokens) - base).abs().max() > 1e-4
    assert (model(no_ctx, tokens) - base).abs().max() > 1e-4


def test_loss_terms_and_gradients():
    torch.manual_seed(3)
    model = SequenceModel(CFG).train()
    inputs, tokens = make_inputs()
    terms = model.loss_terms(model(inputs, tokens), tokens, inputs.context)
    assert terms["loss"].dtype == torch.float32 and torch.isfinite(terms["loss"])
    assert terms["parity"] > 0  # rows 0 and 2 have a previous note of the hand they play now
    terms["loss"].backward()
    assert model.token.weight.grad is not None and model.token.weight.grad.abs().sum() > 0


def _parity_logits(good: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One row: the red hand's last context note cut down (1); logits favour up (good) or down again."""
    tokens = group_tensor([group(note(0, 1, 0))])  # BOS DBEATS DFRAC NOTE_L CELL DIR EOS
    context = torch.tensor([group(note(0, 1, 1))])
    logits = torch.zeros(1, tokens.shape[1], NOTE_VOCAB_SIZE, requires_grad=False)
    dir_pos = tokens[0].tolist().index(DIR0 + 0) - 1  # logits here predict the DIR token
    logits[0, dir_pos, DIR0 + (0 if good else 1)] = 4.0
    return logits.requires_grad_(True), tokens, context


def test_parity_term_is_differentiable_and_prefers_alternation():
    model = SequenceModel(CFG)
    good, bad = _parity_logits(True), _parity_logits(False)
    p_good = model.parity_penalty(*good)
    p_bad = model.parity_penalty(*bad)
    assert p_good < p_bad and p_bad > 0.5
    p_bad.backward()
    grad = bad[0].grad
    assert grad is not None and grad[0, :, DIR0 + 1].abs().sum() > 0  # pushes the repeated down swing
    # a dot or a horizontal previous note is neutral: no penalty
    neutral = torch.tensor([group(note(0, 1, 8))])
    assert model.parity_penalty(bad[0], bad[1], neutral) == 0


def test_bf16_autocast_forward_keeps_fp32_loss():
    torch.manual_seed(4)
    model = SequenceModel(CFG).train()
    inputs, tokens = make_inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(inputs, tokens)
        loss = model.loss(logits, tokens, inputs.context)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()


# ---------------------------------------------------------------------------------- learning check


def _click_task(n: int, seed: int, cfg: SequenceConfig):
    """The click's quarter of the window decides the note's cell: only audio can tell which."""
    g = torch.Generator().manual_seed(seed)
    w = cfg.audio_window
    mel = torch.randn(n, cfg.n_mels, w, generator=g) * 0.3 - 4
    quarter = torch.randint(0, 4, (n,), generator=g)
    click = quarter * (w // 4) + torch.randint(4, w // 4 - 4, (n,), generator=g)
    for i in range(n):
        mel[i, :, click[i] - 1 : click[i] + 2] += 4.0
    structure = torch.zeros(n, cfg.n_structure, w)
    ctx, age, frame = build_context([[group(note(1, 0, 1))]] * n, [[w // 4]] * n, cfg.max_context_tokens)
    inputs = SequenceInputs(mel, structure, torch.arange(n), torch.full((n,), w // 2), ctx, age, frame,
                            torch.full((n,), 3))  # fmt: skip
    tokens = group_tensor([group(note(1, 4 + int(q), 0)) for q in quarter])
    return inputs, tokens


def _train(cfg: SequenceConfig, zero_audio: bool, steps: int) -> float:
    torch.manual_seed(0)
    model = SequenceModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    train_in, train_tok = _click_task(512, 1, cfg)
    test_in, test_tok = _click_task(256, 2, cfg)
    if zero_audio:
        train_in = replace(train_in, mel=torch.zeros_like(train_in.mel))
        test_in = replace(test_in, mel=torch.zeros_like(test_in.mel))
    for step in range(steps):
        idx = torch.randint(0, 512, (32,), generator=torch.Generator().manual_seed(step))
        batch = replace(train_in.select(idx), mel=train_in.mel[idx], structure=train_in.structure[idx],
                        window=torch.arange(32))  # fmt: skip
        loss = model.loss(model(batch, train_tok[idx]), train_tok[idx], batch.context)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(test_in, test_tok)[:, :-1].argmax(-1)
    target = test_tok[:, 1:]
    return float((pred == target)[target != PAD].float().mean())


@pytest.mark.slow
def test_learns_from_audio_better_than_majority_and_zeroed_audio():
    cfg = replace(CFG, cond_dropout=0.2, parity_weight=0.0)
    _, tokens = _click_task(256, 2, cfg)
    target = tokens[:, 1:]
    majority = torch.mode(target, dim=0).values  # best constant guess at each position
    baseline = float((target == majority[None]).float().mean())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend (3 s a step on a loaded 2-core box)
    try:
        with_audio = _train(cfg, zero_audio=False, steps=300)  # ~30 s on one core; learnt by ~250
        without = _train(cfg, zero_audio=True, steps=300)
    finally:
        torch.set_num_threads(threads)
    assert with_audio > baseline + 0.05, (with_audio, baseline)
    assert with_audio > without + 0.05, (with_audio, without)
