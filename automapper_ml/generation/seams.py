"""Where `decode_song`'s side-by-side runs meet: prompt each run with every possible hand state and keep
the one that flows on from the run before it.

`decode_song` splits a song's onsets into contiguous runs decoded in one batch (speed: bench/decoding.py).
A run's first onset cannot see the previous run's notes (they are decoded at the same time), so
without help it starts blind, like the song's first note, and at every seam each hand's next swing
has even odds of repeating its last one: measured on the demo-trained model, 26-48 parity errors per
100 swings on Expert maps (86 notes in 32 runs of 2-3 onsets) against ~4 on ExpertPlus (longer runs).

Instead, each run after the first is decoded once per PROMPT: a short synthetic context that states
one of the four (left, right) hand parities, i.e. each hand's last swing was down (a forehand) or up
(a backhand). A prompt is two one-note groups at the run's two previous onsets (their real times and
forced timing tokens), the left hand's note then the right hand's, in the middle columns of the
bottom row; with one onset before the run, one two-note group. When every run is done, runs are
chosen left to right: for run k, the variant with the fewest parity errors (the shared checker,
evaluation.parity) over the chosen run k - 1's last groups followed by the variant's first groups.
Every note is still the model's: the prompt only says which way each hand is facing. The cost is
4x the rows for runs after the first, and on CPU a row's cross-attention memory (audio + context
K/V) is what a step reads most: bench/generation.py (`full`, 3-minute song, 32 streams, one thread)
measured stage 2 at 51 s against 15 s without prompts in fp32, 24 s against 7.5 s in bf16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from automapper_ml.audio import FRAME_SECONDS
from automapper_ml.evaluation.parity import DEFAULT_BPM, parity_errors
from automapper_ml.tokenizer import CELL0, DIR0, EOS, NOTE, NoteGroup, decode_notes

DOWN, UP = 1, 0  # cut directions: a down swing leaves the hand forehand-done, an up one backhand-done
PROMPT_CELLS = (1, 2)  # bottom row, the middle column of each hand (cell = y * 4 + x)
SEAM_GROUPS = 8  # groups each side of a seam the checker looks at


@dataclass
class Lane:
    """One row of `decode_song`'s batch: a run of onsets, maybe behind a prompt."""

    run: int  # which run of onsets (index into the runs)
    onsets: list[int]  # onset indices, consecutive
    prompt: list[tuple[int, list[int]]] = field(default_factory=list)  # (onset index, group tokens)
    groups: list[list[int]] = field(default_factory=list)  # decoded groups, one per onset so far
    complete: list[bool] = field(default_factory=list)


def prompt_groups(
    first: int, prefixes: Sequence[Sequence[int]] | None, left: int, right: int
) -> list[tuple[int, list[int]]]:
    """The prompt stating (left, right) last directions for a run starting at onset `first` >= 1."""

    def note(hand: int, direction: int) -> list[int]:
        return [NOTE[hand], CELL0 + PROMPT_CELLS[hand], DIR0 + direction]

    def timing(i: int) -> list[int]:
        return list(prefixes[i]) if prefixes is not None else []

    if first >= 2:
        return [
            (first - 2, timing(first - 2) + note(0, left) + [EOS]),
            (first - 1, timing(first - 1) + note(1, right) + [EOS]),
        ]
    return [(first - 1, timing(first - 1) + note(0, left) + note(1, right) + [EOS])]


def make_lanes(runs: list[list[int]], prefixes: Sequence[Sequence[int]] | None, prompts: bool) -> list[Lane]:
    """The first run once; every later run once per (left, right) prompt when `prompts`, else once."""
    lanes = []
    for k, run in enumerate(runs):
        if k == 0 or not prompts:
            lanes.append(Lane(k, run))
            continue
        for left in (DOWN, UP):
            for right in (DOWN, UP):
                lanes.append(Lane(k, run, prompt_groups(run[0], prefixes, left, right)))
    return lanes


def choose_lanes(lanes: list[Lane], onset_frames: np.ndarray) -> tuple[list[Lane], int]:
    """One lane per run, left to right, each the one whose start flows on from the chosen lane before
    it (fewest parity errors across the seam; the first listed on ties). Returns the chosen lanes in
    run order and the parity errors left at the seams (in the checked windows)."""
    by_run: dict[int, list[Lane]] = {}
    for lane in lanes:
        by_run.setdefault(lane.run, []).append(lane)
    chosen: list[Lane] = []
    left_at_seams = 0
    for k in sorted(by_run):
        options = by_run[k]
        if not chosen or len(options) == 1:
            chosen.append(options[0])
            continue
        before = _groups(chosen[-1], onset_frames, tail=True)
        scores = [len(_errors(before + _groups(lane, onset_frames, tail=False))) for lane in options]
        best = int(np.argmin(scores))
        chosen.append(options[best])
        left_at_seams += scores[best] - len(_errors(before))
    return chosen, max(left_at_seams, 0)


def _groups(lane: Lane, onset_frames: np.ndarray, tail: bool) -> list[NoteGroup]:
    """The lane's last (tail) or first SEAM_GROUPS groups as NoteGroups, beats at DEFAULT_BPM (the
    checker's clock without a Timing), so its swing-gap rules see real seconds."""
    pairs = list(zip(lane.onsets, lane.groups, strict=False))
    pairs = pairs[-SEAM_GROUPS:] if tail else pairs[:SEAM_GROUPS]
    return [NoteGroup(float(onset_frames[i]) * FRAME_SECONDS * DEFAULT_BPM / 60.0, g) for i, g in pairs]


def _errors(groups: list[NoteGroup]) -> list:
    decoded = decode_notes(groups)
    return parity_errors(decoded.notes, None, decoded.bombs)
