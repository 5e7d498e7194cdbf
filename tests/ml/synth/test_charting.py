"""Charts follow the music and play like human maps: parity-clean, balanced, rising density."""

from __future__ import annotations

import numpy as np
import pytest

from automapper_ml.evaluation.quality import quality_report
from automapper_ml.synth import DemoConfig, build_map, plan_corpus
from automapper_ml.synth.charting import STYLES, ChartOptions, chart_difficulties
from automapper_ml.synth.composition import compose_song
from automapper_ml.synth.corpus import compose
from automapper_ml.synth.lighting import light_show

NAMES = list(STYLES)  # Easy .. ExpertPlus
ALL_ON = ChartOptions(arcs=True, chains=True, bombs=True, walls=True)


@pytest.fixture(scope="module")
def charted():
    out = []
    for seed in range(24):
        song = compose_song(seed, 35.0, bpm_change=seed % 3 == 0)
        diffs = chart_difficulties(song, NAMES, np.random.default_rng(seed), dict.fromkeys(NAMES, ALL_ON))
        out.append((song, diffs))
    return out


def test_every_note_sits_on_a_drum_hit(charted):
    for song, diffs in charted:
        hit_beats = {h.beat for h in song.hits}
        for diff in diffs:
            assert diff.notes
            assert {n.beat for n in diff.notes} <= hit_beats


def test_zero_parity_errors_balanced_colours_whole_grid_no_collapse(charted):
    for song, diffs in charted:
        timing = song.timing()
        for diff in diffs:
            q = quality_report(diff.notes, timing, diff.bombs)
            assert q.parity_errors == 0, (song.seed, diff.name)
            assert q.parity_warnings == 0, (song.seed, diff.name)
            assert 0.4 <= q.left_share <= 0.6
            assert q.most_common_share < 0.25
            assert q.off_beat_share == 0.0
            assert q.cells_used == 12, (song.seed, diff.name)


def test_density_rises_with_difficulty(charted):
    for song, diffs in charted:
        counts = [len(d.notes) for d in diffs]
        assert counts == sorted(counts) and len(set(counts)) == len(counts), (song.seed, counts)
    hardest = np.mean([len(diffs[-1].notes) / song.seconds for song, diffs in charted])
    easiest = np.mean([len(diffs[0].notes) / song.seconds for song, diffs in charted])
    assert easiest < 1.5 and hardest > 2.5


def test_low_difficulties_leave_strong_hits_out(charted):
    """Mappers choose: Easy maps only some of the kicks and snares, ExpertPlus maps hats too."""
    shares = []
    for song, diffs in charted:
        strong = {h.beat for h in song.hits if h.drum in ("kick", "snare")}
        easy = {n.beat for n in diffs[0].notes}
        assert len(easy & strong) < 0.85 * len(strong)
        shares.append(len(easy & strong) / len(strong))
    assert np.mean(shares) < 0.6
    hats_mapped = 0
    for song, diffs in charted:
        hat_only = {h.beat for h in song.hits} - {
            h.beat for h in song.hits if h.drum not in ("hat", "open_hat")
        }
        hats_mapped += len(hat_only & {n.beat for n in diffs[-1].notes})
    assert hats_mapped > 0


def test_arcs_chains_bombs_walls_are_well_formed(charted):
    for _song, diffs in charted:
        for diff in diffs:
            notes = {(n.beat, n.x, n.y, n.color, n.direction) for n in diff.notes}
            for arc in diff.arcs:
                assert (arc.beat, arc.x, arc.y, arc.color, arc.direction) in notes
                assert (arc.tail_beat, arc.tail_x, arc.tail_y, arc.color, arc.tail_direction) in notes
                assert arc.tail_beat > arc.beat
            for chain in diff.chains:
                assert (chain.beat, chain.x, chain.y, chain.color, chain.direction) in notes
                assert 0 <= chain.tail_x <= 3 and 0 <= chain.tail_y <= 2 and chain.slices >= 3
            for bomb in diff.bombs:
                assert (bomb.x, bomb.y) not in {(1, 0), (1, 2), (2, 0), (2, 2)}  # no parity-reset bombs
                assert all(abs(n.beat - bomb.beat) >= 0.5 for n in diff.notes)
            for wall in diff.obstacles:
                inside = [
                    n for n in diff.notes if wall.beat - 0.5 <= n.beat <= wall.beat + wall.duration + 0.5
                ]
                assert all(n.x != wall.x for n in inside)


def test_light_show_is_on_the_beat_with_optional_chroma():
    song = compose_song(5, 35.0)
    events, boosts = light_show(song, np.random.default_rng(0), chroma=True)
    plain, _ = light_show(song, np.random.default_rng(0), chroma=False)
    hit_beats = {h.beat for h in song.hits} | {s.start_beat for s in song.sections} | {song.end_beat}
    assert {e.beat for e in events} <= hit_beats
    assert any(e.color is not None for e in events) and all(e.color is None for e in plain)
    assert boosts and len(events) > 50


def test_arc_and_chain_rates_match_the_seed_dataset_over_a_large_corpus():
    """Seed data: arcs in 32% of (song, difficulty) pairs and 1.9% of objects; chains 14% and 0.5%."""
    config = DemoConfig(seed=7, n_songs=160)
    songs, maps, _ = plan_corpus(config)
    cache = {}
    pairs = arc_pairs = chain_pairs = objects = arcs = chains = 0
    for plan in maps:
        song = cache.setdefault(plan.song.key, compose(plan.song))
        for diff in build_map(plan, song).difficulties:
            if diff.characteristic != "Standard":
                continue
            pairs += 1
            arc_pairs += bool(diff.arcs)
            chain_pairs += bool(diff.chains)
            arcs += len(diff.arcs)
            chains += len(diff.chains)
            objects += (
                len(diff.notes) + len(diff.bombs) + len(diff.obstacles) + len(diff.arcs) + len(diff.chains)
            )
    assert pairs > 400
    assert arc_pairs / pairs == pytest.approx(0.32, abs=0.06)
    assert chain_pairs / pairs == pytest.approx(0.14, abs=0.04)
    assert arcs / objects == pytest.approx(0.019, abs=0.006)
    assert chains / objects == pytest.approx(0.005, abs=0.002)
