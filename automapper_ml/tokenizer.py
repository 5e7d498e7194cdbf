"""Note tokens (stage 2) and lighting tokens (stage 3, in `tokenizer_lights`, re-exported here).

A difficulty becomes one NOTE GROUP per distinct (quantised) object beat:

    [timing tokens] [object tokens ...] EOS        e.g.  DBEATS_1 DFRAC_24 NOTE_R CELL_1 DIR_1 EOS

and a flat sequence is `BOS group group ...` (`flatten`). Choices, and why:

- Time is quantised to `TICKS_PER_BEAT` = 48 ticks per beat (the grid holds 1/16, 1/12, 1/8,
  1/6, 1/4, 1/3 ...; 1/32 and 1/64 round to the nearest tick). A group starts with the gap since
  the previous group (since beat 0 for the first): whole beats as DBEATS_1..16 (repeated for longer
  gaps, so no gap is ever clipped and later objects never drift) then exactly one DFRAC_0..47 for
  the fraction. Objects after `MAX_BEAT` or before beat 0 are unrepresentable.
- Objects, in canonical order inside a group (so encoding is a function): notes (colour, y, x,
  direction, angle), bombs (y, x), walls (y, x, ...), arc ends, arc starts, chains.
      NOTE_<L|R> CELL DIR [ANGLE]            angle offsets snap to `ANGLE_VALUES`, 0 has no token
      BOMB CELL
      WALL CELL WIDTH_1..4 HEIGHT_1..5 DUR   duration snaps to `DUR_VALUES` (0 .. 64 beats)
      ARC_START_<L|R> CELL DIR SCALE MID     at the head beat: head multiplier, mid anchor
      ARC_END_<L|R> CELL DIR SCALE           at the tail beat: tail multiplier
      CHAIN_<L|R> CELL DIR CELL DUR SLICES_2..16 SCALE   tail cell, tail - head, slices, squish
  CELL_i is i = y * 4 + x on the vanilla 4 x 3 grid; multipliers and squish snap to `SCALE_VALUES`.
- Arcs pair by colour, first in first out: an ARC_END takes the oldest open ARC_START of its
  colour from an earlier group. Arcs that FIFO cannot express (one nested inside another of the
  same colour, zero or negative length) are unrepresentable, like objects off the vanilla grid
  (Mapping Extensions), unknown directions, Noodle `uninteractable` objects and fakes.
- `quantize_difficulty(d)` is exactly what survives: decode(encode(d)) == quantize(d) as multisets.
- `decode_flat` / `decode_notes` are total: any ints decode to in-range objects; tokens that do
  not fit are skipped, a half-written object is dropped, an unmatched arc end/start is dropped.
- `NoteGrammar` says which tokens may come next (precomputed masks, microseconds a step); every
  sequence it allows, ended where `state.can_end`, decodes without dropping anything. To end a
  sequence, pass `closing=True` (no new arcs, no EOS while arcs from earlier groups are open)
  until `state.can_end`.
- For stage-2 losses: `TIMING_TOKENS`, `ARC_TOKENS`, `CHAIN_TOKENS`, `EOS`, `class_weights()`,
  and per token id `TOKEN_COLOR[v]` (0/1 on coloured object tokens, else -1) and
  `TOKEN_DIRECTION[v]` (0..8 on DIR tokens, else -1); `DIR_TOKENS` lists DIR ids by direction.
- Light event box groups (v3 `lightColorEventBoxGroups` ..., v4 lightshows) are ignored by both
  tokenizers: only basic events, boosts and Chroma colours are tokenized.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, Generic, TypeVar

import numpy as np

from automapper_ml import tokenizer_common as common
from automapper_ml.formats.model import (
    GRID_COLUMNS,
    GRID_ROWS,
    Arc,
    BeatMap,
    BombNote,
    Chain,
    ColorNote,
    Difficulty,
    Obstacle,
)

TOKENIZER_VERSION = "1"
_T = TypeVar("_T")

TICKS_PER_BEAT = 48
MAX_BEAT = 10_000  # a 10-minute song at 300 BPM is 3,000 beats; beyond this is broken data
MAX_DBEATS = 16
ANGLE_VALUES = (-90, -60, -45, -30, -22, -15, 15, 22, 30, 45, 60, 90)
DUR_VALUES = (0.0, 1 / 32, 1 / 24, 1 / 16, 1 / 12, 1 / 8, 1 / 6, 3 / 16, 1 / 4, 1 / 3, 3 / 8, 1 / 2, 5 / 8, 2 / 3,
              3 / 4, 7 / 8, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0,
              16.0, 20.0, 24.0, 28.0, 32.0, 48.0, 64.0)  # fmt: skip
SCALE_VALUES = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)
_ANGLES_AND_ZERO = tuple(sorted((0, *ANGLE_VALUES)))
MIN_SLICES, MAX_SLICES = 2, 16
MAX_WALL_WIDTH, MAX_WALL_HEIGHT = 4, 5
N_CELLS = GRID_COLUMNS * GRID_ROWS
N_DIRECTIONS = 9


def _build_vocab() -> tuple[str, ...]:
    names = ["PAD", "BOS", "EOS"]
    names += [f"DBEATS_{n}" for n in range(1, MAX_DBEATS + 1)]
    names += [f"DFRAC_{n}" for n in range(TICKS_PER_BEAT)]
    names += ["NOTE_L", "NOTE_R", "BOMB", "WALL", "ARC_START_L", "ARC_START_R", "ARC_END_L", "ARC_END_R"]
    names += ["CHAIN_L", "CHAIN_R"]
    names += [f"CELL_{i}" for i in range(N_CELLS)]
    names += [f"DIR_{d}" for d in range(N_DIRECTIONS)]
    names += [f"ANGLE_{a}" for a in ANGLE_VALUES]
    names += [f"WIDTH_{w}" for w in range(1, MAX_WALL_WIDTH + 1)]
    names += [f"HEIGHT_{h}" for h in range(1, MAX_WALL_HEIGHT + 1)]
    names += [f"DUR_{v:g}" for v in DUR_VALUES]
    names += [f"SCALE_{v:g}" for v in SCALE_VALUES]
    names += [f"MID_{m}" for m in range(3)]
    names += [f"SLICES_{s}" for s in range(MIN_SLICES, MAX_SLICES + 1)]
    return tuple(names)


NOTE_VOCAB = _build_vocab()
NOTE_VOCAB_SIZE = len(NOTE_VOCAB)
_ID = {name: i for i, name in enumerate(NOTE_VOCAB)}
PAD, BOS, EOS = _ID["PAD"], _ID["BOS"], _ID["EOS"]
DBEATS0 = _ID["DBEATS_1"] - 1  # DBEATS_n = DBEATS0 + n
DFRAC0 = _ID["DFRAC_0"]
NOTE_L, NOTE_R, BOMB, WALL = _ID["NOTE_L"], _ID["NOTE_R"], _ID["BOMB"], _ID["WALL"]
ARC_START = (_ID["ARC_START_L"], _ID["ARC_START_R"])
ARC_END = (_ID["ARC_END_L"], _ID["ARC_END_R"])
CHAIN = (_ID["CHAIN_L"], _ID["CHAIN_R"])
NOTE = (NOTE_L, NOTE_R)
CELL0, DIR0, ANGLE0 = _ID["CELL_0"], _ID["DIR_0"], _ID[f"ANGLE_{ANGLE_VALUES[0]}"]
WIDTH0, HEIGHT0 = _ID["WIDTH_1"] - 1, _ID["HEIGHT_1"] - 1  # WIDTH_w = WIDTH0 + w
DUR0, SCALE0, MID0, SLICES0 = _ID["DUR_0"], _ID["SCALE_0"], _ID["MID_0"], _ID["SLICES_2"] - MIN_SLICES

TIMING_TOKENS = frozenset(range(DBEATS0 + 1, DFRAC0 + TICKS_PER_BEAT))
OBJECT_TOKENS = frozenset((*NOTE, BOMB, WALL, *ARC_START, *ARC_END, *CHAIN))
ARC_TOKENS = frozenset((*ARC_START, *ARC_END))
CHAIN_TOKENS = frozenset(CHAIN)
DIR_TOKENS = np.arange(DIR0, DIR0 + N_DIRECTIONS)  # DIR ids in direction order 0..8, shape (9,)
CELL_TOKENS = np.arange(CELL0, CELL0 + N_CELLS)  # CELL ids in cell order (y * 4 + x), shape (12,)


def _token_arrays() -> tuple[np.ndarray, np.ndarray]:
    color = np.full(NOTE_VOCAB_SIZE, -1, dtype=np.int8)
    for c in (0, 1):
        color[[NOTE[c], ARC_START[c], ARC_END[c], CHAIN[c]]] = c
    direction = np.full(NOTE_VOCAB_SIZE, -1, dtype=np.int8)
    direction[DIR_TOKENS] = np.arange(N_DIRECTIONS)
    color.flags.writeable = direction.flags.writeable = False
    return color, direction


TOKEN_COLOR, TOKEN_DIRECTION = (
    _token_arrays()
)  # (vocab,) int8: colour / cut direction a token encodes, else -1


def class_weights(
    timing: float = 3.0, eos: float = 0.3, arc: float = 2.0, chain: float = 2.0, pad: float = 0.0
) -> np.ndarray:
    """Per-token loss weights, shape (NOTE_VOCAB_SIZE,) float32, the stage-2 defaults."""
    w = np.ones(NOTE_VOCAB_SIZE, dtype=np.float32)
    w[sorted(TIMING_TOKENS)] = timing
    w[sorted(ARC_TOKENS)] = arc
    w[sorted(CHAIN_TOKENS)] = chain
    w[EOS], w[PAD] = eos, pad
    return w


def token_names(tokens: Iterable[int]) -> list[str]:
    """Readable names; ids outside the vocabulary read as `?<id>`."""
    return common.names_of(NOTE_VOCAB, tokens)


# ---------------------------------------------------------------------------------- quantisation


def to_tick(beat: float) -> int:
    """The nearest grid tick of a beat (half a tick rounds up)."""
    return math.floor(beat * TICKS_PER_BEAT + 0.5)


def _tick_or_reason(beat: float) -> tuple[int, str | None]:
    return common.tick_or_reason(beat, TICKS_PER_BEAT, MAX_BEAT)


def _on_grid(x: int, y: int) -> bool:
    return 0 <= x < GRID_COLUMNS and 0 <= y < GRID_ROWS


OFF_GRID = "off the vanilla grid (Mapping Extensions)"
NOT_INTERACTABLE = "uninteractable (Noodle)"

# Quantised records, one tuple per object; tick first. Model objects are built from them by the
# same functions whether they come from quantize() or from decode(), so the two agree bit for bit.
#   note  (tick, color, x, y, direction, angle_index or -1)
#   bomb  (tick, x, y)
#   wall  (tick, x, y, width, height, dur_index)
#   arc   (tick, color, x, y, direction, mu_index, mid, tail_tick, tail_x, tail_y, tail_dir, tmu_index)
#   chain (tick, color, x, y, direction, tail_x, tail_y, dur_index, slices, squish_index)


def _interactable_tick(o: ColorNote | BombNote | Obstacle) -> tuple[int, str | None]:
    """The tick of an object the player can hit, or why it is not tokenized (beat, Noodle)."""
    tick, why = _tick_or_reason(o.beat)
    return tick, why or (NOT_INTERACTABLE if o.uninteractable else None)


def _colored_reason(color: int, directions: tuple[int, ...], *cells: tuple[int, int]) -> str | None:
    """Why a coloured object (note, arc, chain) is not tokenized: a cell off the grid, an unknown colour
    or cut direction; None if it is fine."""
    if not all(_on_grid(x, y) for x, y in cells):
        return OFF_GRID
    if color not in (0, 1):
        return "unknown colour"
    if not all(0 <= d < N_DIRECTIONS for d in directions):
        return "unknown cut direction"
    return None


def _q_note(n: ColorNote) -> tuple[tuple | None, str | None]:
    tick, why = _interactable_tick(n)
    why = why or _colored_reason(n.color, (n.direction,), (n.x, n.y))
    if why:
        return None, why
    a = n.angle if isinstance(n.angle, int | float) and math.isfinite(n.angle) else 0
    snapped = _ANGLES_AND_ZERO[common.nearest(_ANGLES_AND_ZERO, a)]
    k = ANGLE_VALUES.index(snapped) if snapped else -1
    return (tick, n.color, n.x, n.y, n.direction, k), None


def _q_bomb(b: BombNote) -> tuple[tuple | None, str | None]:
    tick, why = _interactable_tick(b)
    if why:
        return None, why
    return ((tick, b.x, b.y), None) if _on_grid(b.x, b.y) else (None, OFF_GRID)


def _q_wall(o: Obstacle) -> tuple[tuple | None, str | None]:
    tick, why = _interactable_tick(o)
    if why:
        return None, why
    if not _on_grid(o.x, o.y) or not 1 <= o.width <= MAX_WALL_WIDTH or not 1 <= o.height <= MAX_WALL_HEIGHT:
        return None, OFF_GRID
    if not (math.isfinite(o.duration) and o.duration >= 0):
        return None, "negative or infinite duration"
    return (tick, o.x, o.y, o.width, o.height, common.nearest(DUR_VALUES, o.duration)), None


def _scale_index(v: float) -> int:
    return common.nearest(SCALE_VALUES, v if math.isfinite(v) else 1.0)


def _q_arc(a: Arc) -> tuple[tuple | None, str | None]:
    tick, why = _tick_or_reason(a.beat)
    tail, tail_why = _tick_or_reason(a.tail_beat)
    cells = (a.x, a.y), (a.tail_x, a.tail_y)
    why = why or tail_why or _colored_reason(a.color, (a.direction, a.tail_direction), *cells)
    if why:
        return None, why
    if a.mid_anchor not in (0, 1, 2):
        return None, "unknown mid anchor"
    if tail <= tick:
        return None, "tail not after head"
    mu, tmu = _scale_index(a.head_multiplier), _scale_index(a.tail_multiplier)
    return (tick, a.color, a.x, a.y, a.direction, mu, a.mid_anchor, tail, a.tail_x, a.tail_y,
            a.tail_direction, tmu), None  # fmt: skip


def _q_chain(c: Chain) -> tuple[tuple | None, str | None]:
    tick, why = _tick_or_reason(c.beat)
    why = why or _colored_reason(c.color, (c.direction,), (c.x, c.y), (c.tail_x, c.tail_y))
    if why:
        return None, why
    length = c.tail_beat - c.beat
    if not (math.isfinite(length) and length >= 0):
        return None, "tail before head"
    if c.slices < MIN_SLICES:
        return None, f"fewer than {MIN_SLICES} slices"
    slices = min(c.slices, MAX_SLICES)
    return (tick, c.color, c.x, c.y, c.direction, c.tail_x, c.tail_y, common.nearest(DUR_VALUES, length),
            slices, _scale_index(c.squish)), None  # fmt: skip


def _fifo_arcs(records: list[tuple]) -> tuple[list[tuple], list[tuple]]:
    """Split arc records into those FIFO pairing reproduces and those it cannot (nested ones).

    Kept arcs of one colour, in (head, tail, ...) order, have non-decreasing tails; ends
    precede starts inside a group, so the oldest open start is always the right one."""
    kept: list[tuple] = []
    nested: list[tuple] = []
    last_tail = [-1, -1]
    for r in sorted(records, key=lambda r: (r[0], r[1], r[7], r[:12])):
        if r[7] >= last_tail[r[1]]:
            kept.append(r)
            last_tail[r[1]] = r[7]
        else:
            nested.append(r)
    return kept, nested


def _note_obj(r: tuple, beat: float) -> ColorNote:
    return ColorNote(beat, r[2], r[3], r[1], r[4], ANGLE_VALUES[r[5]] if r[5] >= 0 else 0)


def _wall_obj(r: tuple, beat: float) -> Obstacle:
    return Obstacle(beat, DUR_VALUES[r[5]], r[1], r[2], r[3], r[4])


def _arc_obj(r: tuple, beat: float, tail_beat: float) -> Arc:
    return Arc(r[1], beat, r[2], r[3], r[4], SCALE_VALUES[r[5]], tail_beat, r[8], r[9], r[10],
               SCALE_VALUES[r[11]], r[6])  # fmt: skip


def _chain_obj(r: tuple, beat: float) -> Chain:
    return Chain(r[1], beat, r[2], r[3], r[4], beat + DUR_VALUES[r[7]], r[5], r[6], r[8], SCALE_VALUES[r[9]])


@dataclass(slots=True)
class PlayableLists(Generic[_T]):
    """One list per playable kind, named as `Difficulty` names them."""

    notes: list[_T] = field(default_factory=list)
    bombs: list[_T] = field(default_factory=list)
    obstacles: list[_T] = field(default_factory=list)
    arcs: list[_T] = field(default_factory=list)
    chains: list[_T] = field(default_factory=list)

    def lists(self) -> dict[str, list[_T]]:
        """{Difficulty attribute: list}, for `Difficulty(**x.lists())` or `replace(d, **x.lists())`."""
        return {attr: getattr(self, attr) for _, attr in NOTE_KINDS}


@dataclass(slots=True)
class QuantizedNotes(PlayableLists[tuple]):
    """Per kind: the quantised records kept, and (original object, reason) for each one lost."""

    lost: dict[str, list[tuple[object, str]]] = field(default_factory=dict)


@dataclass(slots=True)
class DecodedNotes(PlayableLists[Any]):
    """Playable objects decoded from tokens; `dropped` counts partial or unmatched objects skipped."""

    dropped: int = 0


# Per playable kind: its name (in `QuantizedNotes.lost` and reports), its Difficulty attribute, model
# type, quantiser, and the object a record stands for.
_KINDS: tuple[tuple[str, str, type, Callable, Callable[[tuple], object]], ...] = (
    ("notes", "notes", ColorNote, _q_note, lambda r: _note_obj(r, r[0] / TICKS_PER_BEAT)),
    ("bombs", "bombs", BombNote, _q_bomb, lambda r: BombNote(r[0] / TICKS_PER_BEAT, r[1], r[2])),
    ("walls", "obstacles", Obstacle, _q_wall, lambda r: _wall_obj(r, r[0] / TICKS_PER_BEAT)),
    ("arcs", "arcs", Arc, _q_arc, lambda r: _arc_obj(r, r[0] / TICKS_PER_BEAT, r[7] / TICKS_PER_BEAT)),
    ("chains", "chains", Chain, _q_chain, lambda r: _chain_obj(r, r[0] / TICKS_PER_BEAT)),
)
NOTE_KINDS = tuple((name, attr) for name, attr, *_ in _KINDS)  # (name, Difficulty attribute)
_QUANTIZERS = {kind: (quantize, build) for _, _, kind, quantize, build in _KINDS}


def quantize_notes(difficulty: Difficulty) -> QuantizedNotes:
    """Quantise every playable object; what cannot be represented is listed in `.lost` with why."""
    q = QuantizedNotes(lost={name: [] for name, _ in NOTE_KINDS})
    for name, attr, _, quantize, _ in _KINDS:
        out: list[tuple] = getattr(q, attr)
        for obj, rec in common.representable(getattr(difficulty, attr), quantize, q.lost[name]):
            out.append(rec + ((obj,) if name == "arcs" else ()))
    kept, nested = _fifo_arcs(q.arcs)
    q.lost["arcs"] += [(r[-1], "nested inside another arc of its colour") for r in nested]
    q.arcs = [r[:-1] for r in kept]
    return q


def quantize_object(obj: object) -> tuple[object | None, str | None]:
    """One object as the tokenizers carry it, or (None, reason). Arcs are not checked for
    nesting here (that needs the whole difficulty: see `quantize_notes`)."""
    entry = _QUANTIZERS.get(type(obj))
    if entry is None:
        from automapper_ml.tokenizer_lights import quantize_light_object

        return quantize_light_object(obj)
    rec, why = entry[0](obj)
    return (entry[1](rec), None) if rec is not None else (None, why)


def _objects_of(q: QuantizedNotes) -> DecodedNotes:
    return DecodedNotes(**{attr: [build(r) for r in getattr(q, attr)] for _, attr, _, _, build in _KINDS})


def quantize_difficulty(difficulty: Difficulty) -> Difficulty:
    """Exactly what survives the tokenizers: a copy with playable objects quantised (unrepresentable
    ones removed), lighting quantised as `tokenizer_lights.quantize_lights` does, and what no
    tokenizer carries (fakes, rotations, light event box groups) emptied. Metadata is kept."""
    from automapper_ml.tokenizer_lights import quantize_lights

    return replace(
        difficulty,
        **_objects_of(quantize_notes(difficulty)).lists(),
        **quantize_lights(difficulty).lists(),
        rotations=[],
        fake_notes=[],
        fake_bombs=[],
        fake_obstacles=[],
        fake_chains=[],
        light_box_groups={},
        unconverted=list(difficulty.unconverted),
    )


# ---------------------------------------------------------------------------------- encoding


@dataclass(slots=True)
class NoteGroup:
    """One onset: its beat (quantised by `encode_notes`) and tokens: timing, objects, EOS."""

    beat: float
    tokens: list[int]


def delta_tokens(ticks: int) -> list[int]:
    """Timing tokens for a gap of `ticks` >= 0 grid ticks: [DBEATS_16 ...] [DBEATS_n] DFRAC_f."""
    whole, frac = divmod(max(0, int(ticks)), TICKS_PER_BEAT)
    out = [DBEATS0 + MAX_DBEATS] * (whole // MAX_DBEATS)
    if whole % MAX_DBEATS:
        out.append(DBEATS0 + whole % MAX_DBEATS)
    out.append(DFRAC0 + frac)
    return out


def _cell(x: int, y: int) -> int:
    return CELL0 + y * GRID_COLUMNS + x


def _group_items(q: QuantizedNotes) -> dict[int, list[tuple[tuple, list[int]]]]:
    """tick -> [(canonical sort key, object tokens)]."""
    items: dict[int, list[tuple[tuple, list[int]]]] = {}

    def add(tick: int, key: tuple, tokens: list[int]) -> None:
        items.setdefault(tick, []).append((key, tokens))

    for t, c, x, y, d, k in q.notes:
        add(t, (0, c, y, x, d, k), [NOTE[c], _cell(x, y), DIR0 + d] + ([ANGLE0 + k] if k >= 0 else []))
    for t, x, y in q.bombs:
        add(t, (1, y, x), [BOMB, _cell(x, y)])
    for t, x, y, w, h, di in q.obstacles:
        add(t, (2, y, x, w, h, di), [WALL, _cell(x, y), WIDTH0 + w, HEIGHT0 + h, DUR0 + di])
    # q.arcs is in FIFO order (see _fifo_arcs): its index orders both ends and starts.
    for seq, (t, c, x, y, d, mu, mid, tt, tx, ty, td, tmu) in enumerate(q.arcs):
        add(t, (4, c, seq), [ARC_START[c], _cell(x, y), DIR0 + d, SCALE0 + mu, MID0 + mid])
        add(tt, (3, c, seq), [ARC_END[c], _cell(tx, ty), DIR0 + td, SCALE0 + tmu])
    for t, c, x, y, d, tx, ty, di, s, sq in q.chains:
        add(t, (5, c, y, x, d, ty, tx, di, s, sq),
            [CHAIN[c], _cell(x, y), DIR0 + d, _cell(tx, ty), DUR0 + di, SLICES0 + s, SCALE0 + sq])  # fmt: skip
    return items


def encode_quantized(q: QuantizedNotes) -> list[NoteGroup]:
    """Note groups of already quantised objects, in beat order."""
    items = _group_items(q)
    groups: list[NoteGroup] = []
    previous = 0
    for tick in sorted(items):
        tokens = delta_tokens(tick - previous)
        for _, object_tokens in sorted(items[tick], key=lambda item: item[0]):
            tokens += object_tokens
        tokens.append(EOS)
        groups.append(NoteGroup(tick / TICKS_PER_BEAT, tokens))
        previous = tick
    return groups


def encode_notes(beatmap: BeatMap | Difficulty, difficulty: Difficulty | None = None) -> list[NoteGroup]:
    """One group per distinct quantised object beat. Call as `encode_notes(beatmap, diff)` or
    `encode_notes(diff)`: tokens live on the beat timeline, so the map itself is not needed."""
    diff = difficulty if difficulty is not None else beatmap
    if not isinstance(diff, Difficulty):
        raise TypeError("encode_notes needs a Difficulty")
    return encode_quantized(quantize_notes(diff))


def flatten(groups: Iterable[NoteGroup]) -> list[int]:
    """`BOS` followed by every group's tokens: the flat sequence `decode_flat` reads."""
    return common.flatten_groups(groups, BOS)


# ---------------------------------------------------------------------------------- decoding

_CELL = (CELL0, CELL0 + N_CELLS)
_DIR = (DIR0, DIR0 + N_DIRECTIONS)
_WIDTH = (WIDTH0 + 1, WIDTH0 + MAX_WALL_WIDTH + 1)
_HEIGHT = (HEIGHT0 + 1, HEIGHT0 + MAX_WALL_HEIGHT + 1)
_DUR = (DUR0, DUR0 + len(DUR_VALUES))
_SCALE = (SCALE0, SCALE0 + len(SCALE_VALUES))
_MID = (MID0, MID0 + 3)
_SLICES = (SLICES0 + MIN_SLICES, SLICES0 + MAX_SLICES + 1)
_ANGLE = (ANGLE0, ANGLE0 + len(ANGLE_VALUES))
# What each object token must be followed by, in order.
ATTRIBUTES: dict[int, tuple[tuple[int, int], ...]] = {
    NOTE_L: (_CELL, _DIR),
    NOTE_R: (_CELL, _DIR),
    BOMB: (_CELL,),
    WALL: (_CELL, _WIDTH, _HEIGHT, _DUR),
    ARC_START[0]: (_CELL, _DIR, _SCALE, _MID),
    ARC_START[1]: (_CELL, _DIR, _SCALE, _MID),
    ARC_END[0]: (_CELL, _DIR, _SCALE),
    ARC_END[1]: (_CELL, _DIR, _SCALE),
    CHAIN[0]: (_CELL, _DIR, _CELL, _DUR, _SLICES, _SCALE),
    CHAIN[1]: (_CELL, _DIR, _CELL, _DUR, _SLICES, _SCALE),
}


def _is_timing(t: int) -> bool:
    return DBEATS0 < t < DFRAC0 + TICKS_PER_BEAT


class _Decoder:
    """Reads groups one after another; arcs stay open across groups until their end arrives."""

    def __init__(self) -> None:
        self.out = DecodedNotes()
        self.open: tuple[list, list] = ([], [])  # per colour, FIFO of (beat, attribute values)
        self.heads = [0, 0]  # index of the oldest open start per colour

    def group(self, beat: float, tokens: Sequence[int]) -> None:
        objects = sum(1 for t in tokens if t in ATTRIBUTES)
        if not (math.isfinite(beat) and 0 <= beat <= MAX_BEAT):
            self.out.dropped += objects
            return
        out, i, n, last_note = self.out, 0, len(tokens), None
        while i < n:
            t = tokens[i]
            i += 1
            spec = ATTRIBUTES.get(t)
            if spec is None:
                if last_note is not None and _ANGLE[0] <= t < _ANGLE[1]:
                    last_note.angle = ANGLE_VALUES[t - ANGLE0]
                last_note = None
                continue
            last_note = None
            values = []
            for lo, hi in spec:
                if i < n and lo <= tokens[i] < hi:
                    values.append(tokens[i] - lo)
                    i += 1
                else:
                    break
            if len(values) < len(spec):
                out.dropped += 1
                continue
            v = values
            x, y = v[0] % GRID_COLUMNS, v[0] // GRID_COLUMNS
            if t in NOTE:
                last_note = _note_obj((0, NOTE.index(t), x, y, v[1], -1), beat)
                out.notes.append(last_note)
            elif t == BOMB:
                out.bombs.append(BombNote(beat, x, y))
            elif t == WALL:
                out.obstacles.append(_wall_obj((0, x, y, v[1] + 1, v[2] + 1, v[3]), beat))
            elif t in ARC_START:
                self.open[ARC_START.index(t)].append((beat, (x, y, v[1], v[2], v[3])))
            elif t in ARC_END:
                self.arc_end(ARC_END.index(t), beat, (x, y, v[1], v[2]))
            else:
                rec = (0, CHAIN.index(t), x, y, v[1], v[2] % GRID_COLUMNS, v[2] // GRID_COLUMNS, v[3],
                       v[4] + MIN_SLICES, v[5])  # fmt: skip
                out.chains.append(_chain_obj(rec, beat))

    def arc_end(self, color: int, beat: float, tail: tuple) -> None:
        queue, head = self.open[color], self.heads[color]
        if head >= len(queue) or not queue[head][0] < beat:
            self.out.dropped += 1  # no start in an earlier group to pair with
            return
        start_beat, (x, y, d, mu, mid) = queue[head]
        self.heads[color] += 1
        rec = (0, color, x, y, d, mu, mid, 0, tail[0], tail[1], tail[2], tail[3])
        self.out.arcs.append(_arc_obj(rec, start_beat, beat))

    def finish(self) -> DecodedNotes:
        self.out.dropped += sum(len(q) - h for q, h in zip(self.open, self.heads, strict=True))
        return self.out


def decode_flat(tokens: Iterable[object]) -> DecodedNotes:
    """Decode a flat sequence (`flatten`), beats from its timing tokens. Never raises.

    A timing token after objects starts a new group (as if EOS came first); PAD, BOS and ids
    outside the vocabulary are skipped; objects beyond `MAX_BEAT` are dropped."""
    if isinstance(tokens, np.ndarray):
        tokens = tokens.ravel().tolist()  # plain ints: the per-token fast path
    decoder = _Decoder()
    tick, pending, current = 0, 0, None
    for raw in tokens:
        t = common.as_int(raw)
        if _is_timing(t):
            if current is not None:
                decoder.group(tick / TICKS_PER_BEAT, current)
                current = None
            if t < DFRAC0:
                pending += (t - DBEATS0) * TICKS_PER_BEAT
            else:
                tick, pending, current = tick + pending + t - DFRAC0, 0, []
        elif t == EOS:
            if current is not None:
                decoder.group(tick / TICKS_PER_BEAT, current)
            tick, pending, current = tick + pending, 0, None
        elif EOS < t < NOTE_VOCAB_SIZE:
            if current is None:
                tick, pending, current = tick + pending, 0, []
            current.append(t)
    if current is not None:
        decoder.group(tick / TICKS_PER_BEAT, current)
    return decoder.finish()


def decode_notes(groups: Iterable[NoteGroup] | Iterable[int]) -> DecodedNotes:
    """Decode note groups (each at its own `beat`; timing tokens inside are skipped) or, given
    plain ints, a flat sequence (`decode_flat`). Never raises."""
    if isinstance(groups, np.ndarray):
        return decode_flat(groups)
    items = list(groups)
    if not all(isinstance(g, NoteGroup) for g in items):
        return decode_flat(g for g in items if not isinstance(g, NoteGroup))
    decoder = _Decoder()
    for g in items:
        beat = g.beat if isinstance(g.beat, int | float) else math.nan
        decoder.group(float(beat), [t for t in map(common.as_int, g.tokens) if EOS < t < NOTE_VOCAB_SIZE])
    return decoder.finish()


# ---------------------------------------------------------------------------------- grammar

_BOUNDARY, _DELTA, _OBJECT, _NOTE_DONE = 0, 1, 2, 3  # phases; attribute phases follow
_ATTR_PHASE: dict[tuple[int, int], int] = {}  # (object token, attribute position) -> phase
_PHASE_FAMILY: dict[int, tuple[int, int]] = {}
for _kind, _spec in ATTRIBUTES.items():
    for _pos, _family in enumerate(_spec):
        _ATTR_PHASE[(_kind, _pos)] = 4 + len(_PHASE_FAMILY)
        _PHASE_FAMILY[_ATTR_PHASE[(_kind, _pos)]] = _family
_PHASE_KIND_POS = {phase: kind_pos for kind_pos, phase in _ATTR_PHASE.items()}


@cache  # one read-only mask per grammar key
def _mask_for(key: tuple) -> np.ndarray:
    phase = key[0]
    m = np.zeros(NOTE_VOCAB_SIZE, dtype=bool)
    if phase in (_BOUNDARY, _DELTA):
        m[DBEATS0 + 1 : DBEATS0 + MAX_DBEATS + 1] = True
        m[DFRAC0 : DFRAC0 + TICKS_PER_BEAT] = True
        # After the first group a zero gap would put two groups on one beat (and could pair an
        # arc end with a start on its own beat): DFRAC_0 needs a DBEATS before it.
        m[DFRAC0] = phase == _DELTA or key[1]
    elif phase in (_OBJECT, _NOTE_DONE):
        _, has_obj, open_l, open_r, closing = key
        m[[*NOTE, BOMB, WALL, *CHAIN]] = True
        m[list(ARC_START)] = not closing
        m[ARC_END[0]], m[ARC_END[1]] = open_l, open_r
        # Closing: arcs opened earlier in this group may still end the group (they close in the
        # next one); otherwise a group that opened an arc before closing began could never end.
        m[EOS] = has_obj and not (closing and (open_l or open_r))
        if phase == _NOTE_DONE:
            m[_ANGLE[0] : _ANGLE[1]] = True
    else:
        lo, hi = _PHASE_FAMILY[phase]
        m[lo:hi] = True
    m.flags.writeable = False
    return m


class NoteState:
    """Where a (partial) note sequence stands in the grammar. Immutable; `advance` returns a new one.

    `open_arcs` counts, per colour, arc starts from earlier groups still waiting for their end."""

    __slots__ = ("phase", "first", "has_obj", "open_arcs", "open_here")

    def __init__(
        self,
        phase: int = _BOUNDARY,
        first: bool = True,
        has_obj: bool = False,
        open_arcs: tuple[int, int] = (0, 0),
        open_here: tuple[int, int] = (0, 0),
    ) -> None:
        self.phase, self.first, self.has_obj = phase, first, has_obj
        self.open_arcs, self.open_here = open_arcs, open_here

    def _key(self, closing: bool) -> tuple:
        p = self.phase
        if p == _BOUNDARY:
            return (p, self.first)
        if p in (_OBJECT, _NOTE_DONE):
            o = self.open_arcs
            return (p, self.has_obj, o[0] > 0, o[1] > 0, closing)
        return (p,)

    def allowed(self, closing: bool = False) -> np.ndarray:
        """Read-only bool mask, shape (NOTE_VOCAB_SIZE,), of the tokens that may come next.

        `closing=True` is for the end of a sequence: no new arcs, and no EOS while arcs from earlier
        groups are open. Keep passing it until `can_end`."""
        return _mask_for(self._key(closing))

    @property
    def can_end(self) -> bool:
        """True between groups with no arc left open: the sequence may stop here."""
        return self.phase == _BOUNDARY and self.open_arcs == (0, 0)

    @property
    def at_boundary(self) -> bool:
        return self.phase == _BOUNDARY

    def advance(self, token: int, closing: bool = False) -> NoteState:
        """The state after `token`; ValueError if the grammar does not allow it here."""
        t = common.as_int(token)
        if not (0 <= t < NOTE_VOCAB_SIZE and self.allowed(closing)[t]):
            raise ValueError(f"token {token_names([t])[0]} is not allowed here")
        p, o, h = self.phase, self.open_arcs, self.open_here
        if p in (_BOUNDARY, _DELTA):
            if t < DFRAC0:
                return NoteState(_DELTA, False, False, o, h)
            return NoteState(_OBJECT, False, False, o, h)
        if p in (_OBJECT, _NOTE_DONE):
            if t == EOS:
                return NoteState(_BOUNDARY, False, False, (o[0] + h[0], o[1] + h[1]))
            if t in ARC_END:
                c = ARC_END.index(t)
                o = (o[0] - 1, o[1]) if c == 0 else (o[0], o[1] - 1)
            elif t in ARC_START:
                c = ARC_START.index(t)
                h = (h[0] + 1, h[1]) if c == 0 else (h[0], h[1] + 1)
            elif t not in ATTRIBUTES:  # an angle after a note
                return NoteState(_OBJECT, False, True, o, h)
            return NoteState(_ATTR_PHASE[(t, 0)], False, self.has_obj, o, h)
        kind, pos = _PHASE_KIND_POS[p]
        if pos + 1 < len(ATTRIBUTES[kind]):
            return NoteState(_ATTR_PHASE[(kind, pos + 1)], False, self.has_obj, o, h)
        return NoteState(_NOTE_DONE if kind in NOTE else _OBJECT, False, True, o, h)

    def __repr__(self) -> str:
        return f"NoteState(phase={self.phase}, open_arcs={self.open_arcs}, has_obj={self.has_obj})"


class NoteGrammar:
    """The note-token grammar: `start()` then `state.allowed()` / `state.advance(token)` per step."""

    @staticmethod
    def start(first: bool = True, open_arcs: tuple[int, int] = (0, 0)) -> NoteState:
        """State before a group: the sequence's first (`first=True`: a zero gap from beat 0 is
        allowed) or a later one with `open_arcs` arc starts per colour still open."""
        return NoteState(_BOUNDARY, first, False, tuple(open_arcs))  # type: ignore[arg-type]

    @staticmethod
    def state_after(prefix: Iterable[int], closing: bool = False) -> NoteState:
        """Walk a prefix (leading BOS tokens skipped); ValueError on a token the grammar forbids."""
        state = NoteGrammar.start()
        for t in common.after_bos(prefix, BOS):
            state = state.advance(t, closing)
        return state


def allowed_next(prefix: Iterable[int], closing: bool = False) -> np.ndarray:
    """Bool mask (NOTE_VOCAB_SIZE,) of the tokens that may follow a flat prefix."""
    return NoteGrammar.state_after(prefix, closing).allowed(closing)


from automapper_ml.tokenizer_lights import *  # noqa: E402, F403  (the lighting half, re-exported)
