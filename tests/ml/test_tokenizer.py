"""Unit tests of the note and lighting tokenizers on maps built in code."""

from __future__ import annotations

import random
import time
from dataclasses import astuple

import numpy as np
import pytest

from automapper_ml import tokenizer as T
from automapper_ml.formats.model import (
    Arc,
    BombNote,
    BoostEvent,
    Chain,
    ColorNote,
    Difficulty,
    LightEvent,
    Obstacle,
)
from tests.ml.tokenizer_maps import make_diff


def ms(objects) -> list:
    return sorted(map(astuple, objects))


def names(tokens) -> list[str]:
    return T.token_names(tokens)


def roundtrip_equal(diff: Difficulty) -> None:
    ref = T.quantize_difficulty(diff)
    for decoded in (T.decode_flat(T.flatten(T.encode_notes(diff))), T.decode_notes(T.encode_notes(diff))):
        assert decoded.dropped == 0
        for attr in ("notes", "bombs", "obstacles", "arcs", "chains"):
            assert ms(getattr(decoded, attr)) == ms(getattr(ref, attr)), attr


# ---------------------------------------------------------------- vocabulary


def test_vocabulary_constants():
    assert isinstance(T.TOKENIZER_VERSION, str)
    assert (T.PAD, T.BOS, T.EOS) == (0, 1, 2) == (T.LIGHT_PAD, T.LIGHT_BOS, T.LIGHT_EOS)
    assert len(set(T.NOTE_VOCAB)) == T.NOTE_VOCAB_SIZE and len(set(T.LIGHT_VOCAB)) == T.LIGHT_VOCAB_SIZE
    assert names(T.TIMING_TOKENS) == sorted(names(T.TIMING_TOKENS), key=T.NOTE_VOCAB.index)
    assert len(T.TIMING_TOKENS) == T.MAX_DBEATS + T.TICKS_PER_BEAT
    assert all(n.startswith(("DBEATS_", "DFRAC_")) for n in names(T.TIMING_TOKENS))
    assert set(names(T.ARC_TOKENS)) == {"ARC_START_L", "ARC_START_R", "ARC_END_L", "ARC_END_R"}
    assert set(names(T.CHAIN_TOKENS)) == {"CHAIN_L", "CHAIN_R"}


def test_token_color_and_direction_arrays():
    vocab = T.NOTE_VOCAB
    assert T.TOKEN_COLOR.shape == T.TOKEN_DIRECTION.shape == (T.NOTE_VOCAB_SIZE,)
    assert T.TOKEN_COLOR[vocab.index("NOTE_L")] == 0 and T.TOKEN_COLOR[vocab.index("NOTE_R")] == 1
    assert T.TOKEN_COLOR[vocab.index("CHAIN_R")] == 1 and T.TOKEN_COLOR[vocab.index("BOMB")] == -1
    assert list(T.TOKEN_DIRECTION[T.DIR_TOKENS]) == list(range(9))
    assert T.TOKEN_DIRECTION[vocab.index("CELL_3")] == -1
    assert (T.TOKEN_DIRECTION >= 0).sum() == 9
    with pytest.raises(ValueError):
        T.TOKEN_COLOR[0] = 5  # shared lookups are read-only


def test_class_weights():
    w = T.class_weights()
    assert w.shape == (T.NOTE_VOCAB_SIZE,)
    assert w[T.EOS] == pytest.approx(0.3) and w[T.PAD] == 0
    assert all(w[t] == 3 for t in T.TIMING_TOKENS) and all(w[t] == 2 for t in T.ARC_TOKENS)
    assert w[T.NOTE_VOCAB.index("CELL_0")] == 1


@pytest.mark.parametrize(
    ("ticks", "expected"),
    [
        (0, ["DFRAC_0"]),
        (12, ["DFRAC_12"]),
        (72, ["DBEATS_1", "DFRAC_24"]),
        (40 * 48 + 1, ["DBEATS_16", "DBEATS_16", "DBEATS_8", "DFRAC_1"]),
    ],
)
def test_delta_tokens(ticks, expected):
    assert names(T.delta_tokens(ticks)) == expected


# ---------------------------------------------------------------- encoding


def test_encode_known_tokens_and_canonical_order():
    notes = [ColorNote(1.0, 1, 0, 0, 1), ColorNote(1.0, 2, 0, 1, 1, angle=40), ColorNote(1.25, 0, 2, 0, 8)]
    diff = make_diff(notes=notes, bombs=[BombNote(1.0, 3, 2)], obstacles=[Obstacle(1.0, 2.0, 0, 0, 1, 5)])
    groups = T.encode_notes(diff)
    assert [g.beat for g in groups] == [1.0, 1.25]
    assert names(groups[0].tokens) == [
        "DBEATS_1", "DFRAC_0",
        "NOTE_L", "CELL_1", "DIR_1",
        "NOTE_R", "CELL_2", "DIR_1", "ANGLE_45",
        "BOMB", "CELL_11",
        "WALL", "CELL_0", "WIDTH_1", "HEIGHT_5", "DUR_2",
        "EOS",
    ]  # fmt: skip
    assert names(groups[1].tokens) == ["DFRAC_12", "NOTE_L", "CELL_8", "DIR_8", "EOS"]
    shuffled = make_diff(notes=notes[::-1], bombs=diff.bombs, obstacles=diff.obstacles)
    assert [g.tokens for g in T.encode_notes(None, shuffled)] == [g.tokens for g in groups]
    assert T.flatten(groups)[0] == T.BOS


def test_quantisation_reference():
    diff = make_diff(
        notes=[
            ColorNote(1 / 32, 0, 0, 0, 0),  # 1.5 ticks: rounds up to 2
            ColorNote(0.333, 1, 1, 1, 3, angle=22),
            ColorNote(2.0, 4, 0, 0, 0),  # Mapping Extensions column
            ColorNote(2.0, 0, 0, 0, 1003),  # precision direction
            ColorNote(-1.0, 0, 0, 0, 0),
            ColorNote(3.0, 0, 0, 1, 0, uninteractable=True),
        ],
        obstacles=[
            Obstacle(0.0, 0.044, 0, 0, 1, 5),
            Obstacle(0.0, 1.0, -1, 0, 1, 5),
            Obstacle(0.0, 100.0, 3, 2, 1, 3),
        ],
        chains=[Chain(0, 4.0, 1, 0, 1, 4.03, 1, 2, 40, 0.77)],
    )
    q = T.quantize_difficulty(diff)
    assert [(n.beat, n.angle) for n in q.notes] == [(2 / 48, 0), (16 / 48, 22)]
    assert [o.duration for o in q.obstacles] == [1 / 24, 64.0]
    assert (q.chains[0].tail_beat, q.chains[0].slices, q.chains[0].squish) == (4.0 + 1 / 32, 16, 0.75)
    lost = T.quantize_notes(diff).lost
    assert sorted(why for _, why in lost["notes"]) == sorted(
        [T.OFF_GRID, "unknown cut direction", "before beat 0 or not a number", T.NOT_INTERACTABLE]
    )
    assert [why for _, why in lost["walls"]] == [T.OFF_GRID]
    roundtrip_equal(diff)


def test_arcs_pair_fifo_and_nested_ones_are_unrepresentable():
    def arc(color, head, tail, x=0):
        return Arc(color, head, x, 0, 1, 1.0, tail, 1, 1, 0, 0.5, 1)

    arcs = [
        arc(0, 1, 3), arc(0, 2, 4),  # overlapping, not nested: FIFO pairs them right
        arc(0, 4, 6),  # starts where the previous one ends
        arc(1, 1, 8), arc(1, 2, 5),  # nested inside a longer arc of the same colour
        arc(1, 9, 9),  # zero length
        arc(0, 10, 12, x=3), arc(0, 10, 11, x=0),  # same head, the shorter one must pair first
    ]  # fmt: skip
    diff = make_diff(arcs=arcs)
    q = T.quantize_notes(diff)
    assert sorted(why for _, why in q.lost["arcs"]) == [
        "nested inside another arc of its colour",
        "tail not after head",
    ]
    assert len(q.arcs) == 6
    roundtrip_equal(diff)
    decoded = T.decode_flat(T.flatten(T.encode_notes(diff)))
    assert {(a.beat, a.tail_beat, a.x) for a in decoded.arcs} >= {
        (10.0, 11.0, 0),
        (10.0, 12.0, 3),
        (4.0, 6.0, 0),
    }


# ---------------------------------------------------------------- decoding


def ids(*token_names: str) -> list[int]:
    return [T.NOTE_VOCAB.index(n) for n in token_names]


def test_decode_is_lenient():
    tokens = ids("BOS", "DBEATS_2", "DFRAC_0", "NOTE_R", "CELL_5", "DIR_0", "ANGLE_-15", "NOTE_L", "CELL_3")
    tokens += [10**9, -4, 3.5, "x", None]  # junk is skipped
    tokens += ids("EOS", "DFRAC_24", "ARC_END_L", "CELL_0", "DIR_0", "SCALE_1", "BOMB", "CELL_4", "DIR_1")
    decoded = T.decode_flat(tokens)
    assert [(n.beat, n.x, n.y, n.color, n.direction, n.angle) for n in decoded.notes] == [
        (2.0, 1, 1, 1, 0, -15)
    ]
    assert [(b.beat, b.x, b.y) for b in decoded.bombs] == [(2.5, 0, 1)]
    assert decoded.dropped == 2  # the half note and the arc end without a start
    assert T.decode_flat([]).notes == [] and T.decode_notes([]).dropped == 0
    as_array = T.decode_notes(np.array(tokens[:9], dtype=np.int64))
    assert [n.beat for n in as_array.notes] == [2.0] and as_array.dropped == 1


def test_decode_groups_uses_their_beats():
    groups = [
        T.NoteGroup(3.3, ids("DFRAC_0", "NOTE_L", "CELL_0", "DIR_1", "EOS")),
        T.NoteGroup(float("nan"), ids("BOMB", "CELL_0")),
    ]
    decoded = T.decode_notes(groups)
    assert [n.beat for n in decoded.notes] == [3.3] and decoded.bombs == [] and decoded.dropped == 1


def test_arc_end_needs_an_earlier_start():
    same_group = ids("DFRAC_0", "ARC_START_L", "CELL_0", "DIR_1", "SCALE_1", "MID_0", "ARC_END_L", "CELL_1", "DIR_1", "SCALE_1", "EOS")  # fmt: skip
    assert T.decode_flat(same_group).arcs == []
    assert T.decode_flat(same_group).dropped == 2


# ---------------------------------------------------------------- grammar


def test_grammar_masks():
    state = T.NoteGrammar.start()
    allowed = set(np.flatnonzero(state.allowed()))
    assert allowed == T.TIMING_TOKENS
    state = state.advance(ids("DFRAC_0")[0])
    assert not state.allowed()[T.EOS]  # a group holds at least one object
    assert not state.allowed()[ids("ARC_END_L")[0]]  # nothing to close
    state = state.advance(ids("NOTE_L")[0])
    assert set(np.flatnonzero(state.allowed())) == set(T.CELL_TOKENS)
    for t in ids("CELL_0", "DIR_1"):
        state = state.advance(t)
    assert state.allowed()[ids("ANGLE_45")[0]] and state.allowed()[T.EOS]
    for t in ids("ARC_START_R", "CELL_0", "DIR_1", "SCALE_1", "MID_1"):
        state = state.advance(t)
    assert not state.allowed()[ids("ARC_END_R")[0]]  # an end cannot share its start's group
    assert state.allowed(closing=True)[T.EOS]  # it closes in the next group
    state = state.advance(T.EOS)
    assert not state.can_end and state.open_arcs == (0, 1)
    assert not state.allowed()[ids("DFRAC_0")[0]]  # two groups on one beat
    state = state.advance(ids("DFRAC_6")[0])
    assert state.allowed()[ids("ARC_END_R")[0]] and not state.allowed(closing=True)[ids("ARC_START_L")[0]]
    with pytest.raises(ValueError, match="not allowed"):
        state.advance(ids("DIR_1")[0])
    with pytest.raises(ValueError):
        state.advance(10**6)
    for t in ids("BOMB", "CELL_0"):
        state = state.advance(t, closing=True)
    assert state.allowed()[T.EOS] and not state.allowed(closing=True)[T.EOS]  # the arc is still open
    for t in [*ids("ARC_END_R", "CELL_2", "DIR_0", "SCALE_0.5"), T.EOS]:
        state = state.advance(t, closing=True)
    assert state.can_end


def test_encoded_sequences_are_grammatical_and_allowed_next_agrees():
    notes = [ColorNote(b / 4, b % 4, b % 3, b % 2, b % 9, angle=15 * (b % 3)) for b in range(40)]
    arcs = [Arc(0, 1.0, 0, 0, 1, 1.0, 3.0, 1, 1, 0, 1.0), Arc(1, 2.0, 3, 0, 1, 1.0, 2.5, 2, 1, 0, 1.0)]
    chains = [Chain(1, 5.0, 2, 2, 1, 5.25, 2, 0, 5, 0.8)]
    seq = T.flatten(T.encode_notes(make_diff(notes=notes, arcs=arcs, chains=chains)))
    state = T.NoteGrammar.start()
    for i, t in enumerate(seq[1:], start=1):
        assert np.array_equal(T.allowed_next(seq[:i]), state.allowed()) if i % 17 == 0 else True
        state = state.advance(t)
    assert state.can_end


def test_grammar_step_is_cheap():
    rng = random.Random(0)
    state = T.NoteGrammar.start()
    steps = 20_000
    start = time.perf_counter()
    for _ in range(steps):
        choices = np.flatnonzero(state.allowed())
        state = state.advance(int(choices[rng.randrange(len(choices))]))
    per_step = (time.perf_counter() - start) / steps
    assert per_step < 200e-6, f"{per_step * 1e6:.1f} us per step"


# ---------------------------------------------------------------- lighting


def lid(*token_names: str) -> list[int]:
    return [T.LIGHT_VOCAB.index(n) for n in token_names]


def test_light_tokens_and_quantisation():
    events = [
        LightEvent(0.25, 1, 3),
        LightEvent(0.25, 0, 5, 0.3, color=(2.0, 0.0, 0.1, 1.0)),
        LightEvent(0.75, 12, 45),  # laser speed clamps to 20
        LightEvent(1.0, 5, 1),  # boost lane: lives in `boosts`, not tokenized here
        LightEvent(1.0, 1, 2_100_000_000),  # legacy Chroma RGB
    ]
    diff = make_diff(events=events, boosts=[BoostEvent(0.0, True)])
    groups = T.encode_lights(diff)
    assert [g.beat for g in groups] == [0.0, 0.5]
    assert T.light_token_names(groups[0].tokens) == [
        "OFFSET_0", "BOOST_ON",
        "OFFSET_12", "LTYPE_0", "LVALUE_5", "BRIGHT_0.25", "COLOR_3",
        "OFFSET_12", "LTYPE_1", "LVALUE_3",
        "EOS",
    ]  # fmt: skip
    assert T.light_token_names(groups[1].tokens) == ["OFFSET_12", "LTYPE_12", "LVALUE_20", "EOS"]
    q = T.quantize_lights(diff)
    assert sorted(why for _, why in q.lost["events"]) == [
        "event type 5 is not tokenized",
        "legacy Chroma RGB value",
    ]
    assert T.palette_index((0.1, 0.1, 0.9)) == T.PALETTE.index((0.0, 0.0, 1.0))
    assert T.palette_index((float("nan"), 0, 0)) == -1
    for decoded in (T.decode_lights(groups), T.decode_lights(T.flatten_lights(groups))):
        assert ms(decoded.events) == ms(q.events) and ms(decoded.boosts) == ms(q.boosts)
    assert len(T.encode_lights(diff, end_beat=4.0)) == 9
    assert len(T.encode_lights(diff, step=1 / 48)) == 37


def test_light_step_validation_and_grammar():
    for bad in (0, 0.3, 3.0, float("nan"), -0.5):
        with pytest.raises(ValueError):
            T.step_ticks(bad)
    grammar = T.LightGrammar(step=0.25)
    state = grammar.start()
    assert state.can_end and set(np.flatnonzero(state.allowed())) == {
        T.LIGHT_EOS,
        *range(lid("OFFSET_0")[0], lid("OFFSET_12")[0]),
    }
    state = state.advance(lid("OFFSET_3")[0])
    assert not state.allowed()[T.LIGHT_EOS]
    for t in lid("LTYPE_4", "LVALUE_1", "BRIGHT_0.5"):
        state = state.advance(t)
    assert state.allowed()[lid("COLOR_2")[0]] and not state.allowed()[lid("BRIGHT_0.5")[0]]
    with pytest.raises(ValueError):
        state.advance(lid("OFFSET_20")[0])  # beyond the step
    assert grammar.state_after([T.LIGHT_BOS, *lid("OFFSET_0", "BOOST_OFF", "EOS")]).can_end


def test_light_decode_is_total():
    decoded = T.decode_lights(
        [*lid("OFFSET_5", "LTYPE_1"), -1, 10**12, "junk", *lid("EOS", "OFFSET_95", "BOOST_OFF")], step=0.5
    )
    assert decoded.events == [] and decoded.dropped == 1
    assert [(b.beat, b.on) for b in decoded.boosts] == [((24 + 95) / 48, False)]
