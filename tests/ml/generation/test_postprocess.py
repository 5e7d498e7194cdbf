"""Post-processing: messy input always comes out playable by the shared checker; clean maps barely change."""

from __future__ import annotations

import copy
import random

import pytest

from automapper_ml.evaluation.parity import parity_errors
from automapper_ml.formats.model import BombNote, Chain, ColorNote, Difficulty, LightEvent, Obstacle, Timing
from automapper_ml.generation.options import PostProcessOptions
from automapper_ml.generation.postprocess import postprocess, vision_blocks

UP, DOWN = 0, 1
TIMING = Timing.from_changes(120.0, [])  # 2 beats per second


def difficulty(notes: list[ColorNote], name: str = "Expert", **kw) -> Difficulty:
    return Difficulty("Standard", name, 7, f"{name}Standard.dat", notes=notes, **kw)


def clean_map(beats: int = 240, step: float = 1.0, seed: int = 0) -> list[ColorNote]:
    """Human-like flow: each hand alternates down/up on its own side, off the centre row's middle."""
    rng = random.Random(seed)
    notes = []
    for color, lanes in ((0, (0, 1)), (1, (2, 3))):
        direction = DOWN
        t = 0.0 if color == 0 else step / 2
        while t < beats:
            x = rng.choice(lanes)
            y = 0 if direction == DOWN else 2
            if x in (0, 3):
                y = rng.choice((0, 1)) if direction == DOWN else rng.choice((1, 2))
            notes.append(ColorNote(t, x, y, color, direction))
            direction = UP if direction == DOWN else DOWN
            t += step
    return sorted(notes, key=lambda n: n.beat)


def messy_map(rng: random.Random, n: int = 300) -> Difficulty:
    notes = []
    for _ in range(n):
        beat = rng.choice([rng.uniform(0, 200), round(rng.uniform(0, 200) * 4) / 4])
        notes.append(
            ColorNote(beat, rng.randint(-1, 4), rng.randint(-1, 3), rng.choice((0, 0, 1)), rng.randint(0, 8))
        )
    notes += [ColorNote(float("nan"), 1, 1, 0, 1), ColorNote(5.0, 1, 1, 7, 1), ColorNote(6.0, 1, 1, 0, 12)]
    bombs = [BombNote(rng.uniform(0, 200), rng.randint(0, 3), rng.randint(0, 2)) for _ in range(20)]
    walls = [Obstacle(rng.uniform(0, 200), rng.uniform(-1, 4), rng.randint(0, 3), 0, rng.randint(1, 3), 5)]
    return difficulty(notes, bombs=bombs, obstacles=walls * 5)


@pytest.mark.parametrize("seed", range(12))
def test_messy_input_comes_out_playable(seed: int) -> None:
    rng = random.Random(seed)
    diff = messy_map(rng)
    snapshot = copy.deepcopy(diff)
    out, report = postprocess(diff, TIMING, PostProcessOptions(), duration_seconds=100.0)
    assert parity_errors(out.notes, TIMING, out.bombs) == []
    assert report.parity_errors_after == 0
    assert all(
        0 <= n.x <= 3 and 0 <= n.y <= 2 and n.color in (0, 1) and 0 <= n.direction <= 8 for n in out.notes
    )
    assert all(0 <= b.x <= 3 and 0 <= b.y <= 2 for b in out.bombs)
    assert all(o.duration > 0 and o.x >= 0 and o.x + o.width <= 4 for o in out.obstacles)
    assert vision_blocks(out.notes, TIMING) == []
    assert report.counts_in["notes"] == len(diff.notes) and report.counts_out["notes"] == len(out.notes)
    assert 0 < report.notes_changed <= len(diff.notes)
    assert diff == snapshot  # the input is not modified


def test_clean_human_like_map_barely_changes() -> None:
    notes = clean_map()
    assert parity_errors(notes, TIMING) == []
    out, report = postprocess(difficulty(notes), TIMING, duration_seconds=110.0)
    assert 4.0 <= report.nps_before <= 6.5
    assert report.parity_errors_before == 0 and report.parity_errors_after == 0
    assert report.notes_changed_share < 0.02, report.rule_counts
    assert len(out.notes) == len(notes)


@pytest.mark.parametrize("seed", range(4))
def test_seeded_parity_violations_are_fixed_locally(seed: int) -> None:
    notes = clean_map(seed=seed)
    rng = random.Random(seed)
    seeded = rng.sample(range(10, len(notes) - 10, 1), 8)
    for i in seeded:
        notes[i].direction = UP if notes[i].direction == DOWN else DOWN
    before = parity_errors(notes, TIMING)
    assert len(before) >= 8
    out, report = postprocess(difficulty(notes), TIMING, duration_seconds=110.0)
    assert report.parity_errors_after == 0 and parity_errors(out.notes, TIMING) == []
    assert report.parity_errors_before == len(before)
    # about the seeded notes change: each can be fixed by flipping it back (or a neighbour)
    assert report.notes_changed <= 2 * len(seeded), report.rule_counts
    kept = {(n.beat, n.color): n for n in out.notes}
    restored = sum(
        1
        for i in seeded
        if (notes[i].beat, notes[i].color) in kept
        and kept[(notes[i].beat, notes[i].color)].direction != notes[i].direction
    )
    assert restored >= len(seeded) // 2


def test_nps_above_range_is_dropped_below_is_reported() -> None:
    dense = clean_map(beats=120, step=0.25)  # 16 notes/s over 60 s
    out, report = postprocess(difficulty(dense, "ExpertPlus"), TIMING, duration_seconds=60.0)
    assert report.nps_before > 9.0
    assert report.nps_after <= 9.0 and len(out.notes) <= 9.0 * 60
    assert report.nps_after >= 5.5 and not report.nps_below_range
    assert parity_errors(out.notes, TIMING, out.bombs) == []
    sparse = clean_map(beats=40, step=2.0)
    out, report = postprocess(difficulty(sparse, "Hard"), TIMING, duration_seconds=60.0)
    assert report.nps_below_range and len(out.notes) == len(sparse)  # nothing invented


def test_colour_balance() -> None:
    notes = clean_map(beats=200)
    # blue plays only the first quarter: red holds ~80% of the notes
    notes = [n for n in notes if n.color == 0 or n.beat < 50]
    out, report = postprocess(difficulty(notes), TIMING, duration_seconds=100.0)
    assert report.left_share_before > 0.7
    assert 0.35 <= report.left_share_after <= 0.65
    assert parity_errors(out.notes, TIMING) == []


def test_handclaps_and_vision_blocks() -> None:
    notes = [
        ColorNote(10.0, 1, 1, 0, 3),  # red pointing right at ...
        ColorNote(10.0, 2, 1, 1, 2),  # ... blue pointing left beside it: a clap
        ColorNote(20.0, 3, 0, 0, 1),  # red right of blue at one time: crossed arms
        ColorNote(20.0, 0, 0, 1, 1),
        ColorNote(30.0, 1, 1, 0, 1),  # centre note ...
        ColorNote(30.25, 1, 0, 1, 1),  # ... hiding a note 0.125 s later
    ]
    assert vision_blocks(notes, TIMING)
    out, report = postprocess(difficulty(notes), TIMING, PostProcessOptions(nps=False))
    at = {(n.beat, n.color): n for n in out.notes}
    assert at[(10.0, 1)].x - at[(10.0, 0)].x >= 2
    assert at[(20.0, 0)].x < at[(20.0, 1)].x
    assert vision_blocks(out.notes, TIMING) == []
    assert report.rule_counts["handclaps"] >= 2 and report.rule_counts["vision_blocks"] == 1


@pytest.mark.parametrize("density", ["none", "low", "high"])
def test_bomb_and_wall_density(density: str) -> None:
    notes = clean_map(beats=240, step=2.0)  # each hand every second: room for bombs and walls
    bombs = [BombNote(float(b), 0, 2) for b in range(3, 240, 7)]
    options = PostProcessOptions(bomb_density=density, wall_density=density)
    out, _ = postprocess(difficulty(notes, bombs=bombs), TIMING, options, duration_seconds=120.0)
    if density == "none":
        assert out.bombs == [] and out.obstacles == []
    else:
        assert out.bombs and out.obstacles
        if density == "high":
            assert len(out.bombs) > len(bombs) // 2 and len(out.obstacles) >= 4
    for o in out.obstacles:  # walls are one wide on an outer lane and cover no note
        assert o.width == 1 and o.x in (0, 3)
        t0, t1 = TIMING.to_seconds(o.beat) - 0.1, TIMING.to_seconds(o.beat + o.duration) + 0.1
        assert not any(n.x == o.x and t0 <= TIMING.to_seconds(n.beat) <= t1 for n in out.notes)
    assert parity_errors(out.notes, TIMING, out.bombs) == []


def test_chroma_palette_and_chains_follow_their_heads() -> None:
    notes = clean_map(beats=20)
    head = notes[4]
    chain = Chain(head.color, head.beat, head.x, head.y, head.direction, head.beat + 0.25, head.x, 0, 4)
    flipped = copy.deepcopy(notes)
    flipped[4].direction = UP if head.direction == DOWN else DOWN  # a seeded error on the chain head
    events = [LightEvent(1.0, 0, 1), LightEvent(2.0, 1, 5), LightEvent(3.0, 4, 0), LightEvent(4.0, 5, 1)]
    options = PostProcessOptions(chroma_palette=((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)), nps=False)
    out, report = postprocess(difficulty(flipped, chains=[chain], events=events), TIMING, options)
    assert [e.color for e in out.events] == [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0), None, None]
    assert report.rule_counts["chroma_events"] == 2
    heads = {(n.beat, n.x, n.y, n.color): n.direction for n in out.notes}
    for c in out.chains:  # a kept chain still sits on a note pointing its way
        assert heads[(c.beat, c.x, c.y, c.color)] == c.direction
    with pytest.raises(ValueError):
        postprocess(difficulty(notes), TIMING, PostProcessOptions(chroma_palette=((2.0, 0.0),)))
