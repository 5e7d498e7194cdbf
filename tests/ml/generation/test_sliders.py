"""generation.sliders: arcs over held sounds, chains on quick follow-ups, notes untouched."""

from __future__ import annotations

import copy

import numpy as np

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.evaluation.parity import parity_errors
from automapper_ml.formats.model import ColorNote, Difficulty, Timing
from automapper_ml.generation.sliders import add_sliders

BPM = 120.0
TIMING = Timing.from_changes(BPM, [])


def difficulty(notes: list[ColorNote]) -> Difficulty:
    return Difficulty(characteristic="Standard", name="ExpertPlus", rank=9, filename="x.dat", version="3.3.0",
                      njs=18.0, njs_offset=0.0, notes=notes)  # fmt: skip


def alternating(n: int, gap: float = 2.0) -> list[ColorNote]:
    """Left hand down/up every `gap` beats, right hand likewise half a gap later."""
    out = []
    for i in range(n):
        d = 1 if i % 2 == 0 else 0
        out.append(ColorNote(i * gap, 1, 0 if d == 1 else 1, 0, d))
        out.append(ColorNote(i * gap + gap / 2, 2, 0 if d == 1 else 1, 1, d))
    return out


def structure(seconds: float, held: bool, bursts: list[float] = ()) -> np.ndarray:
    frames = int(seconds / FRAME_SECONDS) + 1
    s = np.zeros((6, frames), dtype=np.float32)
    t = np.arange(frames) * FRAME_SECONDS
    beat_s = 60.0 / BPM
    phase = (t % (2 * beat_s)) / (2 * beat_s)
    s[0] = -0.02 if held else -phase * 0.8  # held: loud all along; else each hit decays by 48 dB
    for b in bursts:
        i = int(round(b * beat_s / FRAME_SECONDS))
        s[1, i + 2 : i + 5] = 1.5  # a quick attack just after the note
    return s


def test_held_sound_gets_arcs_and_decaying_sound_none():
    notes = alternating(60)
    held, dry = difficulty(copy.deepcopy(notes)), difficulty(copy.deepcopy(notes))
    r_held = add_sliders(held, TIMING, structure(70, held=True))
    r_dry = add_sliders(dry, TIMING, structure(70, held=False))
    assert r_held.arcs >= 2 and r_dry.arcs == 0
    assert r_held.arcs <= 0.03 * len(notes)  # the ExpertPlus share caps them
    for arc in held.arcs:
        head = [n for n in held.notes if n.beat == arc.beat and n.color == arc.color]
        tail = [n for n in held.notes if n.beat == arc.tail_beat and n.color == arc.color]
        assert head and tail and (head[0].x, head[0].y, head[0].direction) == (arc.x, arc.y, arc.direction)
        assert 1.0 <= arc.tail_beat - arc.beat <= 4.0


def test_chains_follow_quick_sounds_and_notes_stay_unchanged():
    notes = alternating(60)
    before = copy.deepcopy(notes)
    d = difficulty(notes)
    bursts = [float(b) for b in np.arange(2, 120, 4.0)]  # after every left-hand up arrow (room above)
    report = add_sliders(d, TIMING, structure(70, held=False, bursts=bursts))
    assert report.chains >= 1 and report.chain_candidates >= report.chains
    heads = {(n.beat, n.color) for n in d.notes}
    for c in d.chains:
        assert (c.beat, c.color) in heads and 0 <= c.tail_x <= 3 and 0 <= c.tail_y <= 2
        assert c.beat in bursts
    assert d.notes == before  # notes, hence parity, untouched
    assert parity_errors(d.notes, TIMING, d.bombs) == parity_errors(before, TIMING, [])


def test_empty_difficulty_adds_nothing():
    d = difficulty([])
    assert add_sliders(d, TIMING, structure(10, held=True)).arcs == 0 and not d.arcs
