"""Human-style maps for a composed `Song`: notes on drum hits, alternating hands, clean parity.

How a mapper works, and what this imitates:
- pick the hits worth a note: strong kicks and snares on easy difficulties, hats too on hard ones,
  leaving some worthy hits out (a mapper chooses, not every hit gets a note);
- give each note to a hand, mostly alternating; a hand never swings faster than the difficulty allows;
- each hand alternates forehand (down-ish) and backhand (up-ish) swings, and the wrist never turns
  more than 90 degrees between two swings (MapCheck's parity rule, evaluation/parity.py, then finds
  no error and no warning);
- strong hits at high difficulty become doubles; arcs join a hand's consecutive notes, chains burst
  out of a lone note; side walls and bombs sit where no hand needs to be.

Everything is drawn from one `np.random.Generator`, so a chart is a pure function of its seed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

import numpy as np

from automapper_ml.formats.model import (
    DIFFICULTY_RANKS,
    DIRECTION_STEP,
    Arc,
    BombNote,
    Chain,
    ColorNote,
    Difficulty,
    Obstacle,
)
from automapper_ml.synth.composition import Song

# How strongly each drum asks for a note (times its velocity).
DRUM_WEIGHT = {"kick": 1.0, "snare": 0.95, "crash": 1.0, "open_hat": 0.55, "hat": 0.45}
FOREHAND, BACKHAND = 0, 1
# Cut direction -> wrist rotation (degrees) per parity, the same for both hands for the directions
# used here (MapCheck's PARITY_ROTATION). Horizontal cuts are only used the way that stays well
# inside each hand's reach: red cuts right on a forehand and left on a backhand, blue the mirror.
SWING_DIRECTIONS: dict[tuple[int, int], dict[int, float]] = {
    (0, FOREHAND): {1: 0.0, 6: -45.0, 7: 45.0, 3: 90.0},
    (0, BACKHAND): {0: 0.0, 4: 45.0, 5: -45.0, 2: 90.0},
    (1, FOREHAND): {1: 0.0, 6: -45.0, 7: 45.0, 2: -90.0},
    (1, BACKHAND): {0: 0.0, 4: 45.0, 5: -45.0, 3: -90.0},
}
MAX_WRIST_TURN = 90.0
MAX_REDRAWS = 16  # attempts at a chart sparser than the difficulty above it
DENSITY_STEP = 0.95  # a difficulty has under this share of the notes of the one above
MIN_GAP_SECONDS = 0.1  # loosening never packs hits tighter than this...
MIN_HAND_SECONDS = 0.2  # ...or one hand's swings (parity groups a hand's notes within 70 ms)
NAMES_BY_RANK = sorted(DIFFICULTY_RANKS, key=DIFFICULTY_RANKS.__getitem__)
MIN_NOTES = 26  # every chart has at least this many notes (the blacklist drops difficulties under 20); harder ones more
# Columns each hand plays in, with weights (red left, blue right; a little crossing to the centre).
HAND_COLUMNS = {0: ((0, 1, 2), (0.42, 0.46, 0.12)), 1: ((1, 2, 3), (0.12, 0.46, 0.42))}
# Rows (P(y=0), P(y=1), P(y=2)) by the drum a note sits on, as mappers place them by ear: kicks
# low, snares and crashes high, hats in the middle of the outer lanes. The direction must follow
# the hand's parity, so the row is what the music decides (and what an audio-blind model cannot know).
DRUM_ROWS = {
    "kick": (0.9, 0.05, 0.05),
    "snare": (0.05, 0.07, 0.88),
    "crash": (0.05, 0.07, 0.88),
    "hat": (0.1, 0.8, 0.1),
    "open_hat": (0.1, 0.8, 0.1),
}
# Drums that push a note to the outer lanes or to the inner ones (column weights per hand over
# HAND_COLUMNS' columns, replacing its weights): hats and crashes wide, kicks in front of the player.
OUTER_COLUMNS = {0: (0.8, 0.17, 0.03), 1: (0.03, 0.17, 0.8)}
OUTER_DRUMS = ("hat", "open_hat", "crash")
INNER_COLUMNS = {0: (0.15, 0.8, 0.05), 1: (0.05, 0.8, 0.15)}
INNER_DRUMS = ("kick",)


@dataclass(frozen=True, slots=True)
class DifficultyStyle:
    min_gap_beats: float  # two mapped hits are at least this many beats apart
    min_gap_seconds: float  # ... and at least this many seconds
    hand_seconds: float  # one hand's consecutive swings are at least this far apart
    min_strength: float  # weakest hit (drum weight x velocity) still worth a note
    skip: float  # chance a worthy hit is left out anyway
    doubles: float  # chance a strong hit (>= 0.8) becomes a two-handed double
    njs: float  # note jump speed
    thin: float = 0.0  # share of the picked hits dropped again (fine density control)


STYLES = {  # gaps mostly in seconds: mappers fill slow songs with more subdivisions
    "Easy": DifficultyStyle(0.5, 0.7, 1.1, 0.45, 0.15, 0.0, 10.0),
    "Normal": DifficultyStyle(0.5, 0.45, 0.75, 0.3, 0.1, 0.02, 10.0),
    "Hard": DifficultyStyle(0.5, 0.34, 0.55, 0.2, 0.06, 0.05, 12.0),
    "Expert": DifficultyStyle(0.25, 0.22, 0.36, 0.1, 0.03, 0.1, 16.0),
    "ExpertPlus": DifficultyStyle(0.25, 0.15, 0.25, 0.07, 0.02, 0.14, 18.0),
}


@dataclass(frozen=True, slots=True)
class ChartOptions:
    arcs: bool = False  # join some consecutive same-hand notes with arcs
    chains: bool = False  # burst some lone notes into chains
    bombs: bool = False
    walls: bool = False
    arc_share: float = 0.06  # arcs as a share of the chart's other objects, when arcs are on
    chain_share: float = 0.037  # likewise for chains


def chart_difficulty(
    song: Song,
    name: str,
    rng: np.random.Generator,
    options: ChartOptions,
    characteristic: str = "Standard",
    style: DifficultyStyle | None = None,
) -> Difficulty:
    """One difficulty of `song` in the style of `name` (Easy..ExpertPlus, or `style` when given);
    lighting is added by the caller."""
    style = style or STYLES[name]
    timing = song.timing()
    walls = _walls(song, rng) if options.walls else []
    notes = _notes(song, style, rng, walls)
    bombs = _bombs(song, notes, rng) if options.bombs else []
    diff = Difficulty(
        characteristic=characteristic,
        name=name,
        rank=DIFFICULTY_RANKS[name],
        filename="",
        njs=style.njs,
        njs_offset=float(rng.choice([0.0, 0.0, -0.25, 0.5])),
        notes=notes,
        bombs=bombs,
        obstacles=walls,
        bpm_changes=list(song.bpm_changes),
    )
    base = len(notes) + len(bombs) + len(walls)
    used: set[int] = set()
    if options.arcs:
        diff.arcs = _arcs(notes, rng, max(1, round(base * options.arc_share * rng.uniform(0.6, 1.4))), used)
    if options.chains:
        count = max(1, round(base * options.chain_share * rng.uniform(0.6, 1.4)))
        diff.chains = _chains(notes, timing, rng, count, used)
    return diff


def chart_difficulties(
    song: Song, names: list[str], rng: np.random.Generator, options: dict[str, ChartOptions]
) -> list[Difficulty]:
    """Standard difficulties `names` of one map, density strictly rising with difficulty.

    Charted from the hardest down; a chart that comes out as dense as the one above it (possible
    on sparse songs, where both only find the kicks and snares) is redrawn, up to a few times.
    A chart under MIN_NOTES (an Easy on a slow, quiet song) is redrawn with a looser style (real
    maps that sparse are rare, and the blacklist would drop them), one too dense with a stricter one.
    """
    charts: dict[str, Difficulty] = {}
    ceiling = None
    for name in sorted(names, key=DIFFICULTY_RANKS.__getitem__, reverse=True):
        style = STYLES[name]
        wanted = MIN_NOTES * (1.0 + 0.25 * NAMES_BY_RANK.index(name))  # room below for easier ones
        floor = wanted if ceiling is None else min(wanted, int(DENSITY_STEP * ceiling) - 1)
        best, best_misses = None, 3
        looser, thin = 1.0, 0.0
        for _ in range(MAX_REDRAWS):
            diff = chart_difficulty(song, name, rng, options[name], style=_adjusted(style, looser, thin))
            too_dense = ceiling is not None and len(diff.notes) >= DENSITY_STEP * ceiling
            too_sparse = len(diff.notes) < floor
            misses = 2 * too_dense + too_sparse  # density order matters most
            if misses < best_misses:
                best, best_misses = diff, misses
            if not misses:
                break
            if too_dense:  # drop a larger share of the picked hits: thins smoothly
                thin = 1.0 - (1.0 - thin) / 1.15
            else:  # shorter gaps, weaker hits: hits sit on a grid, so this moves in jumps
                looser, thin = looser * 1.15, thin / 2
        charts[name] = best
        ceiling = len(best.notes)
    return [charts[n] for n in sorted(names, key=DIFFICULTY_RANKS.__getitem__)]


def _adjusted(style: DifficultyStyle, looser: float, thin: float) -> DifficultyStyle:
    """`style` with gaps and strength threshold divided by `looser`, and `thin` of its picks dropped."""
    return replace(
        style,
        min_strength=style.min_strength / looser,
        min_gap_seconds=max(MIN_GAP_SECONDS, style.min_gap_seconds / looser),
        hand_seconds=max(MIN_HAND_SECONDS, style.hand_seconds / looser),
        thin=thin,
    )


def _strong_hits(song: Song) -> list[tuple[float, float, str]]:
    """(beat, strength, drum) per beat that has drums, strongest drum wins (a crash over its kick)."""
    best: dict[float, tuple[float, str]] = {}
    for hit in song.hits:
        strength = DRUM_WEIGHT[hit.drum] * hit.velocity
        if strength >= best.get(hit.beat, (0.0, ""))[0]:
            best[hit.beat] = (strength, hit.drum)
    return sorted((beat, strength, drum) for beat, (strength, drum) in best.items())


def _pick_hits(
    song: Song, style: DifficultyStyle, rng: np.random.Generator
) -> list[tuple[float, float, float, str]]:
    """(beat, second, strength, drum) of the hits worth a note, strongest first into the gaps.

    Like a mapper: kicks and snares are placed first, weaker hits fill what room the difficulty's
    minimum gap leaves (non-maximum suppression by strength), and some worthy hits are skipped.
    """
    timing = song.timing()
    candidates = [
        (beat, timing.to_seconds(beat), strength, drum)
        for beat, strength, drum in _strong_hits(song)
        if strength >= style.min_strength and rng.random() >= style.skip
    ]
    taken_beats: list[float] = []
    taken_seconds: list[float] = []
    picked = []
    for beat, second, strength, drum in sorted(candidates, key=lambda c: (-c[2], c[0])):
        i = bisect.bisect_left(taken_beats, beat)
        close = any(
            abs(taken_beats[j] - beat) < style.min_gap_beats - 1e-9
            or abs(taken_seconds[j] - second) < style.min_gap_seconds
            for j in (i - 1, i)
            if 0 <= j < len(taken_beats)
        )
        if not close:
            taken_beats.insert(i, beat)
            taken_seconds.insert(i, second)
            picked.append((beat, second, strength, drum))
    return sorted(p for p in picked if style.thin == 0.0 or rng.random() >= style.thin)


def _notes(
    song: Song, style: DifficultyStyle, rng: np.random.Generator, walls: list[Obstacle]
) -> list[ColorNote]:
    notes: list[ColorNote] = []
    last_time = [-1e9, -1e9]  # seconds of each hand's last swing
    swing = [FOREHAND, FOREHAND]  # the swing each hand plays next
    rotation = [0.0, 0.0]  # each hand's wrist after its last swing
    last_hand = 1
    for beat, second, strength, drum in _pick_hits(song, style, rng):
        free = [h for h in (0, 1) if second - last_time[h] >= style.hand_seconds]
        if not free:
            continue
        blocked = {o.x for o in walls if o.beat - 0.5 <= beat <= o.beat + o.duration + 0.5}
        double = strength >= 0.8 and len(free) == 2 and swing[0] == swing[1] and rng.random() < style.doubles
        if double:
            hands = [0, 1]
        else:
            hand = 1 - last_hand if rng.random() < 0.88 else last_hand  # mostly alternate
            hands = [hand if hand in free else free[0]]
        row = None  # doubles share a row, as mappers place them
        placed: list[ColorNote] = []
        for hand in hands:
            note = _place(hand, swing[hand], rotation[hand], beat, drum, blocked, rng, row, placed)
            if note is None:
                continue
            row = note.y if double else None
            placed.append(note)
            rotation[hand] = SWING_DIRECTIONS[(hand, swing[hand])][note.direction]
            swing[hand] = 1 - swing[hand]
            last_time[hand] = second
            last_hand = hand
        notes.extend(placed)
    _cover_grid(notes, walls, rng)
    return notes


def _cover_grid(notes: list[ColorNote], walls: list[Obstacle], rng: np.random.Generator) -> None:
    """Move a few notes into cells the chart never used, so every map touches all 12 cells.

    Only the position changes (parity depends on directions and reset bombs, not cells), and
    only to a column the note's hand plays in, outside walls, never onto a simultaneous note.
    """
    used = {(n.x, n.y) for n in notes}
    for x, y in [(x, y) for y in range(3) for x in range(4) if (x, y) not in used]:
        for i in rng.permutation(len(notes)):
            note = notes[int(i)]
            if x not in HAND_COLUMNS[note.color][0] or (note.x, note.y) in _single_cells(notes, note):
                continue
            if any(o.x == x and o.beat - 0.5 <= note.beat <= o.beat + o.duration + 0.5 for o in walls):
                continue
            same_time = [n for n in notes if n.beat == note.beat and n is not note]
            if any(n.x == x and n.y == y for n in same_time) or any(
                (n.x < x) != (n.color < note.color) for n in same_time
            ):
                continue
            note.x, note.y = x, y
            break


def _single_cells(notes: list[ColorNote], note: ColorNote) -> set[tuple[int, int]]:
    """The cells only `note` occupies (moving it would uncover them)."""
    return {(note.x, note.y)} if sum((n.x, n.y) == (note.x, note.y) for n in notes) == 1 else set()


def _place(
    hand: int,
    swing: int,
    prev_rotation: float,
    beat: float,
    drum: str,
    blocked: set[int],
    rng: np.random.Generator,
    row: int | None,
    placed: list[ColorNote],
) -> ColorNote | None:
    """A note for `hand` playing `swing` on a `drum` hit: a cell the drum suggests (row by DRUM_ROWS,
    outer lanes for hats and crashes), and a direction the wrist reaches in one turn."""
    columns, weights = HAND_COLUMNS[hand]
    if drum in OUTER_DRUMS:
        weights = OUTER_COLUMNS[hand]
    elif drum in INNER_DRUMS:
        weights = INNER_COLUMNS[hand]
    options = [(x, w) for x, w in zip(columns, weights, strict=True) if x not in blocked]
    taken = {(n.x, n.y) for n in placed}
    if placed:  # keep doubles apart: red left of blue
        options = [(x, w) for x, w in options if (x < placed[0].x if hand == 0 else x > placed[0].x)]
    if not options:
        return None
    xs, ws = zip(*options, strict=True)
    x = int(rng.choice(xs, p=np.array(ws) / sum(ws)))
    y = row if row is not None else int(rng.choice(3, p=DRUM_ROWS[drum]))
    if y == 1 and x in (1, 2) and rng.random() < 0.8:  # centre cells block the view: mappers avoid them
        y = 0 if drum == "kick" else 2 if drum in ("snare", "crash") else (0 if swing == FOREHAND else 2)
    if (x, y) in taken:
        return None
    reachable = {
        d: r for d, r in SWING_DIRECTIONS[(hand, swing)].items() if abs(r - prev_rotation) <= MAX_WRIST_TURN
    }
    directions = list(reachable)
    w = np.array([_direction_weight(d, hand, x) for d in directions])
    direction = int(rng.choice(directions, p=w / w.sum()))
    return ColorNote(beat=beat, x=x, y=y, color=hand, direction=direction)


def _direction_weight(direction: int, hand: int, x: int) -> float:
    """Relative weight of a reachable direction: about 45% up/down arrows overall, the median of
    human ranked maps (the rest mostly diagonals, outward ones first)."""
    if direction in (0, 1):
        return 0.42
    if direction in (2, 3):
        return 0.1
    outward = (direction in (4, 6)) == (x <= 1)  # diagonals pointing away from the centre
    return 0.3 if outward else 0.14


def _walls(song: Song, rng: np.random.Generator) -> list[Obstacle]:
    """Side walls (full height, one lane wide) through some quiet sections; a crouch wall or two in gaps."""
    walls: list[Obstacle] = []
    for section in song.sections:
        if section.energy > 0.6 and rng.random() < 0.7:
            continue
        if rng.random() < 0.5:
            continue
        x = int(rng.choice([0, 3]))
        beats = float(rng.choice([2.0, 4.0, 8.0]))
        start = section.start_beat + float(rng.choice([0.0, 4.0])) * (section.bars > 2)
        walls.append(
            Obstacle(beat=start, duration=min(beats, section.end_beat - start), x=x, y=0, width=1, height=5)
        )
    return walls


def _bombs(song: Song, notes: list[ColorNote], rng: np.random.Generator) -> list[BombNote]:
    """Bombs on empty beats, away from where the hands are; never on the parity-reset cells."""
    beats = np.array([n.beat for n in notes])
    bombs: list[BombNote] = []
    reset_cells = {(1, 0), (1, 2), (2, 0), (2, 2)}  # a bomb there would force a hand to reset
    for section in song.sections:
        if rng.random() < 0.4:
            continue
        for beat in np.arange(section.start_beat + 1.0, section.end_beat, 2.0):
            near = np.abs(beats - beat) <= 1.0 if len(beats) else np.zeros(0, bool)
            if near.any() and np.abs(beats - beat).min() < 0.5:
                continue
            busy = {(n.x, n.y) for n, close in zip(notes, near, strict=True) if close}
            busy_columns = {n.x for n, close in zip(notes, near, strict=True) if close}
            free = [
                (x, y)
                for x in range(4)
                for y in range(3)
                if (x, y) not in reset_cells and (x, y) not in busy and x not in busy_columns
            ]
            if free and rng.random() < 0.35 and len(bombs) < 0.12 * len(notes):
                x, y = free[int(rng.integers(len(free)))]
                bombs.append(BombNote(beat=float(beat), x=x, y=y))
    return bombs


def _arcs(notes: list[ColorNote], rng: np.random.Generator, count: int, used: set[int]) -> list[Arc]:
    """Arcs from a note to the same hand's next note, 0.5-4 beats later, as mappers draw them."""
    pairs = []
    for hand in (0, 1):
        own = [i for i, n in enumerate(notes) if n.color == hand]
        pairs += [
            (a, b) for a, b in zip(own, own[1:], strict=False) if 0.5 <= notes[b].beat - notes[a].beat <= 4.0
        ]
    arcs: list[Arc] = []
    for k in rng.permutation(len(pairs)):
        a, b = pairs[int(k)]
        if len(arcs) >= count or a in used or b in used:
            continue
        used.update((a, b))
        head, tail = notes[a], notes[b]
        arcs.append(
            Arc(head.color, head.beat, head.x, head.y, head.direction, 1.0,
                tail.beat, tail.x, tail.y, tail.direction, 1.0, int(rng.choice([0, 0, 1, 2])))
        )  # fmt: skip
    arcs.sort(key=lambda a: (a.beat, a.color))
    return arcs


def _chains(
    notes: list[ColorNote], timing, rng: np.random.Generator, count: int, used: set[int]
) -> list[Chain]:
    """Chains bursting from a note along its cut direction, where the hand has time after it."""
    chains: list[Chain] = []
    for i in rng.permutation(len(notes)):
        note = notes[int(i)]
        if len(chains) >= count or int(i) in used:
            continue
        later = [n.beat for n in notes if n.color == note.color and n.beat > note.beat]
        if later and timing.to_seconds(later[0]) - timing.to_seconds(note.beat) < 0.6:
            continue
        dx, dy = DIRECTION_STEP[note.direction]
        for reach in (2, 1):
            tx, ty = note.x + dx * reach, note.y + dy * reach
            if 0 <= tx <= 3 and 0 <= ty <= 2:
                break
        else:
            continue
        used.add(int(i))
        length = float(rng.choice([0.125, 0.25, 0.25, 0.5]))
        chains.append(
            Chain(note.color, note.beat, note.x, note.y, note.direction, note.beat + length, tx, ty,
                  int(rng.integers(3, 6)), float(rng.choice([0.8, 1.0])))
        )  # fmt: skip
    chains.sort(key=lambda c: (c.beat, c.color))
    return chains
