"""osu! tokens: the vocabulary and bins, fixture round trips within the encodings' resolution,
encoder output inside the grammar, and total decode (random sequences under the mask, and any ints,
decode to valid osu!standard maps that the reader reads back)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automapper_ml.formats.osu import Slider, Spinner, load_osu, osu_bytes, read_osu, read_osz
from automapper_ml.tokenizer_osu import (
    EOS,
    MAX_ANCHORS,
    MAX_REPEATS,
    OSU_TOKENIZER_VERSION,
    OSU_VOCAB,
    OSU_VOCAB_SIZE,
    SOS,
    SPINNER_DURATIONS_MS,
    TIME_SHIFT_MS,
    OsuGrammar,
    OsuTokenizerConfig,
    curve_length,
    decode_osu,
    encode_osu,
)
from tests.ml.osu.fixtures import CORPUS_ENV, corpus_sets, standard_fixtures
from tests.ml.osu.test_reader import small

CONFIGS = {"ms": OsuTokenizerConfig(time="ms"), "beat": OsuTokenizerConfig(time="beat")}


def test_vocabulary_and_bins():
    print("TIME_SHIFT bins (ms):", TIME_SHIFT_MS)
    print("END_SPINNER_DUR bins (ms):", SPINNER_DURATIONS_MS)
    assert OSU_TOKENIZER_VERSION and len(set(OSU_VOCAB)) == OSU_VOCAB_SIZE
    assert len(TIME_SHIFT_MS) == 64 and TIME_SHIFT_MS[0] == 1 and TIME_SHIFT_MS[-1] == 5000
    assert all(a < b for a, b in zip(TIME_SHIFT_MS, TIME_SHIFT_MS[1:]))
    geometric = 5000 ** (np.arange(64) / 63)  # log-spaced, rounded to whole ms (every ms up to 24)
    assert np.all(np.abs(np.array(TIME_SHIFT_MS[24:]) - geometric[24:]) <= 0.5)
    for name in ("PAD", "SOS", "EOS", "NEW_COMBO", "PLACE_CIRCLE", "START_SLIDER_C", "ADD_SLIDER_ANCHOR",
                 "END_SLIDER_4R", "PLACE_SPINNER", "END_SPINNER_DUR15", "COORD_X_31", "COORD_Y_31",
                 "BEAT_SHIFT_48", "TIME_SHIFT_63"):  # fmt: skip
        assert name in OSU_VOCAB


def _valid(m) -> None:
    times = [o.time for o in m.hit_objects]
    assert times == sorted(times) and all(t >= 0 for t in times)
    for o in m.hit_objects:
        assert 0 <= o.x <= 512 and 0 <= o.y <= 384
        if isinstance(o, Slider):
            assert len(o.anchors) >= 1 and (o.curve_type != "P" or len(o.anchors) == 2)
            assert all(0 <= x <= 512 and 0 <= y <= 384 for x, y in o.anchors)
            assert 1 <= o.slides <= MAX_REPEATS + 1 and o.length > 0
        if isinstance(o, Spinner):
            assert o.end > o.time
    assert m.uninherited_points
    assert read_osu(osu_bytes(m), "decoded.osu") == m  # a map the reader takes back whole


@pytest.mark.parametrize("encoding", CONFIGS)
@pytest.mark.parametrize("path", standard_fixtures())
def test_fixture_round_trip_within_resolution(path, encoding):
    config = CONFIGS[encoding]
    m = load_osu(path)
    enc = encode_osu(m, config)
    OsuGrammar.state_after(enc.tokens[:-1], config)  # the encoder writes only what the grammar allows
    d = decode_osu(enc.tokens, timing_points=m.timing_points, config=config)
    _valid(d)
    objs = sorted(m.hit_objects, key=lambda o: o.time)
    assert [type(o) for o in objs] == [type(o) for o in d.hit_objects]
    assert [o.new_combo for o in objs] == [o.new_combo for o in d.hit_objects]
    worst = 0.5 if encoding == "ms" else config.grid_tolerance_ms + 0.5
    assert max(abs(a.time - b.time) for a, b in zip(objs, d.hit_objects)) <= worst
    for a, b in zip(objs, d.hit_objects):
        if not isinstance(a, Spinner) and 0 <= a.x <= 512 and 0 <= a.y <= 384:
            assert abs(a.x - b.x) <= 8 and abs(a.y - b.y) <= 6
        if isinstance(a, Slider):
            assert b.slides == min(a.slides, MAX_REPEATS + 1) and len(b.anchors) == min(
                len(a.anchors) or 1, MAX_ANCHORS
            )
    again = encode_osu(d, config)
    assert again.tokens == enc.tokens  # decoding is a projection: its output encodes to the same tokens


def test_small_map_tokens_read_as_the_grammar():
    m = read_osu(small(), "small.osu")
    names = [OSU_VOCAB[t] for t in encode_osu(m).tokens]
    assert names[2:6] == ["NEW_COMBO", "PLACE_CIRCLE", "COORD_X_16", "COORD_Y_16"]
    assert "START_SLIDER_B" in names and "END_SLIDER_1R" in names and names[-1] == "EOS"
    assert names.count("ADD_SLIDER_ANCHOR") == 2 and "PLACE_SPINNER" in names


def test_curve_lengths():
    assert curve_length("L", [(0, 0), (3, 4), (3, 10)]) == pytest.approx(11)
    assert curve_length("P", [(0, 0), (100, 100), (200, 0)]) == pytest.approx(np.pi * 100, rel=1e-6)
    assert curve_length("P", [(0, 0), (1, 0), (2, 0)]) == pytest.approx(2)  # collinear: a line
    assert curve_length("B", [(0, 0), (100, 0)]) == pytest.approx(100)
    assert curve_length("B", [(0, 0), (50, 0), (50, 0), (50, 50)]) == pytest.approx(100)  # red anchor


def _sample(choices: list[int], config: OsuTokenizerConfig) -> list[int]:
    """A sequence the grammar allows: each choice picks among the allowed tokens, then it is closed."""
    state, out = OsuGrammar.start(config), [SOS]
    for c in choices:
        allowed = np.flatnonzero(state.allowed())
        t = int(allowed[c % len(allowed)])
        if t == EOS:
            break
        out.append(t)
        state = state.advance(t)
    while not state.can_end:  # close: the first allowed token that is not another shift or anchor
        allowed = [int(t) for t in np.flatnonzero(state.allowed())]
        t = next(
            (
                t
                for t in reversed(allowed)
                if OSU_VOCAB[t].startswith(("END", "COORD", "DX", "DY", "PLACE_C"))
            ),
            allowed[-1],
        )
        out.append(t)
        state = state.advance(t)
    return [*out, EOS]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 10**6), max_size=300), st.sampled_from(sorted(CONFIGS)))
def test_any_sequence_under_the_mask_decodes_to_a_valid_map(choices, encoding):
    config = CONFIGS[encoding]
    tokens = _sample(choices, config)
    m = decode_osu(tokens, timing_points=load_small_timing(), config=config)
    _valid(m)
    completed = sum(OSU_VOCAB[t].startswith(("END_SLIDER", "END_SPINNER")) for t in tokens)
    completed += sum(1 for a, b in zip(tokens, tokens[1:]) if OSU_VOCAB[a] == "PLACE_CIRCLE")
    assert len(m.hit_objects) == completed >= 1  # nothing the grammar allowed was skipped


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, OSU_VOCAB_SIZE + 5), st.text(max_size=2)), max_size=300))
def test_any_ints_decode_to_a_valid_map(tokens):
    _valid(decode_osu(tokens))


def load_small_timing():
    return read_osu(small(), "small.osu").timing_points


@pytest.mark.skipif(not corpus_sets(), reason=f"{CORPUS_ENV} is unset (the real osu! corpus is not built)")
@pytest.mark.parametrize("encoding", CONFIGS)
def test_real_corpus_encodes_inside_the_grammar_and_decodes_valid(encoding):
    config = CONFIGS[encoding]
    for path in corpus_sets():
        for name, m in read_osz(path).beatmaps:
            enc = encode_osu(m, config)
            OsuGrammar.state_after(enc.tokens[:-1], config)
            d = decode_osu(enc.tokens, timing_points=m.timing_points, config=config)
            assert len(d.hit_objects) == len(m.hit_objects), name
            assert encode_osu(d, config).tokens == enc.tokens, name
