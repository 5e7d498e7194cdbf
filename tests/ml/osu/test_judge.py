"""The osu! judge: its figures on small maps against values worked out by hand, broken sliders and
objects off the playfield flagged, and rosu-pp-py (an independent parser + difficulty calculator)
reading every map the project writes with the star rating of the original file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from automapper_ml.evaluation.osu import (
    judge_map,
    map_problems,
    quantile_distance,
    slider_end,
    slider_path,
    slider_problems,
    spacing,
    wasserstein,
)
from automapper_ml.formats.osu import (
    Circle,
    CurveSegment,
    OsuMap,
    Slider,
    Spinner,
    TimingPoint,
    load_osu,
    osu_bytes,
    read_osu,
    read_osz,
)
from automapper_ml.formats.osu.model import Difficulty
from automapper_ml.tokenizer_osu import curve_length, decode_osu, encode_osu
from tests.ml.osu.fixtures import CORPUS_ENV, corpus_sets, standard_fixtures

STAR_TOLERANCE = 0.01


def slider(x, y, time, kind, points, length, slides=1, **kw) -> Slider:
    return Slider(
        x,
        y,
        time,
        curve=(CurveSegment(kind, tuple(points)),),
        slides=slides,
        length=length,
        edge_sounds=(0,) * (slides + 1),
        edge_sets=((0, 0),) * (slides + 1),
        **kw,
    )


# 120 BPM (500 ms a beat), SliderMultiplier 1.4: a slider at SV 1 covers 140 px a beat.
TIMING = (TimingPoint(0.0, 500.0),)
REFERENCE = OsuMap(
    timing_points=TIMING,
    hit_objects=(
        Circle(100, 100, 0, new_combo=True),
        Circle(200, 100, 500),  # 100 px in 1 beat
        slider(300, 100, 1000, "L", [(300, 240)], 140),  # 100 px in 1 beat; 1 beat long, ends at 300,240
        Circle(300, 290, 2000, new_combo=True),  # 50 px in the 1 beat after the slider's end (1500 ms)
        Spinner(256, 192, 3000, end=4000),  # spinners make no spacing
    ),
)
# Start times 0, 505, 1030, 2000: within 10 ms of 3 of REFERENCE's 5 starts, within 50 ms of 4.
ESTIMATE = OsuMap(
    timing_points=TIMING,
    hit_objects=tuple(Circle(256, 192, t) for t in (0, 505, 1030, 2000)),
)


def test_figures_of_a_small_map_by_hand():
    j = judge_map(REFERENCE)
    assert j["objects"] == 5
    assert (j["circle_share"], j["slider_share"], j["spinner_share"]) == (0.6, 0.2, 0.2)
    assert j["new_combo_rate"] == 0.4
    assert spacing(REFERENCE).tolist() == pytest.approx([100.0, 100.0, 50.0])
    assert j["spacing_median"] == pytest.approx(100.0) and j["spacing_p90"] == pytest.approx(100.0)
    assert j["length_s"] == 4.0 and j["bpm"] == pytest.approx(120.0)
    assert j["sliders_invalid"] == j["objects_outside"] == j["path_points_outside"] == 0


def test_rhythm_scores_by_hand():
    j = judge_map(ESTIMATE, REFERENCE)
    assert j["rhythm_precision_10ms"] == 0.75 and j["rhythm_recall_10ms"] == 0.6
    assert j["rhythm_f1_10ms"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert j["rhythm_precision_50ms"] == 1.0 and j["rhythm_recall_50ms"] == 0.8
    assert j["rhythm_f1_50ms"] == pytest.approx(2 * 0.8 / 1.8)
    # ESTIMATE's circles all sit at 256,192: spacing 0 against REFERENCE's 100, 100, 50
    assert j["spacing_wasserstein"] == pytest.approx((100 + 100 + 50) / 3)
    same = judge_map(REFERENCE, REFERENCE)
    assert same["rhythm_f1_10ms"] == same["rhythm_f1_50ms"] == 1.0
    assert same["spacing_wasserstein"] == same["spacing_quantile_distance"] == 0.0


def test_spacing_uses_the_tempo_and_slider_velocity_in_force():
    timing = (
        TimingPoint(0.0, 500.0),
        TimingPoint(1000.0, 250.0),
        TimingPoint(1000.0, -50.0, uninherited=False),
    )
    m = OsuMap(
        timing_points=timing,
        hit_objects=(
            Circle(0, 0, 0),
            Circle(0, 100, 500),  # 100 px / 1 beat of 500 ms
            slider(0, 200, 1000, "L", [(280, 200)], 280),  # 100 px / 2 beats of 250 ms; SV 2: 280 px a beat
            Circle(280, 300, 1500),  # slider ends at 1250 ms (1 beat): 100 px / 1 beat
            Circle(280, 300, 9000),  # 30 beats later: a pause, left out
        ),
    )
    assert spacing(m).tolist() == pytest.approx([100.0, 50.0, 100.0])
    assert judge_map(m)["bpm"] == pytest.approx(60_000 / 250)  # 1000..9000 ms at 240 BPM


def test_distribution_distances_by_hand_and_against_scipy():
    assert wasserstein(np.array([0.0, 1.0]), np.array([1.0, 2.0])) == pytest.approx(1.0)
    assert wasserstein(np.array([0.0, 0.0, 3.0]), np.array([0.0, 3.0, 3.0])) == pytest.approx(1.0)
    assert quantile_distance(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == pytest.approx(2.0)
    assert math.isnan(wasserstein(np.array([]), np.array([1.0])))
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.gamma(2.0, 50.0, rng.integers(1, 80)), rng.gamma(3.0, 40.0, rng.integers(1, 80))
        assert wasserstein(a, b) == pytest.approx(stats.wasserstein_distance(a, b))


def test_slider_paths_by_hand():
    line = slider(0, 0, 0, "L", [(100, 0)], 50)
    assert slider_path(line)[-1].tolist() == [50.0, 0.0] and slider_end(line) == (50.0, 0.0)
    assert slider_end(slider(0, 0, 0, "L", [(100, 0)], 50, slides=2)) == (0.0, 0.0)
    assert slider_path(slider(0, 0, 0, "L", [(100, 0)], 150))[-1].tolist() == [150.0, 0.0]  # run on
    arc = slider_path(slider(0, 100, 0, "P", [(100, 0), (200, 100)], 0))  # half circle about 100,100
    assert np.linalg.norm(arc - [100, 100], axis=1) == pytest.approx(np.full(len(arc), 100.0))
    assert arc[-1] == pytest.approx([200, 100]) and 0 <= arc[:, 1].min() < 0.5
    catmull = slider_path(slider(10, 10, 0, "C", [(100, 50), (200, 10)], 0))
    for point in ([10, 10], [100, 50], [200, 10]):  # a Catmull-Rom path goes through its points
        assert np.abs(catmull - point).sum(axis=1).min() < 1e-9
    for kind, points in (
        ("B", [(0, 0), (100, 0), (100, 100)]),
        ("B", [(0, 0), (50, 80), (50, 80), (200, 0)]),
    ):
        path = slider_path(slider(*points[0], 0, kind, points[1:], 0))
        drawn = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
        assert drawn == pytest.approx(curve_length(kind, points), rel=1e-3)  # the tokenizer's length
        assert path[-1] == pytest.approx(points[-1])


def test_objects_off_the_playfield_and_broken_sliders_are_flagged():
    off = Circle(600, 100, 0)
    leaves = slider(500, 100, 500, "L", [(560, 100)], 60)
    wrong_p = slider(100, 100, 1000, "P", [(150, 50), (200, 100), (250, 50)], 200)
    no_length = slider(100, 100, 1500, "B", [(150, 50)], math.nan)
    no_anchor = Slider(100, 100, 2000, curve=(CurveSegment("L", ()),), length=10)
    bad_kind = slider(100, 100, 2500, "X", [(150, 50)], 70)
    m = OsuMap(timing_points=TIMING, hit_objects=(off, leaves, wrong_p, no_length, no_anchor, bad_kind))
    assert slider_problems(leaves) == ["its path leaves the playfield"]
    assert slider_problems(wrong_p) == ["a P curve without exactly 3 points"]
    assert slider_problems(no_length) == ["pixel length nan"]
    assert slider_problems(no_anchor) == ["no anchors"]
    assert slider_problems(bad_kind) == ["curve type X is none of L, B, P, C"]
    assert slider_problems(REFERENCE.hit_objects[2]) == []
    problems = map_problems(m)
    assert problems[0] == "object 0 at 0 ms: position 600,100 is outside the 512x384 playfield"
    assert len(problems) == 6
    j = judge_map(m)
    assert j["objects_outside"] == 1 and j["sliders_invalid"] == 5 and j["slider_invalid_share"] == 1.0
    assert j["path_points_outside"] >= 1


# ------------------------------------------------------------------------------ rosu-pp-py


def _stars(source):
    pytest.importorskip("rosu_pp_py")
    from automapper_ml.evaluation.osu_stars import osu_stars

    return osu_stars(source)


def _assert_read_whole(rating, m: OsuMap) -> None:
    counts = tuple(sum(isinstance(o, cls) for o in m.hit_objects) for cls in (Circle, Slider, Spinner))
    assert rating.mode == "Osu" and (rating.circles, rating.sliders, rating.spinners) == counts
    assert math.isfinite(rating.stars) and rating.max_combo >= len(m.hit_objects)


@pytest.mark.parametrize("path", standard_fixtures())
def test_every_written_fixture_keeps_its_star_rating(path):
    original = _stars(path)
    m = load_osu(path)
    written = _stars(osu_bytes(m))
    _assert_read_whole(written, m)
    assert written.stars == pytest.approx(original.stars, abs=STAR_TOLERANCE)


@pytest.mark.parametrize("path", standard_fixtures())
def test_decoded_token_maps_parse_inside_the_playfield(path):
    m = load_osu(path)
    decoded = decode_osu(encode_osu(m).tokens, timing_points=m.timing_points, difficulty=m.difficulty)
    _assert_read_whole(_stars(decoded), decoded)
    assert judge_map(decoded)["objects_outside"] == 0


SYNTHETIC = {
    "every curve type": OsuMap(
        difficulty=Difficulty(hp=4, cs=4, od=8, ar=9),
        timing_points=(TimingPoint(0.0, 400.0), TimingPoint(4000.0, -80.0, uninherited=False)),
        hit_objects=(
            Circle(64, 64, 0, new_combo=True),
            slider(128, 64, 400, "L", [(256, 64)], 128, slides=2),
            slider(256, 192, 1600, "B", [(320, 100), (400, 192), (400, 192), (450, 300)], 250),
            slider(100, 300, 2800, "P", [(150, 250), (200, 300)], 150, new_combo=True),
            slider(300, 300, 4000, "C", [(350, 250), (400, 300), (450, 250)], 180, slides=3),
            Spinner(256, 192, 6000, end=8000, new_combo=True),
            *(Circle(64 + 40 * i, 350 - 20 * i, 8400 + 100 * i) for i in range(10)),
        ),
    ),
    "streams": OsuMap(
        difficulty=Difficulty(hp=6, cs=4.2, od=9, ar=9.5),
        timing_points=(TimingPoint(100.0, 300.0),),
        hit_objects=tuple(
            Circle(
                256 + 100 * math.cos(i / 3), 192 + 100 * math.sin(i / 3), 100 + 75 * i, new_combo=i % 8 == 0
            )
            for i in range(200)
        ),
    ),
    "empty": OsuMap(timing_points=TIMING),
}


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_maps_parse_with_the_same_rating_after_a_rewrite(name):
    m = SYNTHETIC[name]
    first = _stars(m)
    _assert_read_whole(first, m)
    again = read_osu(osu_bytes(m), f"{name}.osu")
    assert again == m and _stars(again) == first
    assert judge_map(m)["objects_outside"] == 0 and judge_map(m)["sliders_invalid"] == 0
    if m.hit_objects:
        assert first.stars > 1.0


def test_osu_stars_refuses_without_rosu(monkeypatch):
    import builtins

    from automapper_ml.evaluation.osu_stars import StarRatingUnavailable, osu_stars

    real_import = builtins.__import__

    def no_rosu(name, *args, **kwargs):
        if name == "rosu_pp_py":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rosu)
    with pytest.raises(StarRatingUnavailable, match="rosu-pp-py is not installed"):
        osu_stars(REFERENCE)


@pytest.mark.skipif(not corpus_sets(), reason=f"{CORPUS_ENV} is unset")
def test_real_corpus_parses_and_keeps_its_rating():
    pytest.importorskip("rosu_pp_py")
    import zipfile

    checked = 0
    for path in corpus_sets():
        osz = read_osz(path)
        with zipfile.ZipFile(path) as zf:
            for name, m in osz.beatmaps:
                original = _stars(zf.read(name))
                written = _stars(m)
                _assert_read_whole(written, m)
                assert written.stars == pytest.approx(original.stars, abs=STAR_TOLERANCE), (path.name, name)
                assert judge_map(m, m)["rhythm_f1_10ms"] == (1.0 if m.hit_objects else 0.0)
                checked += 1
    assert checked
