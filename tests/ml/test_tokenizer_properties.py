"""Property-based tests (hypothesis) of the tokenizers: round trip against the quantised reference,
total decoding, and the grammar (every sequence it allows decodes without loss)."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from automapper_ml import tokenizer as T
from automapper_ml.formats.model import (
    Arc,
    BombNote,
    BoostEvent,
    Chain,
    ColorNote,
    LightEvent,
    Obstacle,
)
from tests.ml.tokenizer_maps import make_diff

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOTE_KINDS = ("notes", "bombs", "obstacles", "arcs", "chains")

beats = st.floats(min_value=0, max_value=300, allow_nan=False)
xs, ys = st.integers(0, 3), st.integers(0, 2)
colors, dirs = st.integers(0, 1), st.integers(0, 8)
scales = st.floats(min_value=-1, max_value=3, allow_nan=False)
notes = st.builds(ColorNote, beats, xs, ys, colors, dirs, st.integers(-180, 180) | st.just(0))
bombs = st.builds(BombNote, beats, xs, ys)
walls = st.builds(
    Obstacle,
    beats,
    st.floats(min_value=0, max_value=100, allow_nan=False),
    xs,
    ys,
    st.integers(1, 4),
    st.integers(1, 5),
)


@st.composite
def arcs(draw):
    head = draw(beats)
    tail = head + draw(st.floats(min_value=0, max_value=16, allow_nan=False))
    return Arc(draw(colors), head, draw(xs), draw(ys), draw(dirs), draw(scales), tail, draw(xs), draw(ys), draw(dirs),
               draw(scales), draw(st.integers(0, 2)))  # fmt: skip


@st.composite
def chains(draw):
    head = draw(beats)
    tail = head + draw(st.floats(min_value=0, max_value=3, allow_nan=False))
    return Chain(draw(colors), head, draw(xs), draw(ys), draw(dirs), tail, draw(xs), draw(ys), draw(st.integers(2, 40)),
                 draw(st.floats(min_value=0, max_value=2, allow_nan=False)))  # fmt: skip


rgb = st.tuples(*[st.floats(min_value=-1, max_value=4, allow_nan=False)] * 3)
events = st.builds(
    LightEvent,
    st.floats(min_value=0, max_value=100, allow_nan=False),
    st.sampled_from((*T.LIGHT_TYPES, 5, 14, 15, 100, 1000)),
    st.integers(-3, 60),
    st.floats(min_value=0, max_value=5, allow_nan=False),
    st.none() | rgb,
)
boosts = st.builds(BoostEvent, st.floats(min_value=0, max_value=100, allow_nan=False), st.booleans())


@st.composite
def difficulties(draw):
    small = {"max_size": 25}
    return make_diff(
        notes=draw(st.lists(notes, **small)), bombs=draw(st.lists(bombs, **small)),
        obstacles=draw(st.lists(walls, **small)), arcs=draw(st.lists(arcs(), max_size=8)),
        chains=draw(st.lists(chains(), max_size=8)), events=draw(st.lists(events, **small)),
        boosts=draw(st.lists(boosts, max_size=5)),
    )  # fmt: skip


def ms(objects) -> Counter:
    return Counter(tuple(getattr(o, f) for f in o.__slots__) for o in objects)


def assert_in_range(decoded) -> None:
    """Every decoded object is on the vanilla grid and survives quantisation unchanged."""
    for n in decoded.notes:
        assert 0 <= n.x < 4 and 0 <= n.y < 3 and n.color in (0, 1) and 0 <= n.direction <= 8 and n.beat >= 0
    for w in decoded.obstacles:
        assert 0 <= w.x < 4 and 0 <= w.y < 3 and 1 <= w.width <= 4 and 1 <= w.height <= 5 and w.duration >= 0
    for a in decoded.arcs:
        assert a.tail_beat > a.beat >= 0 and a.mid_anchor in (0, 1, 2)
    for c in decoded.chains:
        assert c.tail_beat >= c.beat >= 0 and 2 <= c.slices <= 16
    diff = make_diff(**{k: getattr(decoded, k) for k in NOTE_KINDS})
    q = T.quantize_difficulty(diff)
    for kind in NOTE_KINDS:
        assert ms(getattr(q, kind)) == ms(getattr(decoded, kind)), kind


@SETTINGS
@given(difficulties(), st.randoms(use_true_random=False))
def test_round_trip_equals_quantised_reference(diff, rnd):
    ref = T.quantize_difficulty(diff)
    groups = T.encode_notes(diff)
    for decoded in (T.decode_flat(T.flatten(groups)), T.decode_notes(groups)):
        assert decoded.dropped == 0
        for kind in NOTE_KINDS:
            assert ms(getattr(decoded, kind)) == ms(getattr(ref, kind)), kind
    assert [g.beat for g in groups] == sorted({g.beat for g in groups})
    # The reference is a fixed point, and the encoding does not depend on input order.
    again = T.quantize_difficulty(ref)
    assert all(ms(getattr(again, k)) == ms(getattr(ref, k)) for k in (*NOTE_KINDS, "events", "boosts"))
    for kind in NOTE_KINDS:
        rnd.shuffle(getattr(diff, kind))
    assert [g.tokens for g in T.encode_notes(diff)] == [g.tokens for g in groups]
    lost = T.quantize_notes(diff).lost
    assert sum(len(getattr(ref, k)) + len(lost[k2]) for k, k2 in zip(NOTE_KINDS, ("notes", "bombs", "walls", "arcs", "chains"), strict=True)) == sum(len(getattr(diff, k)) for k in NOTE_KINDS)  # fmt: skip
    # Lights, on two grids.
    for step in (0.5, 1 / 3):
        lgroups = T.encode_lights(diff, step=step)
        for decoded in (T.decode_lights(lgroups, step), T.decode_lights(T.flatten_lights(lgroups), step)):
            assert ms(decoded.events) == ms(ref.events) and ms(decoded.boosts) == ms(ref.boosts)
        state = T.LightGrammar(step).state_after(T.flatten_lights(lgroups))
        assert state.can_end


tokens_any = st.lists(
    st.integers(-5, T.NOTE_VOCAB_SIZE + 5)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from(sorted(T.TIMING_TOKENS)),
    max_size=300,
)


@SETTINGS
@given(tokens_any)
def test_decode_is_total_on_any_ints(tokens):
    decoded = T.decode_flat(tokens)
    assert_in_range(decoded)
    lights = T.decode_lights(tokens, step=0.5)
    for e in lights.events:
        assert e.type in T.LIGHT_TYPES and 0 <= e.value <= T.MAX_LIGHT_VALUE and e.beat >= 0
        assert e.float_value in T.BRIGHTNESS_VALUES and (e.color is None or e.color in T.PALETTE)
    # As groups, the same tokens (split anywhere) decode without raising too.
    cut = len(tokens) // 2
    T.decode_notes([T.NoteGroup(1.0, tokens[:cut]), T.NoteGroup(-5.0, tokens[cut:])])
    T.decode_lights([T.LightGroup(0.5, tokens[:cut]), T.LightGroup(float("inf"), tokens[cut:])])


def walk_notes(rng: random.Random, steps: int) -> list[int]:
    """A random grammatical note sequence, closed so it may end (all arcs paired)."""
    state, seq = T.NoteGrammar.start(), [T.BOS]
    for _ in range(steps):
        choices = np.flatnonzero(state.allowed())
        seq.append(int(choices[rng.randrange(len(choices))]))
        state = state.advance(seq[-1])
    while not state.can_end:  # finish the group, then one closing group
        mask = state.allowed(closing=True)
        preferred = [t for t in (*T.ARC_END, T.EOS) if mask[t]]
        choices = preferred or list(np.flatnonzero(mask))
        seq.append(int(rng.choice(choices)))
        state = state.advance(seq[-1], closing=True)
    return seq


def split_groups(seq: list[int]) -> list[tuple[int, Counter]]:
    """(gap in ticks, multiset of object token tuples) per group of a grammatical sequence."""
    groups, gap, objects, current = [], 0, Counter(), None
    for t in seq[1:]:
        if t in T.TIMING_TOKENS:
            gap += (t - T.DBEATS0) * T.TICKS_PER_BEAT if t < T.DFRAC0 else t - T.DFRAC0
        elif t == T.EOS:
            if current:
                objects[tuple(current)] += 1
            groups.append((gap, objects))
            gap, objects, current = 0, Counter(), None
        elif t in T.OBJECT_TOKENS:
            if current:
                objects[tuple(current)] += 1
            current = [t]
        else:
            current.append(t)
    return groups


@SETTINGS
@given(st.integers(0, 2**32), st.integers(0, 400))
def test_grammatical_sequences_decode_without_loss(seed, steps):
    seq = walk_notes(random.Random(seed), steps)
    decoded = T.decode_flat(seq)
    assert decoded.dropped == 0
    counts = Counter(seq)
    assert len(decoded.notes) == counts[T.NOTE_L] + counts[T.NOTE_R]
    assert len(decoded.bombs) == counts[T.BOMB] and len(decoded.obstacles) == counts[T.WALL]
    assert len(decoded.arcs) == sum(counts[t] for t in T.ARC_START) == sum(counts[t] for t in T.ARC_END)
    assert len(decoded.chains) == sum(counts[t] for t in T.CHAIN)
    assert_in_range(decoded)
    # Re-encoding gives back the same groups (object order inside a group aside).
    diff = make_diff(**{k: getattr(decoded, k) for k in NOTE_KINDS})
    assert split_groups(T.flatten(T.encode_notes(diff))) == split_groups(seq)


@SETTINGS
@given(st.integers(0, 2**32), st.integers(0, 300), st.sampled_from((0.5, 0.25, 1.0, 2.0, 1 / 48)))
def test_grammatical_light_sequences_decode_without_loss(seed, steps, step):
    rng, grammar = random.Random(seed), T.LightGrammar(step)
    state, seq = grammar.start(), [T.LIGHT_BOS]
    for _ in range(steps):
        choices = np.flatnonzero(state.allowed())
        seq.append(int(choices[rng.randrange(len(choices))]))
        state = state.advance(seq[-1])
    while not state.can_end:
        seq.append(T.LIGHT_EOS if state.allowed()[T.LIGHT_EOS] else int(np.flatnonzero(state.allowed())[0]))
        state = state.advance(seq[-1])
    decoded = T.decode_lights(seq, step)
    assert decoded.dropped == 0
    offsets = sum(1 for t in seq if T.LIGHT_VOCAB[t].startswith("OFFSET_"))
    assert len(decoded.events) + len(decoded.boosts) == offsets
    diff = make_diff(events=decoded.events, boosts=decoded.boosts)
    again = T.decode_lights(T.encode_lights(diff, step=step), step)
    assert ms(again.events) == ms(decoded.events) and ms(again.boosts) == ms(decoded.boosts)
