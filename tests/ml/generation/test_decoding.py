"""Stage-2 decoding with a random-weight tiny model: cache == no cache, beams, sampling, CFG, grammar."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from automapper_ml.generation.decoding import DecodingOptions, decode_groups, decode_song
from automapper_ml.models.sequence import SequenceConfig, SequenceInputs, SequenceModel, build_context
from automapper_ml.tokenizer import (
    BOS,
    CELL0,
    DBEATS0,
    DFRAC0,
    DIR0,
    EOS,
    NOTE_R,
    NoteGrammar,
    decode_flat,
    delta_tokens,
)

CFG = replace(SequenceConfig.preset("tiny"), audio_window=128, dropout=0.0)

pytestmark = pytest.mark.usefixtures("one_thread_module")  # tests/ml/conftest.py: tiny matrices


@pytest.fixture(scope="module")
def model() -> SequenceModel:
    torch.manual_seed(3)  # a random model whose groups all end within test_song_decoding's 12 tokens
    m = SequenceModel(CFG).eval()
    with torch.no_grad():  # sharper than the 0.02 init, so choices differ between rows and options
        m.token.weight.mul_(8.0)
    return m


def rows(b: int = 4, seed: int = 0) -> SequenceInputs:
    g = torch.Generator().manual_seed(seed)
    ctx_group = [DBEATS0 + 1, DFRAC0, NOTE_R, CELL0 + 2, DIR0 + 1, EOS]
    ctx, age, frame = build_context([[ctx_group]] * b, [[30]] * b, CFG.max_context_tokens)
    w = CFG.audio_window
    return SequenceInputs(
        torch.randn(2, CFG.n_mels, w, generator=g), torch.rand(2, CFG.n_structure, w, generator=g),
        torch.arange(b) % 2, torch.randint(32, 96, (b,), generator=g), ctx, age, frame, torch.arange(b) % 5,
    )  # fmt: skip


def walk(tokens: list[int], closing: bool = False):
    state = NoteGrammar.start()
    for t in tokens:
        state = state.advance(t, closing)  # raises ValueError on an ungrammatical token
    return state


def test_cached_and_uncached_greedy_agree(model):
    inputs = rows()
    fast = decode_groups(model, inputs, DecodingOptions())
    slow = decode_groups(model, inputs, DecodingOptions(use_cache=False))
    assert fast.tokens == slow.tokens
    assert np.allclose(fast.log_prob, slow.log_prob, atol=1e-4)
    assert len({tuple(t) for t in fast.tokens}) > 1  # rows really differ (audio, difficulty)
    for group, ok in zip(fast.tokens, fast.complete, strict=True):
        assert ok and group[-1] == EOS


def test_beam_search_sorted_and_beam_one_is_greedy(model):
    inputs = rows()
    greedy = decode_groups(model, inputs, DecodingOptions())
    one = decode_groups(model, inputs, DecodingOptions(strategy="beam", beam_size=1))
    assert one.tokens == greedy.tokens
    beam = decode_groups(model, inputs, DecodingOptions(strategy="beam", beam_size=4, length_penalty=1.0))
    assert beam.beams is not None
    for hyps, best, score in zip(beam.beams, beam.tokens, beam.score, strict=True):
        scores = [s for _, s in hyps]
        assert scores == sorted(scores, reverse=True) and len(hyps) >= 1
        assert hyps[0][0] == best and scores[0] == score
        for tokens, _ in hyps:
            walk(tokens)
    cached = decode_groups(model, inputs, DecodingOptions(strategy="beam", beam_size=3))
    uncached = decode_groups(model, inputs, DecodingOptions(strategy="beam", beam_size=3, use_cache=False))
    assert cached.tokens == uncached.tokens


def test_nucleus_sampling_is_seeded_and_only_draws_allowed_tokens(model):
    inputs = rows(6)
    opts = DecodingOptions(strategy="sample", top_p=0.95, temperature=1.5, seed=7)
    a, b = decode_groups(model, inputs, opts), decode_groups(model, inputs, opts)
    assert a.tokens == b.tokens
    others = [decode_groups(model, inputs, replace(opts, seed=s)).tokens for s in range(8, 12)]
    assert any(o != a.tokens for o in others)
    for group in a.tokens + [t for o in others for t in o]:
        walk(group)  # each sampled token was allowed by the grammar


def test_top_p_tiny_is_greedy(model):
    inputs = rows()
    greedy = decode_groups(model, inputs, DecodingOptions())
    nearly = decode_groups(model, inputs, DecodingOptions(strategy="sample", top_p=1e-6, seed=3))
    assert nearly.tokens == greedy.tokens


def test_up_down_bias_moves_arrows_off_up_and_down(model):
    """A negative bias on DIR_0/DIR_1 lowers their share of sampled arrows; 0 changes nothing."""
    inputs = rows(32)
    opts = DecodingOptions(strategy="sample", top_p=1.0, seed=5)

    def up_down_share(options: DecodingOptions) -> float:
        dirs = [
            t - DIR0 for g in decode_groups(model, inputs, options).tokens for t in g if DIR0 <= t < DIR0 + 9
        ]
        return float(np.mean([d in (0, 1) for d in dirs]))

    plain = up_down_share(opts)
    assert up_down_share(replace(opts, up_down_bias=0.0)) == plain
    assert up_down_share(replace(opts, up_down_bias=-20.0)) < min(plain, 0.05)
    assert up_down_share(replace(opts, up_down_bias=20.0)) > max(plain, 0.95)


def test_cfg_scale_one_is_conditional_and_other_scales_run(model):
    inputs = rows()
    cond = decode_groups(model, inputs, DecodingOptions())
    assert decode_groups(model, inputs, DecodingOptions(cfg_scale=1.0)).tokens == cond.tokens
    guided = decode_groups(model, inputs, DecodingOptions(cfg_scale=3.0))
    guided_slow = decode_groups(model, inputs, DecodingOptions(cfg_scale=3.0, use_cache=False))
    assert guided.tokens == guided_slow.tokens
    for group in guided.tokens:
        walk(group)


def test_min_length_prefix_and_closing(model):
    inputs = rows()
    prefix = delta_tokens(48 + 12)  # one beat and a quarter: DBEATS_1 DFRAC_12
    res = decode_groups(
        model, inputs, DecodingOptions(min_length=9, max_length=30), prefixes=[prefix] * 4, closing=[True] * 4
    )
    for group, state in zip(res.tokens, res.states, strict=True):
        assert group[: len(prefix)] == prefix
        assert group.index(EOS) >= 9 and group[-1] == EOS
        assert state.can_end  # closing: no arc left open
        walk(group, closing=True)
    with pytest.raises(ValueError):
        decode_groups(model, inputs, DecodingOptions(), prefixes=[[EOS]] * 4)  # EOS cannot start a group
    with pytest.raises(ValueError):
        DecodingOptions(strategy="magic")
    with pytest.raises(ValueError):
        DecodingOptions(precision="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        decode_groups(model, inputs, DecodingOptions(max_length=CFG.max_group_tokens))


def test_max_length_budget_keeps_groups_whole(model):
    res = decode_groups(model, rows(), DecodingOptions(max_length=6, strategy="sample", top_p=1.0, seed=1))
    for group, ok in zip(res.tokens, res.complete, strict=True):
        assert len(group) <= 6
        if ok:
            walk(group)


def test_song_decoding_is_grammatical_and_streams_agree_on_count(model):
    g = torch.Generator().manual_seed(5)
    n_frames = 700
    mel = torch.randn(CFG.n_mels, n_frames, generator=g).numpy()
    structure = torch.rand(CFG.n_structure, n_frames, generator=g).numpy()
    onsets = np.sort(torch.randperm(n_frames, generator=g)[:23].numpy())
    # max_length 12 stands in for a trained model's group length: this random model piles up DBEATS_16
    # until the budget stops it, and 23 groups of 44 of them would run past MAX_BEAT (then dropped)
    opts = DecodingOptions(max_length=12)
    for streams in (1, 4):
        song = decode_song(model, mel, structure, onsets, difficulty=3, options=opts, streams=streams)
        assert len(song.groups) == len(onsets) and all(song.complete)
        # every group encoded once for the whole song and reused == recomputing everything per step
        slow = decode_song(model, mel, structure, onsets, 3, replace(opts, use_cache=False), streams)
        assert slow.groups == song.groups
        flat = [BOS] + [t for grp in song.groups for t in grp]
        state = walk(flat[1:], closing=False)
        assert state.can_end
        assert decode_flat(flat).dropped == 0
    assert song.windows == 10  # 700 frames on a 64-frame hop of 128-frame windows
    assert 0 < song.context_groups <= len(onsets)  # each distinct group encoded once
    half = decode_song(model, mel, structure, onsets, 3, replace(opts, precision="bfloat16"), streams=4)
    assert all(half.complete)
    walk([t for grp in half.groups for t in grp])  # bf16: close to fp32, still grammatical
    with pytest.raises(ValueError):
        decode_song(model, mel, structure, onsets[::-1], difficulty=3)
