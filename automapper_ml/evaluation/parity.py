"""Forehand/backhand parity: a hand's notes grouped into swings, and the checker's state machine.

The rule is KivalEvan's, as used by BeatSaber-MapCheck's "Parity Check" and shipped in bsmap, so that
our figures agree with what an evaluator running MapCheck sees. Sources (repo, file):

- KivalEvan/BeatSaber-MapCheck `src/ts/analyzers/swing/swing.ts` (`Swing.next`, "improved swing
  detection" credited to Qwasyx) and bsmap `extensions/swing/swing.js` (`next`): swing grouping;
- KivalEvan/BeatSaber-MapCheck `src/ts/analyzers/parity/parity.ts` (class `Parity`) and bsmap
  `extensions/parity/parity.js`: the forehand/backhand state, wrist rotation tables, bomb resets;
- KivalEvan/BeatSaber-MapCheck `src/ts/tools/notes/parity.ts` (`check`): the driver loop, its
  thresholds (error 45 degrees, warning 90, allowed rotation 90) and which bombs a swing sees;
- KivalEvan/BeatSaber-MapCheck `src/ts/analyzers/placement/note.ts` (`predictDirection`): dots.

Swings (per colour, notes in time order). A note starts a new swing when, measured in seconds:
  1. it comes more than SWING_GAP_SECONDS (70 ms) after the hand's previous note; or
  2. it sits in the same grid cell as an earlier (> 5 ms) note of the swing (a repeated hit); or
  3. it is an arrow more than SAME_TIME_SECONDS (5 ms) after the previous note and points at least
     90 degrees away from an arrow already in the swing.
Otherwise it joins the swing: stacks, towers, windows and sliders are one swing. Without a `Timing`
beats are read at DEFAULT_BPM (120), so pass the map's timing whenever you have it.

A swing's direction is its last arrow; an all-dot swing takes the direction of travel between its
dots (later dot right of the earlier one: right, above: up, above and right: up-right...), and a lone
dot stays 8 ("any").

Parity (per hand). Each swing is played forehand or backhand; they alternate. A swing's direction in
the parity it must take gives a wrist rotation (degrees, 0 = a forehand down swing; PARITY_ROTATION).
The swing is a parity ERROR when that rotation lies outside the hand's reach (CONSTRAINT_ROTATION
narrowed by ERROR_THRESHOLD: red -110..150, blue -150..110) or turns the wrist more than 180 degrees
from the previous swing. In practice: a down (or down-right for red, down-left for blue) swing after
a forehand, an up (or up-left for red, up-right for blue) swing after a backhand, or a horizontal
swing that would roll the wrist past the limit after an outward diagonal. Horizontal swings may be
either parity. After an error the hand is taken to have reset (it keeps its previous parity), so one
misplaced arrow costs one error per repeated swing, as in MapCheck. A lone dot takes the natural
next parity and is never an error. The first swing's parity comes from its own direction (a down-ish
or outward swing is a forehand; a dot on the bottom row a forehand, higher a backhand).

Bomb resets: a bomb in the hand's middle column (x = 1 for red, x = 2 for blue) on the bottom row
forces the hand's next swing to be a forehand; on the top row, a backhand. A swing sees the bombs from
the start of the hand's previous swing up to its own start (MapCheck's `lastBombContext`); the first
swing sees every bomb before it.

Deviations from MapCheck, all small and deliberate: the first swing's parity uses its resolved
direction (MapCheck reads the notes at the first instant only, and its start-state bomb test has an
operator-precedence slip that accepts any column); bombs before a hand's first swing are not applied
again to its second (MapCheck's driver does); the last swing sees the same bomb window as every
other; a note on top of a simultaneous note of its colour is cut by the same swing (MapCheck starts
a new swing, so a duplicated note becomes an error); uninteractable notes make no swing.
Measured against bsmap 2.2.9's own `Parity` and swing `next` driven by MapCheck's loop on the
fixture maps: 1117 of its 1126 errors found at the same swing, 6 of ours it does not report.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Literal

import numpy as np

from automapper_ml.formats.model import DIRECTION_ANY, DIRECTION_NAMES, BombNote, ColorNote, Timing

SWING_GAP_SECONDS = 0.07  # a hand's notes further apart than this are separate swings
SAME_TIME_SECONDS = 0.005  # closer than this counts as simultaneous (no direction change possible)
INLINE_DISTANCE = 0.5  # grid units: a note this close to one already in the swing starts a new swing
DIRECTION_CHANGE_DEGREES = 90.0  # an arrow turning this much from one in the swing starts a new swing
DEFAULT_BPM = 120.0  # how beats are read as seconds when no Timing is given
BOMB_EPSILON = 0.001  # beats; MapCheck's tolerance when comparing bomb and note times

ERROR_THRESHOLD = 45.0  # degrees inside the reach limit where a swing becomes an error (MapCheck default)
WARNING_THRESHOLD = 90.0  # degrees inside the limit where it becomes a warning
ALLOWED_ROTATION = 90.0  # a larger wrist turn between swings is a warning

Parity = Literal["forehand", "backhand"]
FOREHAND: Parity = "forehand"
BACKHAND: Parity = "backhand"

# Cut direction -> angle (degrees), bsmap `NoteDirectionAngle`; only differences are used.
DIRECTION_ANGLE = (180.0, 0.0, 270.0, 90.0, 225.0, 135.0, 315.0, 45.0)
# Wrist rotation of each cut direction (0..7) when played forehand / backhand, per colour (MapCheck).
PARITY_ROTATION: dict[int, dict[str, tuple[float, ...]]] = {
    0: {
        FOREHAND: (180, 0, -90, 90, -135, 135, -45, 45),
        BACKHAND: (0, 180, 90, -90, 45, -45, 135, -135),
    },
    1: {
        FOREHAND: (-180, 0, -90, 90, -135, 135, -45, 45),
        BACKHAND: (0, -180, 90, -90, 45, -45, 135, -135),
    },
}
# Reach of each hand's wrist, degrees (MapCheck `Parity.CONSTRAINT_ROTATION`), per colour.
CONSTRAINT_ROTATION = ((-155.0, 195.0), (-195.0, 155.0))
# Directions that open a hand's first swing as a forehand (the rest, except dots, as a backhand).
FIRST_FOREHAND = ({1, 3, 6, 7}, {1, 2, 6, 7})
# Wrist rotation before a hand's first swing, from its first direction (MapCheck `noteInitRotation`).
INITIAL_ROTATION = ((0, 0, 90, 90, 45, -45, 45, -45), (0, 0, -90, -90, -45, 45, -45, 45))
RESET_BOMB_COLUMN = (1, 2)  # x of the bomb that resets each colour's hand
BOMB_BOTTOM, BOMB_TOP = 0, 2
HAND_NAMES = ("red", "blue")


@dataclass(frozen=True, slots=True, eq=False)
class Swing:
    """One cut of one saber: one note or several hit in one motion (stack, tower, window, slider)."""

    color: int  # 0 left (red), 1 right (blue)
    beat: float  # beat of the swing's first note
    end_beat: float  # beat of its last note
    direction: int  # resolved cut direction 0..7, or 8 when only dots and no direction of travel
    notes: tuple[ColorNote, ...]  # the notes, in time order
    hand_index: int  # position among this hand's swings (0 = the hand's first swing)


@dataclass(frozen=True, slots=True)
class SwingParity:
    """The state machine's verdict on one swing (see `parity_trace`)."""

    expected: Parity  # parity the swing must take: the opposite of the last one, or what a bomb forces
    played: Parity  # parity the hand is in after it (the previous one again after an error: a reset)
    status: Literal["ok", "warning", "error"]  # MapCheck's verdict
    reason: str  # one line, "" when ok
    bomb_reset: bool  # a reset bomb decided `expected`
    rotation: float  # wrist rotation after the swing, degrees


@dataclass(frozen=True, slots=True)
class ParityError:
    beat: float  # beat of the offending swing's first note
    color: int  # 0 red, 1 blue
    reason: str  # one line
    swing_index: int  # index into `swings(notes, timing)` (both hands, sorted by beat)


def swings(notes: list[ColorNote], timing: Timing | None = None) -> list[Swing]:
    """Group notes into swings per hand (rules in the module docstring); both hands, sorted by beat.

    Runs in O(n log n) for ordinary maps (each note is compared with the notes of its own swing only).
    """
    result: list[Swing] = []
    for color in (0, 1):
        hand = sorted((n for n in notes if n.color == color and not n.uninteractable), key=lambda n: n.beat)
        if not hand:
            continue
        seconds = beats_to_seconds(np.fromiter((n.beat for n in hand), float, len(hand)), timing).tolist()
        current = [0]  # indices into hand
        count = 0
        for i in range(1, len(hand)):
            if _starts_new_swing(hand, seconds, i, current):
                result.append(_make_swing([hand[k] for k in current], color, count))
                count += 1
                current = []
            current.append(i)
        result.append(_make_swing([hand[k] for k in current], color, count))
    result.sort(key=lambda s: (s.beat, s.color))
    return result


def parity_trace(swing_list: list[Swing], bombs: list[BombNote] | None = None) -> list[SwingParity]:
    """Run the forehand/backhand state machine over `swing_list`; one verdict per swing, same order.

    Reusable by post-processing: a swing with status "error" is one a fixer should flip or reset,
    and `expected` is the parity it should have had.
    """
    resets = _reset_bombs(bombs or [])
    out: list[SwingParity | None] = [None] * len(swing_list)
    for color in (0, 1):
        order = [i for i, s in enumerate(swing_list) if s.color == color]
        if not order:
            continue
        first = swing_list[order[0]]
        start = _first_parity(first)
        last: Parity = _other(start)  # the state machine starts as if a swing of the other parity preceded
        rotation = (
            float(INITIAL_ROTATION[color][first.direction]) if first.direction != DIRECTION_ANY else 0.0
        )
        prev_beat = -np.inf
        for i in order:
            swing = swing_list[i]
            forced = _bomb_forcing(resets[color], prev_beat, swing.beat)
            cur_last, cur_rotation = last, rotation
            if forced is not None:
                cur_last, cur_rotation = _other(forced), 0.0
            expected = _other(cur_last)
            status, reason = _judge(swing, expected, cur_last, cur_rotation)
            played = expected if status != "error" or forced is not None else cur_last
            if swing.direction != DIRECTION_ANY:
                rotation = float(PARITY_ROTATION[color][played][swing.direction])
            elif forced is not None:
                rotation = 0.0
            last = played
            prev_beat = swing.beat
            out[i] = SwingParity(expected, played, status, reason, forced is not None, rotation)
    return [v for v in out if v is not None]


def parity_errors(
    notes: list[ColorNote], timing: Timing | None = None, bombs: list[BombNote] | None = None
) -> list[ParityError]:
    """Every swing the state machine calls an error, in beat order."""
    swing_list = swings(notes, timing)
    return errors_from_trace(swing_list, parity_trace(swing_list, bombs))


def errors_from_trace(swing_list: list[Swing], trace: list[SwingParity]) -> list[ParityError]:
    """The errors of an existing `parity_trace` (so callers that already have swings do not regroup)."""
    return [
        ParityError(s.beat, s.color, v.reason, i)
        for i, (s, v) in enumerate(zip(swing_list, trace, strict=True))
        if v.status == "error"
    ]


def beats_to_seconds(beats: np.ndarray, timing: Timing | None) -> np.ndarray:
    """Vectorised `Timing.to_seconds` (beats read at DEFAULT_BPM without timing). Shape (n,) -> (n,)."""
    if timing is None:
        return beats * (60.0 / DEFAULT_BPM)
    segs = np.asarray(timing.segments, dtype=float).reshape(-1, 3)  # (S, 3): start beat, start second, bpm
    idx = np.clip(np.searchsorted(segs[:, 0], beats, side="right") - 1, 0, None)
    return segs[idx, 1] + (beats - segs[idx, 0]) * 60.0 / segs[idx, 2]


def _starts_new_swing(hand: list[ColorNote], seconds: list[float], i: int, current: list[int]) -> bool:
    """MapCheck `Swing.next`: does note i start a new swing, given the note indices of the open swing?"""
    note, t = hand[i], seconds[i]
    gap = t - seconds[i - 1]
    if gap > SWING_GAP_SECONDS:
        return True
    for k in current:
        other = hand[k]
        inline = (note.x - other.x) ** 2 + (note.y - other.y) ** 2 <= INLINE_DISTANCE**2
        # A note on top of a simultaneous one is cut by the same swing (MapCheck would split it).
        if inline and t - seconds[k] > SAME_TIME_SECONDS:
            return True
    if gap > SAME_TIME_SECONDS and 0 <= note.direction < DIRECTION_ANY:
        angle = DIRECTION_ANGLE[note.direction]
        for k in current:
            other = hand[k]
            if 0 <= other.direction < DIRECTION_ANY:
                turn = abs(angle - DIRECTION_ANGLE[other.direction]) % 360.0
                if min(turn, 360.0 - turn) >= DIRECTION_CHANGE_DEGREES:
                    return True
    return False


def _make_swing(notes: list[ColorNote], color: int, hand_index: int) -> Swing:
    return Swing(color, notes[0].beat, notes[-1].beat, _swing_direction(notes), tuple(notes), hand_index)


def _swing_direction(notes: list[ColorNote]) -> int:
    """The last arrow, else the direction of travel of the dots (MapCheck `predictDirection`)."""
    direction = DIRECTION_ANY
    prev: ColorNote | None = None
    for note in notes:
        if 0 <= note.direction < DIRECTION_ANY:
            direction = note.direction
        elif prev is not None and direction == DIRECTION_ANY and note.beat > prev.beat:
            direction = _travel_direction(prev, note)
        prev = note
    return direction


def _travel_direction(a: ColorNote, b: ColorNote) -> int:
    dx, dy = b.x - a.x, b.y - a.y
    if dy == 0:
        return 3 if dx > 0 else 2 if dx < 0 else DIRECTION_ANY
    if dy > 0:
        return 0 if dx == 0 else 5 if dx > 0 else 4
    return 1 if dx == 0 else 7 if dx > 0 else 6


def _first_parity(swing: Swing) -> Parity:
    if swing.direction != DIRECTION_ANY:
        return FOREHAND if swing.direction in FIRST_FOREHAND[swing.color] else BACKHAND
    return FOREHAND if swing.notes[0].y == 0 else BACKHAND


def _other(parity: Parity) -> Parity:
    return BACKHAND if parity == FOREHAND else FOREHAND


def _reset_bombs(bombs: list[BombNote]) -> tuple[tuple[list[float], list[Parity]], ...]:
    """Per colour: sorted beats of reset bombs and the parity each forces on the next swing."""
    per_color: list[tuple[list[float], list[Parity]]] = []
    for color in (0, 1):
        found = sorted(
            (b.beat, FOREHAND if b.y == BOMB_BOTTOM else BACKHAND)
            for b in bombs
            if b.x == RESET_BOMB_COLUMN[color] and b.y in (BOMB_BOTTOM, BOMB_TOP) and not b.uninteractable
        )
        per_color.append(([f[0] for f in found], [f[1] for f in found]))
    return tuple(per_color)


def _bomb_forcing(resets: tuple[list[float], list[Parity]], since: float, until: float) -> Parity | None:
    """Parity forced by the last reset bomb with since - eps <= beat < until - eps, if any."""
    beats, forced = resets
    hi = bisect_left(beats, until - BOMB_EPSILON)
    if hi == 0 or beats[hi - 1] < since - BOMB_EPSILON:
        return None
    return forced[hi - 1]


def _judge(
    swing: Swing, expected: Parity, last: Parity, rotation: float
) -> tuple[Literal["ok", "warning", "error"], str]:
    if swing.direction == DIRECTION_ANY:
        return "ok", ""
    target = float(PARITY_ROTATION[swing.color][expected][swing.direction])
    lo, hi = CONSTRAINT_ROTATION[swing.color]
    turn = abs(target - rotation)
    where = f"{HAND_NAMES[swing.color]} {DIRECTION_NAMES[swing.direction]} swing at beat {swing.beat:g}"
    if turn > 180.0:
        return "error", f"{where}: wrist would turn {turn:.0f} degrees from the previous swing"
    if target < lo + ERROR_THRESHOLD or target > hi - ERROR_THRESHOLD:
        return "error", f"{where} cannot be a {expected} after a {last} without a reset"
    if target < lo + WARNING_THRESHOLD or target > hi - WARNING_THRESHOLD:
        return "warning", f"{where} as a {expected} strains the wrist ({target:.0f} degrees)"
    if turn > ALLOWED_ROTATION:
        return "warning", f"{where}: wrist turns {turn:.0f} degrees from the previous swing"
    return "ok", ""
