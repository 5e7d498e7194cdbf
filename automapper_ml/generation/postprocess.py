"""Post-processing: rules that polish a generated difficulty without doing the mapping themselves.

`postprocess(difficulty, timing, options)` returns a new Difficulty and a PostProcessReport. The
input is never modified. Steps, in order (each can be switched off in PostProcessOptions):

1. grid: notes and bombs are clamped into x 0..3, y 0..2; objects with a non-finite or negative
   beat, a colour other than 0/1 or a direction outside 0..8 are dropped; walls get x 0..3, a width
   that stays on the grid and a positive duration, or are dropped.
2. duplicates: objects sharing a cell within SAME_BEAT beats keep one (a note beats a bomb, an
   arrow beats a dot).
3. handclaps: at one time (within SAME_BEAT), a red note right of a blue note (crossed arms) swaps
   columns with it; a red and a blue note in touching cells (Chebyshev distance 1) whose arrows
   point at each other (within ~40 degrees) are moved one column apart. Directions are untouched, so parity is too.
4. vision blocks. THE rule: a note in a centre cell (x 1 or 2, y 1) hides the notes that come
   after it within `vision_block_seconds` (0.25 s) in the 3x3 cells around it, since it flies
   through the player's view of them. Such a centre note is moved to the bottom row (the top row
   for up arrows; the other one if that cell is taken at that time). Notes at the same instant
   are seen together and do not count.
5. parity: when the shared checker (evaluation.parity) reports errors, each hand is re-solved by a
   dynamic programme over its swings, with the checker's own state (forehand/backhand, wrist
   rotation) and verdict; moves per swing: keep, rotate its arrows by 45..315 degrees, make a
   one-note swing a dot, delete it. Cost = notes changed (deleting double, diagonals a little
   less, arc/chain heads triple), so a seeded violation costs about the seeded notes. If
   regrouping surprises the model, the checker reruns; after MAX_PARITY_ROUNDS the first error
   swing is deleted until none is left, so it always terminates.
6. colour balance: when the red share is outside `color_range`, pairs of consecutive one-note
   swings of the busier hand are handed to the other hand, mirrored (x -> 3 - x, left <-> right),
   where that hand is free; a pair keeps both hands' alternation. A move is kept only if the
   checker still reports zero errors. Stops as soon as the share is inside the range.
7. NPS: above the difficulty's range, pairs of consecutive swings of one hand are dropped, the
   least on-beat pairs in the densest places first (a pair keeps the hand's alternation). Below
   the range nothing is invented: `nps_below_range` is reported.
8. bombs and walls: walls never cover a note or bomb in their cells and span (+-WALL_MARGIN s);
   with a density other than "keep" bombs on a hand's path are dropped, the count is trimmed or
   safe ones are added (bombs on the outer columns, never a parity-reset cell; walls one wide,
   full height, on the outer lanes) to DENSITY_PER_MINUTE.
9. parity once more (steps 6-8 change notes and bombs), then arcs and chains follow their head
   notes (a chain whose head moved, turned or vanished is dropped), then the optional Chroma
   palette colours the light events.

`notes_changed` counts input notes that were changed (position, colour, direction) or removed.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np

from automapper_ml.evaluation.parity import (
    BACKHAND,
    DIRECTION_ANGLE,
    FIRST_FOREHAND,
    FOREHAND,
    INITIAL_ROTATION,
    PARITY_ROTATION,
    RESET_BOMB_COLUMN,
    Swing,
    _judge,  # the checker's own verdict, so the fixer cannot disagree with it
    beats_to_seconds,
    errors_from_trace,
    parity_errors,
    parity_trace,
    swings,
)
from automapper_ml.formats.model import DIRECTION_ANY, BombNote, ColorNote, Difficulty, Obstacle, Timing
from automapper_ml.formats.summary import object_counts
from automapper_ml.generation.options import DENSITY_PER_MINUTE, PostProcessOptions
from automapper_ml.generation.tempo import beat_strength

SAME_BEAT = 1e-3  # beats: objects closer than this are at the same time
MAX_PARITY_ROUNDS = 4  # DP rounds before the delete-the-error fallback
DELETE_COST, DOT_COST, DIAGONAL_DISCOUNT, ATTACHED_COST = 2.0, 1.1, 0.9, 3.0
WALL_MARGIN = 0.1  # seconds around a wall's span that must be free of notes in its cells
BOMB_PATH_SECONDS = 0.3  # a hand near a cell this soon before/after a bomb would hit it
BOMB_TRAVEL_SECONDS = 0.6  # between two notes closer than this a hand sweeps the cells between them
CENTRE_CELLS = {(1, 1), (2, 1)}
LIGHT_TYPES = {0, 1, 2, 3, 4, 6, 7, 10, 11}  # basic event types that are light groups
# Cut direction -> grid step (dx, dy); 8 (dot) has none.
DIRECTION_VECTOR = ((0, 1), (0, -1), (-1, 0), (1, 0), (-1, 1), (1, 1), (-1, -1), (1, -1))
MIRROR_DIRECTION = (0, 1, 3, 2, 5, 4, 7, 6, 8)
_ANGLE_TO_DIRECTION = {int(a): d for d, a in enumerate(DIRECTION_ANGLE)}


@dataclass(frozen=True)
class PostProcessReport:
    """What post-processing did to one difficulty."""

    difficulty: str  # difficulty name
    counts_in: dict[str, int]  # objects per kind before: notes, bombs, walls, arcs, chains, events
    counts_out: dict[str, int]  # and after
    notes_changed: int  # input notes changed (cell, colour, direction) or removed
    notes_changed_share: float  # notes_changed / input notes (0 for no notes)
    parity_errors_before: int  # by evaluation.parity.parity_errors, on the input
    parity_errors_after: int  # on the output: always 0 when options.parity
    rule_counts: dict[str, int] = field(default_factory=dict)  # objects touched per rule
    nps_before: float = 0.0
    nps_after: float = 0.0
    nps_range: tuple[float, float] | None = None
    nps_below_range: bool = False  # too few notes for the range: reported, never filled in
    left_share_before: float = 0.0
    left_share_after: float = 0.0
    seconds: float = 0.0  # wall time of the call


def postprocess(
    difficulty: Difficulty,
    timing: Timing,
    options: PostProcessOptions = PostProcessOptions(),
    difficulty_name: str | None = None,
    *,
    duration_seconds: float | None = None,
) -> tuple[Difficulty, PostProcessReport]:
    """Apply the rules of the module docstring; returns (new difficulty, report).

    `duration_seconds` is the song length (BeatMap.duration_seconds) used for NPS and densities;
    without it the time of the last object is used.
    """
    start = time.perf_counter()
    name = difficulty_name or difficulty.name
    counts_in = _counts(difficulty)
    originals = list(difficulty.notes)
    notes = [replace(n) for n in originals]
    origin = {id(n): i for i, n in enumerate(notes)}
    diff = replace(
        difficulty,
        notes=notes,
        bombs=[replace(b) for b in difficulty.bombs],
        obstacles=[replace(o) for o in difficulty.obstacles],
        arcs=[replace(a) for a in difficulty.arcs],
        chains=[replace(c) for c in difficulty.chains],
        events=[replace(e) for e in difficulty.events],
    )
    rules: dict[str, int] = {}
    clean_bombs = [b for b in diff.bombs if _finite_beat(b.beat)]
    before_errors = len(parity_errors(_clean_for_checker(notes), timing, clean_bombs))
    left_before = _left_share(notes)
    if options.grid:
        rules["grid"] = _keep_in_grid(diff)
    if duration_seconds is None or duration_seconds <= 0:  # after the grid step: no NaN beats left
        duration_seconds = timing.to_seconds(diff.last_object_beat()) if diff.notes else 0.0
    nps_before = len(originals) / duration_seconds if duration_seconds > 0 else 0.0
    diff.notes.sort(key=_order)
    heads = _attached_heads(diff)
    if options.duplicates:
        rules["duplicates"] = _remove_duplicates(diff)
    if options.handclaps:
        rules["handclaps"] = _fix_handclaps(diff.notes)
    if options.vision_blocks:
        rules["vision_blocks"] = _fix_vision_blocks(diff.notes, timing, options.vision_block_seconds)
    locked = {id(n) for n in heads.values()}
    if options.parity:
        rules["parity"] = _fix_parity(diff, timing, locked)
    if options.balance_colors:
        rules["colors"] = _balance_colors(diff, timing, options.color_range)
    band = options.nps_range_for(name) if options.nps else None
    if band is not None:
        rules["nps"] = _enforce_max_nps(diff, timing, band[1], duration_seconds)
    rules["walls"] = _bombs_and_walls(diff, timing, options, duration_seconds)
    # The checker reads simultaneous notes of a hand in list order (a swing's direction is its last
    # arrow), so the final order is fixed before the last parity pass and never changed after it.
    diff.notes.sort(key=_order)
    if options.parity:
        rules["parity"] = rules.get("parity", 0) + _fix_parity(diff, timing, locked)
    rules["arcs_chains"] = _sync_attached(diff, heads)
    if options.chroma_palette is not None:
        rules["chroma_events"] = apply_chroma_palette(diff, options.chroma_palette)

    alive = {origin[id(n)]: n for n in diff.notes if id(n) in origin}
    changed = sum(
        1
        for i, o in enumerate(originals)
        if i not in alive
        or (alive[i].x, alive[i].y, alive[i].color, alive[i].direction) != (o.x, o.y, o.color, o.direction)
    )
    nps_after = len(diff.notes) / duration_seconds if duration_seconds > 0 else 0.0
    report = PostProcessReport(
        difficulty=name,
        counts_in=counts_in,
        counts_out=_counts(diff),
        notes_changed=changed,
        notes_changed_share=changed / len(originals) if originals else 0.0,
        parity_errors_before=before_errors,
        parity_errors_after=len(parity_errors(diff.notes, timing, diff.bombs)),
        rule_counts=rules,
        nps_before=nps_before,
        nps_after=nps_after,
        nps_range=band,
        nps_below_range=band is not None and nps_after < band[0],
        left_share_before=left_before,
        left_share_after=_left_share(diff.notes),
        seconds=time.perf_counter() - start,
    )
    return diff, report


# --- small helpers -------------------------------------------------------------------------------


def _counts(d: Difficulty) -> dict[str, int]:
    counts = object_counts(d)
    return {kind: counts[kind] for kind in ("notes", "bombs", "walls", "arcs", "chains", "events")}


def _order(n: ColorNote) -> tuple:
    return (n.beat, n.color)  # stable: keeps the model's order inside a stack


def _left_share(notes: list[ColorNote]) -> float:
    return sum(1 for n in notes if n.color == 0) / len(notes) if notes else 0.0


def _valid_int(v: object, lo: int, hi: int) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and lo <= int(v) <= hi


def _finite_beat(b: object) -> bool:
    return isinstance(b, int | float) and math.isfinite(b) and b >= 0


def _clean_for_checker(notes: list[ColorNote]) -> list[ColorNote]:
    """The notes the checker can read at all (for the `before` figure on messy input)."""
    return [n for n in notes if _finite_beat(n.beat) and n.color in (0, 1) and _valid_int(n.direction, 0, 8)]


def _same_time_groups(notes: list[ColorNote]) -> list[list[ColorNote]]:
    out: list[list[ColorNote]] = []
    for n in sorted(notes, key=lambda n: n.beat):
        if out and n.beat - out[-1][0].beat <= SAME_BEAT:
            out[-1].append(n)
        else:
            out.append([n])
    return out


# --- 1-4: grid, duplicates, handclaps, vision blocks ---------------------------------------------


def _keep_in_grid(d: Difficulty) -> int:
    touched = 0
    kept: list[ColorNote] = []
    for n in d.notes:
        ok = (
            _finite_beat(n.beat)
            and n.color in (0, 1)
            and _valid_int(n.direction, 0, 8)
            and _valid_int(n.x, -1000, 1000)
            and _valid_int(n.y, -1000, 1000)
        )
        if not ok:
            touched += 1
            continue
        x, y = min(max(int(n.x), 0), 3), min(max(int(n.y), 0), 2)
        if not _valid_int(n.angle, -360, 360):
            n.angle = 0
        if (x, y) != (n.x, n.y):
            n.x, n.y, touched = x, y, touched + 1
        kept.append(n)
    d.notes[:] = kept
    bombs = []
    for b in d.bombs:
        if not (_finite_beat(b.beat) and _valid_int(b.x, -1000, 1000) and _valid_int(b.y, -1000, 1000)):
            touched += 1
            continue
        x, y = min(max(int(b.x), 0), 3), min(max(int(b.y), 0), 2)
        touched += (x, y) != (b.x, b.y)
        b.x, b.y = x, y
        bombs.append(b)
    d.bombs[:] = bombs
    walls = []
    for o in d.obstacles:
        numbers = (o.beat, o.duration, o.x, o.y, o.width, o.height)
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers) or o.duration <= 0:
            touched += 1
            continue
        x = min(max(int(o.x), 0), 3)
        width = min(max(int(o.width), 1), 4 - x)
        y, height = min(max(int(o.y), 0), 2), min(max(int(o.height), 1), 5)
        touched += (x, width, y, height) != (o.x, o.width, o.y, o.height)
        o.x, o.width, o.y, o.height = x, width, y, height
        walls.append(o)
    d.obstacles[:] = walls
    return touched


def _remove_duplicates(d: Difficulty) -> int:
    seen: dict[tuple[int, int], list[float]] = {}
    kept: list[ColorNote] = []
    # arrows before dots, interactable before not: the first in a cell wins
    for n in sorted(d.notes, key=lambda n: (n.beat, n.uninteractable, n.direction == DIRECTION_ANY)):
        beats = seen.setdefault((n.x, n.y), [])
        if beats and abs(beats[-1] - n.beat) <= SAME_BEAT:
            continue
        beats.append(n.beat)
        kept.append(n)
    removed = len(d.notes) - len(kept)
    d.notes[:] = kept
    bombs: list[BombNote] = []
    for b in sorted(d.bombs, key=lambda b: b.beat):
        beats = seen.setdefault((b.x, b.y), [])
        if any(abs(t - b.beat) <= SAME_BEAT for t in beats[-4:]):
            removed += 1
            continue
        beats.append(b.beat)
        beats.sort()
        bombs.append(b)
    d.bombs[:] = bombs
    return removed


def _points_at(n: ColorNote, other: ColorNote) -> bool:
    if n.direction == DIRECTION_ANY:
        return False
    dx, dy = DIRECTION_VECTOR[n.direction]
    rx, ry = other.x - n.x, other.y - n.y
    # within ~40 degrees: a diagonal next to a note beside it (cos 0.71) is a V, not a clap
    return dx * rx + dy * ry > 0.75 * math.hypot(dx, dy) * math.hypot(rx, ry)


def _fix_handclaps(notes: list[ColorNote]) -> int:
    moved = 0
    for group in _same_time_groups(notes):
        red = [n for n in group if n.color == 0 and not n.uninteractable]
        blue = [n for n in group if n.color == 1 and not n.uninteractable]
        if not red or not blue:
            continue
        cells = {(n.x, n.y) for n in group}
        if len(red) == 1 and len(blue) == 1 and red[0].x > blue[0].x:
            red[0].x, blue[0].x = blue[0].x, red[0].x  # uncross the arms
            moved += 2
        for r in red:
            for b in blue:
                touching = max(abs(r.x - b.x), abs(r.y - b.y)) <= 1
                if not (touching and _points_at(r, b) and _points_at(b, r)):
                    continue
                if r.x > 0 and (r.x - 1, r.y) not in cells and r.x <= b.x:
                    cells.discard((r.x, r.y))
                    r.x -= 1
                elif b.x < 3 and (b.x + 1, b.y) not in cells and b.x >= r.x:
                    cells.discard((b.x, b.y))
                    b.x += 1
                else:
                    continue
                cells |= {(r.x, r.y), (b.x, b.y)}
                moved += 1
    return moved


def vision_blocks(notes: list[ColorNote], timing: Timing, window_seconds: float = 0.25) -> list[ColorNote]:
    """The centre notes that hide a later note (THE rule, module docstring step 4)."""
    live = sorted((n for n in notes if not n.uninteractable), key=lambda n: n.beat)
    if not live:
        return []
    secs = beats_to_seconds(np.array([n.beat for n in live]), timing)
    out = []
    for i, n in enumerate(live):
        if (n.x, n.y) not in CENTRE_CELLS:
            continue
        j = i + 1
        while j < len(live) and secs[j] - secs[i] <= window_seconds:
            m = live[j]
            if secs[j] - secs[i] > 0.005 and max(abs(m.x - n.x), abs(m.y - n.y)) <= 1:
                out.append(n)
                break
            j += 1
    return out


def _fix_vision_blocks(notes: list[ColorNote], timing: Timing, window: float) -> int:
    moved = 0
    for n in vision_blocks(notes, timing, window):
        taken = {(m.x, m.y) for m in notes if abs(m.beat - n.beat) <= SAME_BEAT and m is not n}
        rows = (2, 0) if n.direction in (0, 4, 5) else (0, 2)
        free = [y for y in rows if (n.x, y) not in taken]
        if free:
            n.y = free[0]
        else:  # both rows taken at that instant: the note goes
            notes.remove(n)
        moved += 1
    return moved


# --- 5: parity -----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _status(color: int, direction: int, expected: str, last: str, rotation: float) -> str:
    swing = Swing(color, 0.0, 0.0, direction, (), 0)
    return _judge(swing, expected, last, rotation)[0]  # type: ignore[arg-type]


def _rotate(direction: int, degrees: int) -> int:
    if direction == DIRECTION_ANY:
        return direction
    return _ANGLE_TO_DIRECTION[int(DIRECTION_ANGLE[direction] + degrees) % 360]


def _other(p: str) -> str:
    return BACKHAND if p == FOREHAND else FOREHAND


def _forcing(beats: list[float], bombs: list[BombNote], since: float, until: float) -> str | None:
    """Parity forced by the last reset bomb in [since, until) (the checker's window), if any."""
    hi = bisect_left(beats, until - 0.001)
    if hi == 0 or beats[hi - 1] < since - 0.001:
        return None
    return FOREHAND if bombs[hi - 1].y == 0 else BACKHAND


def _swing_options(s: Swing, locked: set[int]) -> list[tuple[str, int, float]]:
    """(kind, degrees or 0, cost) moves for one swing: keep, rotate, dot, delete."""
    arrows = [n for n in s.notes if n.direction != DIRECTION_ANY]
    weight = sum(
        (ATTACHED_COST if id(n) in locked else 1.0) * (DIAGONAL_DISCOUNT if n.direction >= 4 else 1.0)
        for n in arrows
    )
    opts: list[tuple[str, int, float]] = [("keep", 0, 0.0)]
    if arrows:
        for deg in (45, 90, 135, 180, 225, 270, 315):
            opts.append(("rotate", deg, weight * (1.0 + 0.001 * min(deg, 360 - deg) / 45)))
        if len(s.notes) == 1:
            opts.append(("dot", 0, DOT_COST * weight))
    opts.append(
        (
            "delete",
            0,
            DELETE_COST * len(s.notes) * (ATTACHED_COST if locked & {id(n) for n in s.notes} else 1),
        )
    )
    return opts


def _solve_hand(hand: list[Swing], color: int, bombs: list[BombNote], locked: set[int]) -> list[tuple]:
    """Cheapest error-free move per swing (see module docstring step 5); one (kind, deg, cost) each."""
    virgin = ("virgin", 0.0)
    states: dict[tuple[str, float], float] = {virgin: 0.0}
    back: list[dict[tuple[str, float], tuple[tuple[str, float], int]]] = []
    all_opts = []
    prev_beat = -math.inf
    bomb_beats = [b.beat for b in bombs]
    for s in hand:
        forced = _forcing(bomb_beats, bombs, prev_beat, s.beat)
        opts = _swing_options(s, locked)
        all_opts.append(opts)
        new: dict[tuple[str, float], float] = {}
        ptr: dict[tuple[str, float], tuple[tuple[str, float], int]] = {}
        for st, cost in states.items():
            for k, (kind, deg, c) in enumerate(opts):
                if kind == "delete":
                    nst = st
                else:
                    d = DIRECTION_ANY if kind == "dot" else _rotate(s.direction, deg)
                    if st == virgin:
                        if d != DIRECTION_ANY:
                            start = FOREHAND if d in FIRST_FOREHAND[color] else BACKHAND
                        else:
                            start = FOREHAND if s.notes[0].y == 0 else BACKHAND
                        last, rot = _other(start), float(INITIAL_ROTATION[color][d]) if d != 8 else 0.0
                    else:
                        last, rot = st
                    if forced is not None:
                        last, rot = _other(forced), 0.0
                    expected = _other(last)
                    if d != DIRECTION_ANY:
                        if _status(color, d, expected, last, rot) == "error":
                            continue
                        rot = float(PARITY_ROTATION[color][expected][d])
                    nst = (expected, rot)
                total = cost + c
                if total < new.get(nst, math.inf) - 1e-12:
                    new[nst] = total
                    ptr[nst] = (st, k)
        states = new
        back.append(ptr)
        prev_beat = s.beat
    st = min(states, key=states.__getitem__)
    chosen: list[tuple] = [None] * len(hand)  # type: ignore[list-item]
    for j in range(len(hand) - 1, -1, -1):
        prev, k = back[j][st]
        chosen[j] = all_opts[j][k]
        st = prev
    return chosen


def _fix_parity(d: Difficulty, timing: Timing, locked: set[int]) -> int:
    """Make the shared checker report zero errors; returns notes changed or removed."""
    touched: set[int] = set()
    live_bombs = sorted(d.bombs, key=lambda b: b.beat)
    round_ = -1
    while True:  # ends: each fallback round deletes notes, and no notes means no errors
        round_ += 1
        swing_list = swings(d.notes, timing)
        trace = parity_trace(swing_list, d.bombs)
        errors = errors_from_trace(swing_list, trace)
        if not errors:
            break
        removed: set[int] = set()
        if round_ < MAX_PARITY_ROUNDS:
            for color in (0, 1):
                hand = [s for s in swing_list if s.color == color]
                resets = [
                    b
                    for b in live_bombs
                    if b.x == RESET_BOMB_COLUMN[color] and b.y in (0, 2) and not b.uninteractable
                ]
                for s, (kind, deg, _) in zip(hand, _solve_hand(hand, color, resets, locked), strict=True):
                    for n in s.notes:
                        if kind == "delete":
                            removed.add(id(n))
                        elif kind == "dot" or (kind == "rotate" and n.direction != DIRECTION_ANY):
                            n.direction = DIRECTION_ANY if kind == "dot" else _rotate(n.direction, deg)
                        else:
                            continue
                        touched.add(id(n))
        else:  # fallback: the first error swing goes
            removed = {id(n) for n in swing_list[errors[0].swing_index].notes}
            touched |= removed
        d.notes[:] = [n for n in d.notes if id(n) not in removed]
    return len(touched)


# --- 6-7: colour balance, NPS --------------------------------------------------------------------


def _hand_swings(notes: list[ColorNote], timing: Timing) -> dict[int, list[Swing]]:
    out: dict[int, list[Swing]] = {0: [], 1: []}
    for s in swings(notes, timing):
        out[s.color].append(s)
    return out


def _balance_colors(d: Difficulty, timing: Timing, band: tuple[float, float]) -> int:
    moved = 0
    n = len(d.notes)
    if n < 4:
        return 0
    share = _left_share(d.notes)
    if band[0] <= share <= band[1]:
        return 0
    busy = 0 if share > band[1] else 1
    hands = _hand_swings(d.notes, timing)
    other_secs = np.sort(beats_to_seconds(np.array([s.beat for s in hands[1 - busy]] or [-1e9]), timing))
    pairs = []
    seq = hands[busy]
    for k in range(len(seq) - 1):
        a, b = seq[k], seq[k + 1]
        if len(a.notes) != 1 or len(b.notes) != 1:
            continue
        t0, t1 = beats_to_seconds(np.array([a.beat, b.beat]), timing)
        lo = np.searchsorted(other_secs, t0 - 0.15)
        if lo < len(other_secs) and other_secs[lo] <= t1 + 0.15:
            continue  # the other hand is busy then
        side = (a.notes[0].x + b.notes[0].x) if busy == 0 else 6 - (a.notes[0].x + b.notes[0].x)
        pairs.append((-side, k, a.notes[0], b.notes[0]))
    pairs.sort(key=lambda p: (p[0], p[1]))
    used: set[int] = set()
    bomb_cells = {(round(b.beat, 3), b.x, b.y) for b in d.bombs}
    blocks = len(vision_blocks(d.notes, timing))  # a mirrored pair must not add any
    for _, k, na, nb in pairs:
        if k in used or k + 1 in used:
            continue
        target = 1 - busy
        if any((round(m.beat, 3), 3 - m.x, m.y) in bomb_cells for m in (na, nb)):
            continue
        saved = [(m.x, m.color, m.direction) for m in (na, nb)]
        for m in (na, nb):
            m.x, m.color, m.direction = 3 - m.x, target, MIRROR_DIRECTION[m.direction]
        if parity_errors(d.notes, timing, d.bombs) or len(vision_blocks(d.notes, timing)) > blocks:
            for m, (x, c, dr) in zip((na, nb), saved, strict=True):
                m.x, m.color, m.direction = x, c, dr
            continue
        used |= {k, k + 1}
        moved += 2
        share = _left_share(d.notes)
        if band[0] <= share <= band[1]:
            break
    return moved


def _enforce_max_nps(d: Difficulty, timing: Timing, max_nps: float, duration: float) -> int:
    if duration <= 0 or len(d.notes) <= max_nps * duration:
        return 0
    excess = len(d.notes) - int(math.floor(max_nps * duration))
    all_secs = np.sort(beats_to_seconds(np.array([n.beat for n in d.notes]), timing))
    candidates = []
    for seq in _hand_swings(d.notes, timing).values():
        if len(seq) < 2:
            continue
        beats = np.array([s.beat for s in seq])
        level = beat_strength(beats)
        secs = beats_to_seconds(beats, timing)
        density = np.searchsorted(all_secs, secs + 1.0) - np.searchsorted(all_secs, secs - 1.0)
        for k in range(len(seq) - 1):
            weakness = level[k] + level[k + 1] + 0.1 * (density[k] + density[k + 1])
            candidates.append((-weakness, float(beats[k]), seq, k))
    candidates.sort(key=lambda c: (c[0], c[1]))
    removed: set[int] = set()
    used: set[tuple[int, int]] = set()
    for _, _, seq, k in candidates:
        if excess <= 0:
            break
        key = id(seq)
        if (key, k) in used or (key, k + 1) in used:
            continue
        used |= {(key, k), (key, k + 1)}
        for s in (seq[k], seq[k + 1]):
            removed |= {id(n) for n in s.notes}
            excess -= len(s.notes)
    d.notes[:] = [n for n in d.notes if id(n) not in removed]
    return len(removed)


# --- 8: bombs and walls --------------------------------------------------------------------------


def _wall_rows(o: Obstacle) -> range:
    return range(max(o.y, 0), min(o.y + max(o.height, 1), 3))


def _wall_is_safe(o: Obstacle, timing: Timing, objects: list[tuple[float, int, int]]) -> bool:
    """No note or bomb in the wall's cells during its span (+- WALL_MARGIN s)."""
    t0 = timing.to_seconds(o.beat) - WALL_MARGIN
    t1 = timing.to_seconds(o.beat + o.duration) + WALL_MARGIN
    cols, rows = range(o.x, o.x + o.width), _wall_rows(o)
    return not any(t0 <= t <= t1 and x in cols and y in rows for t, x, y in objects)


def _on_hand_path(x: int, y: int, t: float, hands: dict[int, list[tuple[float, ColorNote]]]) -> bool:
    """Would a saber sweep through cell (x, y) near time t? (notes near it, follow-through, travel)."""
    for seq in hands.values():
        times = [s for s, _ in seq]
        i = int(np.searchsorted(times, t))
        for j in range(max(i - 3, 0), min(i + 3, len(seq))):
            s, n = seq[j]
            if abs(s - t) > BOMB_PATH_SECONDS:
                continue
            cells = [(n.x, n.y)]
            if n.direction != DIRECTION_ANY:
                dx, dy = DIRECTION_VECTOR[n.direction]
                cells += [(n.x + dx, n.y + dy), (n.x - dx, n.y - dy)]
            if any(max(abs(cx - x), abs(cy - y)) <= 1 for cx, cy in cells):
                return True
        if (
            0 < i < len(seq) and seq[i][0] - seq[i - 1][0] <= BOMB_TRAVEL_SECONDS
        ):  # travelling between two notes
            a, b = seq[i - 1][1], seq[i][1]
            for f in np.linspace(0, 1, 5):
                if max(abs(a.x + f * (b.x - a.x) - x), abs(a.y + f * (b.y - a.y) - y)) <= 1.0:
                    return True
    return False


def _bombs_and_walls(d: Difficulty, timing: Timing, options: PostProcessOptions, duration: float) -> int:
    touched = 0
    note_objs = [(timing.to_seconds(n.beat), n.x, n.y) for n in d.notes]
    bomb_objs = [(timing.to_seconds(b.beat), b.x, b.y) for b in d.bombs]
    safe_walls = [o for o in d.obstacles if _wall_is_safe(o, timing, note_objs + bomb_objs)]
    touched += len(d.obstacles) - len(safe_walls)
    d.obstacles[:] = safe_walls
    minutes = duration / 60.0
    if not d.notes or minutes <= 0:
        return touched
    hands: dict[int, list[tuple[float, ColorNote]]] = {0: [], 1: []}
    for n in sorted(d.notes, key=lambda n: n.beat):
        hands[n.color].append((timing.to_seconds(n.beat), n))
    rng = np.random.default_rng(options.seed)
    first, last = min(n.beat for n in d.notes), max(n.beat for n in d.notes)
    if options.bomb_density != "keep":
        kept = [b for b in d.bombs if not _on_hand_path(b.x, b.y, timing.to_seconds(b.beat), hands)]
        target = _density_target(options.bomb_density, "bombs", minutes)
        if len(kept) > target:
            kept = _random_subset(kept, target, rng)
        else:
            taken = {round(b.beat, 3) for b in kept}
            slots = [
                (float(beat), x, y)
                for beat in np.arange(math.ceil(first), math.floor(last) + 1, 1.0)
                for x in (0, 3)
                for y in (0, 1, 2)
                if round(float(beat), 3) not in taken
            ]
            for i in rng.permutation(len(slots)):
                if len(kept) >= target:
                    break
                beat, x, y = slots[i]
                if round(beat, 3) in taken or _on_hand_path(x, y, timing.to_seconds(beat), hands):
                    continue
                kept.append(BombNote(beat, x, y))
                taken |= {round(beat + k, 3) for k in (-1.0, 0.0, 1.0)}
        touched += len(set(map(id, d.bombs)) ^ set(map(id, kept)))
        d.bombs[:] = sorted(kept, key=lambda b: b.beat)
    if options.wall_density != "keep":
        walls = list(d.obstacles)
        target = _density_target(options.wall_density, "walls", minutes)
        if len(walls) > target:
            walls = _random_subset(walls, target, rng)
        else:
            objs = note_objs + [(timing.to_seconds(b.beat), b.x, b.y) for b in d.bombs]
            # a saber reaching outward from the next column would clip a wall: count those notes too
            for n in d.notes:
                if n.direction != DIRECTION_ANY and n.x in (1, 2):
                    dx = DIRECTION_VECTOR[n.direction][0]
                    if (n.x == 1 and dx < 0) or (n.x == 2 and dx > 0):
                        objs.append((timing.to_seconds(n.beat), n.x + dx, n.y))
            busy_until = -math.inf
            for beat in np.arange(math.ceil(first), math.floor(last) + 1, 2.0):
                if len(walls) >= target:
                    break
                if beat < busy_until:
                    continue
                wall = Obstacle(float(beat), 2.0, int(rng.choice([0, 3])), 0, 1, 5)
                if all(abs(w.beat - wall.beat) > 4 for w in walls) and _wall_is_safe(wall, timing, objs):
                    walls.append(wall)
                    busy_until = beat + 8.0
        touched += len(set(map(id, d.obstacles)) ^ set(map(id, walls)))
        d.obstacles[:] = sorted(walls, key=lambda o: o.beat)
    return touched


def _density_target(density: str, kind: str, minutes: float) -> int:
    """How many bombs or walls (`kind`) a song of `minutes` gets at `density` (not "keep")."""
    return 0 if density == "none" else int(DENSITY_PER_MINUTE[kind][density] * minutes)


def _random_subset(items: list, size: int, rng: np.random.Generator) -> list:
    """`size` of `items` (fewer than there are), drawn by `rng`, in their order."""
    return [items[i] for i in sorted(rng.choice(len(items), size=size, replace=False))]


# --- 9: arcs and chains, Chroma ------------------------------------------------------------------


def _attached_heads(d: Difficulty) -> dict[int, ColorNote]:
    """id(arc or chain) -> the note at its head (same colour, cell and time), when there is one."""
    index = {(round(n.beat, 3), n.x, n.y, n.color): n for n in d.notes}
    heads = {}
    for obj in [*d.arcs, *d.chains]:
        note = index.get((round(obj.beat, 3), obj.x, obj.y, obj.color))
        if note is not None:
            heads[id(obj)] = note
    return heads


def _sync_attached(d: Difficulty, heads: dict[int, ColorNote]) -> int:
    alive = {id(n) for n in d.notes}
    touched = 0
    arcs = []
    for a in d.arcs:
        head = heads.get(id(a))
        if head is not None:
            if id(head) not in alive:
                touched += 1
                continue
            if (a.x, a.y, a.direction, a.color) != (head.x, head.y, head.direction, head.color):
                a.x, a.y, a.direction, a.color = head.x, head.y, head.direction, head.color
                touched += 1
        arcs.append(a)
    d.arcs[:] = arcs
    chains = []
    for c in d.chains:
        head = heads.get(id(c))
        if head is not None and (
            id(head) not in alive
            or (c.x, c.y, c.direction, c.color) != (head.x, head.y, head.direction, head.color)
        ):
            touched += 1  # a chain whose head moved or turned would point the wrong way: drop it
            continue
        chains.append(c)
    d.chains[:] = chains
    return touched


def apply_chroma_palette(d: Difficulty, palette: tuple[tuple[float, ...], ...]) -> int:
    """Colour every lit light event with the palette: (left/red, right/blue[, white]). Returns events coloured.

    Raises ValueError for an empty palette or a colour that is not 3-4 finite channels in 0..1.
    """
    if not palette or any(
        len(c) not in (3, 4)
        or not all(isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 1 for v in c)
        for c in palette
    ):
        raise ValueError("a Chroma palette is 1-3 colours of 3 or 4 channels in 0..1")
    count = 0
    for e in d.events:
        if e.type not in LIGHT_TYPES or e.value == 0:
            continue
        slot = 1 if 1 <= e.value <= 4 else 0 if 5 <= e.value <= 8 else 2
        e.color = tuple(float(v) for v in palette[slot % len(palette)])
        count += 1
    return count
