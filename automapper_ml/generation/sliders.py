"""Arcs and chains where the music holds notes, added to a finished difficulty.

Stage 2's tokens can place arcs and chains, but real corpora rarely teach them: v2 maps cannot hold
them, and in ../shared/corpus the Standard difficulties that train hold 3 arcs and no chain in ~48k
notes (the v3 maps rich in them, 2-5 per 100 notes, are Noodle modcharts, which the blacklist keeps
out of training). A model trained there never places them. So after post-processing, when the notes
are final, this step reads the audio and adds them where a mapper would:

- an ARC joins two consecutive notes of one hand when the sound between them is held: 1 to 4 beats
  apart, with no other note of that hand between, and the loudness over the gap staying close to its
  level at the head note (a sustained note, a pad, a vocal) with few new attacks in it. The best held
  gaps win.
- a CHAIN turns a one-note swing into a burst when a quick sound follows it: the next note of that hand
  is at least half a beat later, the head's arrow points to free cells on the grid, and the onset
  strength in the eighth of a beat after the head is high (a flam, a roll, a stutter).

At most `ARC_SHARE` / `CHAIN_SHARE` of the difficulty's notes get one (human v3 maps: 1-4 per 100 notes
each), never two sliders of one hand within two beats. Notes themselves are never changed, so parity
and every note figure stay what post-processing made them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.formats.model import DIRECTION_STEP, Arc, Chain, ColorNote, Difficulty, Timing

# share of notes that may head an arc / a chain, per difficulty
ARC_SHARE = {"Easy": 0.0, "Normal": 0.01, "Hard": 0.015, "Expert": 0.025, "ExpertPlus": 0.03}
CHAIN_SHARE = {"Easy": 0.0, "Normal": 0.0, "Hard": 0.01, "Expert": 0.015, "ExpertPlus": 0.025}
ARC_BEATS = (1.0, 4.0)  # gap between the arc's head and tail notes
HELD_DB = 6.0  # the gap's quiet end (20th percentile) stays within this of the head's loudness
CHAIN_GAP_BEATS = 0.5  # the hand's next note comes at least this much after a chain head
CHAIN_BEATS = 0.125  # a chain lasts an eighth of a beat
CHAIN_SLICES = 4
ATTACK_FRAMES = 6  # a note's loudness is the peak over the frames around it (~70 ms)
SPACING_BEATS = 2.0  # sliders of one hand at least this far apart


@dataclass(frozen=True)
class SliderReport:
    arcs: int  # arcs added
    chains: int  # chains added
    arc_candidates: int  # gaps that were held enough
    chain_candidates: int  # heads with a quick sound after them


def add_sliders(
    d: Difficulty, timing: Timing, structure: np.ndarray, difficulty: str | None = None
) -> SliderReport:
    """Add arcs and chains to `d` in place (see the module docstring); returns what was added.

    structure: (N_STRUCTURE, T) audio.structure_features of the map's (padded) audio: row 0 loudness,
    row 1 onset strength."""
    name = difficulty or d.name
    notes = sorted((n for n in d.notes if not n.uninteractable), key=lambda n: (n.beat, n.color))
    if not notes:
        return SliderReport(0, 0, 0, 0)
    seconds = np.array([timing.to_seconds(n.beat) for n in notes])
    frames = np.clip(np.rint(seconds / FRAME_SECONDS).astype(np.int64), 0, structure.shape[1] - 1)
    loud, onset = structure[0].astype(np.float64), structure[1].astype(np.float64)
    by_hand: dict[int, list[int]] = {0: [], 1: []}
    for i, n in enumerate(notes):
        if n.color in by_hand:
            by_hand[n.color].append(i)
    count_at: dict[tuple[float, int], int] = {}
    for n in notes:
        count_at[(round(n.beat, 3), n.color)] = count_at.get((round(n.beat, 3), n.color), 0) + 1

    arcs: list[tuple[float, int, int]] = []  # (score, head index, tail index)
    chains: list[tuple[float, int]] = []  # (score, head index)
    for hand in by_hand.values():
        for a, b in zip(hand, hand[1:], strict=False):
            na, nb = notes[a], notes[b]
            gap = nb.beat - na.beat
            if ARC_BEATS[0] <= gap <= ARC_BEATS[1] and count_at[(round(na.beat, 3), na.color)] == 1:
                span = loud[frames[a] + 1 : frames[b]]
                if span.size >= 4:
                    attack = loud[max(frames[a] - 2, 0) : frames[a] + ATTACK_FRAMES].max()  # the hit's peak
                    held = (np.percentile(span, 20) - attack) * 60.0  # dB, <= 0 when it decays
                    attacks = float(np.mean(onset[frames[a] + 1 : frames[b]] > 0.5))
                    if held >= -HELD_DB and attacks < 0.1:
                        arcs.append((held - 20.0 * attacks, a, b))
        for a, b in zip(hand, [*hand[1:], None], strict=False):
            na = notes[a]
            if na.direction not in DIRECTION_STEP or count_at[(round(na.beat, 3), na.color)] != 1:
                continue
            if b is not None and notes[b].beat - na.beat < CHAIN_GAP_BEATS:
                continue
            width = max(1, int(round(CHAIN_BEATS * 60.0 / _bpm(timing, na.beat) / FRAME_SECONDS)))
            after = onset[frames[a] + 1 : frames[a] + 1 + width]
            if after.size and after.max() > 0.6:
                chains.append((float(after.max()), a))

    occupied = _occupancy(d)
    taken: dict[int, list[float]] = {0: [], 1: []}  # the model's own sliders count too
    for obj in (*d.arcs, *d.chains):
        taken.setdefault(obj.color, []).append(obj.beat)
    n_arcs = _take(arcs, ARC_SHARE.get(name, 0.0) * len(notes), notes, taken, lambda s: _add_arc(d, notes, s))
    n_chains = _take(
        chains, CHAIN_SHARE.get(name, 0.0) * len(notes), notes, taken,
        lambda s: _add_chain(d, notes[s[1]], occupied),
    )  # fmt: skip
    d.arcs.sort(key=lambda x: (x.beat, x.color))
    d.chains.sort(key=lambda x: (x.beat, x.color))
    return SliderReport(n_arcs, n_chains, len(arcs), len(chains))


def _bpm(timing: Timing, beat: float) -> float:
    """Local BPM from the timing's seconds per beat around `beat`."""
    return 60.0 / max(timing.to_seconds(beat + 1.0) - timing.to_seconds(beat), 1e-6)


def _take(candidates: list, budget: float, notes: list[ColorNote], taken: dict[int, list[float]], add) -> int:
    """Add the best candidates (highest score first) up to `budget`, one hand's sliders SPACING_BEATS apart."""
    added = 0
    for cand in sorted(candidates, key=lambda c: -c[0]):
        if added >= int(budget):
            break
        head = notes[cand[1]]
        if any(abs(head.beat - b) < SPACING_BEATS for b in taken[head.color]):
            continue
        if add(cand):
            taken[head.color].append(head.beat)
            added += 1
    return added


def _add_arc(d: Difficulty, notes: list[ColorNote], cand: tuple[float, int, int]) -> bool:
    _, a, b = cand
    na, nb = notes[a], notes[b]
    d.arcs.append(Arc(color=na.color, beat=na.beat, x=na.x, y=na.y, direction=na.direction, head_multiplier=1.0,
                      tail_beat=nb.beat, tail_x=nb.x, tail_y=nb.y, tail_direction=nb.direction,
                      tail_multiplier=1.0, mid_anchor=0))  # fmt: skip
    return True


def _occupancy(d: Difficulty) -> list[tuple[float, int, int]]:
    return [(n.beat, n.x, n.y) for n in d.notes] + [(b.beat, b.x, b.y) for b in d.bombs]


def _add_chain(d: Difficulty, head: ColorNote, occupied: list[tuple[float, int, int]]) -> bool:
    """A chain from `head` two cells along its arrow (one if two leave the grid); False when it would
    leave the grid or pass through another object's cell while it plays."""
    dx, dy = DIRECTION_STEP[head.direction]
    for reach in (2, 1):
        tx, ty = head.x + dx * reach, head.y + dy * reach
        if not (0 <= tx <= 3 and 0 <= ty <= 2):
            continue
        cells = {(head.x + dx * k, head.y + dy * k) for k in range(1, reach + 1)}
        end = head.beat + CHAIN_BEATS
        if any(head.beat - 1e-3 <= t <= end + 0.25 and (x, y) in cells for t, x, y in occupied):
            return False
        d.chains.append(Chain(color=head.color, beat=head.beat, x=head.x, y=head.y, direction=head.direction,
                              tail_beat=end, tail_x=tx, tail_y=ty, slices=CHAIN_SLICES, squish=1.0))  # fmt: skip
        return True
    return False
