"""osu! model and its cached sampling: shapes, sizes, cache == forward, masked sampling gives valid
maps (judge), seeds, conditioning dropout, checkpoint round trip. Random weights: no learning here."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from automapper_ml.evaluation.osu import judge_map, slider_problems
from automapper_ml.formats.osu.model import CurveSegment, Slider, TimingPoint
from automapper_ml.generation.osu import (
    OsuCache,
    OsuSampling,
    _arc_inside,
    generate_osu,
    tempo_timing_points,
)
from automapper_ml.generation.tempo import user_tempo
from automapper_ml.models.osu import (
    N_COND,
    OsuConfig,
    OsuCursor,
    OsuModel,
    condition_vector,
    cursor_frames,
    load_osu_model,
)
from automapper_ml.tokenizer_osu import (
    BEAT_SHIFT0,
    COORD_X0,
    COORD_Y0,
    EOS,
    OSU_VOCAB_SIZE,
    PLACE_CIRCLE,
    SOS,
    START_SLIDER,
    TIME_SHIFT0,
    OsuGrammar,
    curve_length,
    decode_osu,
)

pytestmark = pytest.mark.usefixtures("one_thread_module")

CFG = replace(OsuConfig.preset("tiny"), audio_window=256, max_tokens=96, context_tokens=24, dropout=0.0)
POINTS = (TimingPoint(120.0, 400.0),)  # 150 BPM from 120 ms


def model(seed: int = 0, cfg: OsuConfig = CFG) -> OsuModel:
    torch.manual_seed(seed)
    return OsuModel(cfg).eval()


def dense(m: OsuModel, sliders: float = 4.0) -> OsuModel:
    """A random model pushed towards a map's density (short beat shifts, many objects and sliders):
    a plain random one wanders through time shifts and writes a few objects per song."""
    with torch.no_grad():
        b = m.head.bias
        b[TIME_SHIFT0 : TIME_SHIFT0 + 64] -= 4
        b[[BEAT_SHIFT0 + 3, BEAT_SHIFT0 + 6]] += 5
        b[PLACE_CIRCLE] += 3
        b[list(START_SLIDER)] += sliders
    return m


def song(seconds: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = int(seconds * 86.13)
    return rng.normal(-5, 1, (80, t)).astype(np.float32), rng.random((6, t), dtype=np.float32)


def inputs(b: int = 2, t: int = 40, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    w = CFG.audio_window
    mel, structure = torch.randn(b, 80, w, generator=g), torch.rand(b, 6, w, generator=g)
    cond = torch.stack([condition_vector(stars=5.2), condition_vector(ar=9, cs=4, od=8, hp=6)])[:b]
    tokens = torch.randint(0, OSU_VOCAB_SIZE, (b, t), generator=g)
    frames = torch.randint(-10, w + 10, (b, t), generator=g).sort(dim=1).values
    return mel, structure, cond, tokens, frames


def test_presets_shapes_and_sizes():
    with pytest.raises(ValueError, match="unknown osu config preset"):
        OsuConfig.preset("huge")
    with pytest.raises(ValueError):
        OsuConfig(d_model=65)
    with pytest.raises(ValueError):
        OsuConfig(audio_stride=6)
    counts = {}
    for name in ("tiny", "full"):
        cfg = OsuConfig.preset(name)
        counts[name] = sum(p.numel() for p in OsuModel(cfg).parameters())
        assert OsuConfig(**cfg.to_dict()) == cfg
        assert cfg.audio_positions == cfg.audio_window // 8
    assert 0.2e6 < counts["tiny"] < 0.6e6  # 347,058
    assert 15e6 < counts["full"] < 35e6  # 23,775,794
    m = model()
    mel, structure, cond, tokens, frames = inputs()
    assert m.encode_audio(mel, structure).shape == (2, CFG.audio_window // 8, CFG.d_model)
    assert m(mel, structure, cond, tokens, frames).shape == (2, tokens.shape[1], OSU_VOCAB_SIZE)


def test_cursor_follows_the_decoder():
    x, y = COORD_X0 + 3, COORD_Y0 + 4
    tokens = [
        SOS,
        BEAT_SHIFT0 + 12,
        PLACE_CIRCLE,
        x,
        y,
        TIME_SHIFT0 + 30,
        BEAT_SHIFT0 + 6,
        PLACE_CIRCLE,
        x,
        y,
        EOS,
    ]
    cursor = OsuCursor(POINTS)
    times = [cursor.advance(t) for t in tokens]
    decoded = decode_osu(tokens, timing_points=POINTS).hit_objects
    assert [o.time for o in decoded] == [round(times[2]), round(times[7])]
    assert times[1] == times[4] and times[6] > times[5] > times[4]
    assert list(cursor_frames(tokens, POINTS)) == [round(t / (1000 * 256 / 22050)) for t in times]


def test_cached_steps_equal_the_full_forward():
    m = model(1)
    mel, structure, cond, tokens, frames = inputs(b=2, t=30)
    full = m(mel, structure, cond, tokens, frames)
    cache = OsuCache(m)
    cache.start(mel, structure, cond)
    chunk = cache.step(tokens[:, :7], frames[:, :7])  # a prefill chunk, then one token at a time
    steps = [chunk] + [cache.step(tokens[:, i : i + 1], frames[:, i : i + 1]) for i in range(7, 30)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


def test_bfloat16_cache_stays_close_to_the_fp32_forward():
    m = model(1)
    mel, structure, cond, tokens, frames = inputs(b=2, t=12)
    full = m(mel, structure, cond, tokens, frames)
    cache = OsuCache(m, torch.bfloat16)
    cache.start(mel, structure, cond)
    steps = torch.cat([cache.step(tokens[:, i : i + 1], frames[:, i : i + 1]) for i in range(12)], dim=1)
    assert steps.dtype == torch.float32
    assert (steps - full).abs().max() < 0.05 * full.abs().max()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_masked_sampling_decodes_to_valid_maps(seed):
    m = dense(model(seed))
    mel, structure = song(40.0, seed)
    out = generate_osu(
        m, mel, structure, POINTS, condition_vector(stars=4.0), sampling=OsuSampling(seed=seed)
    )
    assert out.windows >= 3  # 40 s in windows of 3 s
    state = OsuGrammar.start()
    for t in out.tokens[1:]:
        state = state.advance(t)  # every token was allowed where it stands
    assert out.map == decode_osu(out.tokens, timing_points=POINTS)
    figures = judge_map(out.map)
    assert figures["objects"] >= 30 and figures["slider_share"] > 0.1
    assert figures["sliders_invalid"] == 0 and figures["objects_outside"] == 0
    assert figures["path_points_outside"] == 0
    times = [o.time for o in out.map.hit_objects]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= 40_000
    kinds = {o.curve_type for o in out.map.hit_objects if isinstance(o, Slider)}
    assert kinds <= {"L", "B", "P"}  # C only on request


def test_the_timing_prior_moves_objects_to_where_it_points():
    """A prior that favours every second beat: with weight, object starts gather there; the same
    model and seed without weight spread over the grid; grammar and judge stay satisfied."""
    m = dense(model(4))
    mel, structure = song(30.0, 4)
    frames = np.arange(mel.shape[1])
    ms = frames * 256 / 22050 * 1000.0
    on = np.abs(((ms - 120.0 + 400.0) % 800.0) - 400.0) < 12.0  # within one frame of every 2nd beat
    prior = np.where(on, 3.0, -3.0).astype(np.float32)
    cond = condition_vector(stars=4.0)
    shares = []
    for weight in (0.0, 2.0):
        out = generate_osu(
            m, mel, structure, POINTS, cond, sampling=OsuSampling(seed=3, onset_weight=weight), prior=prior
        )
        figures = judge_map(out.map)
        assert figures["sliders_invalid"] == 0 and figures["objects_outside"] == 0
        t = np.array([o.time for o in out.map.hit_objects])
        assert len(t) >= 10
        shares.append(float(np.mean(np.abs(((t - 120.0 + 400.0) % 800.0) - 400.0) < 1.0)))
    assert shares[0] < 0.5 and shares[1] > 0.9, shares


def test_timing_prior_arguments_are_checked():
    with pytest.raises(ValueError, match="onset_weight"):
        OsuSampling(onset_weight=-1.0)
    m = model(0)
    mel, structure = song(5.0)
    with pytest.raises(ValueError, match="prior"):
        generate_osu(m, mel, structure, POINTS, condition_vector(), sampling=OsuSampling(onset_weight=1.0),
                     prior=np.full(10, np.nan, dtype=np.float32))  # fmt: skip


def test_perfect_circle_sliders_stay_valid():
    m = dense(model(5), sliders=6.0)
    mel, structure = song(20.0, 5)
    for seed in range(3):
        out = generate_osu(
            m, mel, structure, POINTS, condition_vector(), sampling=OsuSampling(seed=seed, kinds=("P",))
        )
        sliders = [o for o in out.map.hit_objects if isinstance(o, Slider)]
        assert len(sliders) >= 10 and {s.curve_type for s in sliders} == {"P"}
        assert not [s for s in sliders if slider_problems(s)]


def test_arc_check_never_accepts_an_arc_the_judge_refuses():
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(300):
        a, b = rng.uniform([8, 6], [504, 378]), rng.uniform([8, 6], [504, 378])
        c = rng.uniform([8, 6], [504, 378], (20, 2))
        ok = _arc_inside(a, b, c)
        for ci, good in zip(c, ok):
            if good:
                accepted += 1
                points = ((b[0], b[1]), (ci[0], ci[1]))
                length = curve_length("P", ((a[0], a[1]), *points))  # the decoded pixel length
                s = Slider(a[0], a[1], 0.0, curve=(CurveSegment("P", points),), length=length)
                assert not slider_problems(s)
    assert accepted > 500


def test_same_seed_same_tokens_and_the_seed_matters():
    m = dense(model(2))
    mel, structure = song(15.0, 2)
    run = [
        generate_osu(
            m, mel, structure, POINTS, condition_vector(stars=5), sampling=OsuSampling(seed=s)
        ).tokens
        for s in (7, 7, 8)
    ]
    assert run[0] == run[1] and run[0] != run[2]


def test_conditioning_dropout_only_in_training():
    cfg = replace(CFG, cond_dropout=1.0, field_dropout=0.0)
    m = model(3, cfg)
    cond = torch.stack([condition_vector(ar=9, cs=4, od=8, hp=6, stars=5.5)] * 4)
    unknown = torch.full((4, N_COND), float("nan"))
    eval_cond = m.condition(cond)
    assert not torch.allclose(eval_cond, m.condition(unknown))  # eval: the condition is used
    m.train()
    torch.testing.assert_close(m.condition(cond), m.condition(unknown))  # train, p = 1: always dropped
    m.eval()
    torch.testing.assert_close(m.condition(cond), eval_cond)
    half = model(3, replace(CFG, cond_dropout=0.5, field_dropout=0.0)).train()
    torch.manual_seed(0)
    rows = half.condition(torch.stack([cond[0]] * 400))
    dropped = torch.isclose(rows, half.condition(unknown[:1]), atol=1e-6).all(dim=1)
    assert 120 < int(dropped.sum()) < 280  # about half the rows


def test_partial_condition_uses_the_unknown_embedding_per_field():
    m = model(4)
    stars_only = m.condition(condition_vector(stars=6.0)[None])
    with_ar = m.condition(condition_vector(stars=6.0, ar=9.0)[None])
    assert not torch.allclose(stars_only, with_ar)
    assert torch.isfinite(stars_only).all()


def test_save_load_round_trip_and_wrong_stage(tmp_path):
    m = model(6)
    path = tmp_path / "osu.pt"
    torch.save({"stage": "osu", "model": m.state_dict(), "model_config": {"model": m.config.to_dict()}}, path)
    loaded = load_osu_model(path)
    args = inputs()
    torch.testing.assert_close(loaded(*args), m(*args), atol=0, rtol=0)
    assert not loaded.training
    other = tmp_path / "sequence.pt"
    torch.save({"stage": "sequence", "model": {}, "model_config": {}}, other)
    with pytest.raises(ValueError, match=r"^\S+ is not an osu model checkpoint$"):
        load_osu_model(other)
    bad = tmp_path / "bad.pt"
    torch.save({"stage": "osu", "model": {}, "model_config": {"model": {"d_model": 63, "heads": 4}}}, bad)
    with pytest.raises(ValueError, match="weights do not fit the osu model"):
        load_osu_model(bad)


def test_tempo_timing_points_give_the_beat_grid():
    (point,) = tempo_timing_points(user_tempo(150.0, 0.12))
    assert (
        point.uninherited and point.beat_length == pytest.approx(400.0) and point.time == pytest.approx(120.0)
    )
