"""Lighting tokens (stage 3): basic light events, colour boosts and Chroma colours on a beat grid.

Re-exported by `automapper_ml.tokenizer`; import from there. One LIGHT GROUP per grid step (every
`step` beats, half a beat by default), empty steps included, so stage 3 generates one group per
step; a flat sequence is `BOS group group ...` and group k starts at beat k * step.

    OFFSET_j BOOST_ON|BOOST_OFF                               a colour boost
    OFFSET_j LTYPE_t LVALUE_v [BRIGHT_b] [COLOR_p]            a basic event
    ... EOS                                                   end of the step

Choices, and why:
- OFFSET_j is the event's place inside its step in ticks of 1/48 beat (the note grid), so
  j < step * 48; steps may be 1/48 .. 2 beats (96 offset tokens). Events are quantised to the tick.
- Types are the basic-event lanes the spec lists (`LIGHT_TYPES`: lights 0-4, 6, 7, 10, 11,
  value/trigger lanes 8, 9, 12, 13, 16-19, special lanes 40-43). 5 (boost), 14/15 (rotation) and
  100 (BPM) live in their own model lists; any other type is dropped and counted.
- Values are clamped to 0..`MAX_LIGHT_VALUE` (20: every light value, laser speeds up to 20);
  legacy Chroma RGB values (>= 2,000,000,000) are dropped.
- Brightness (`float_value`) snaps to `BRIGHTNESS_VALUES` (eighths up to 2, then 2.5, 3, 4);
  1.0, the default, has no token.
- A Chroma colour snaps to the nearest of the 16 `PALETTE` colours in RGB after clamping channels
  to 0..1 (over-bright HDR colours read as their hue; alpha is dropped). `lightID` is dropped.
- Light event box groups (v3 `lightColorEventBoxGroups` ..., v4 lightshows) are ignored.
- `decode_lights` is total, and `LightGrammar(step)` gives per-step masks as the notes' grammar does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np

from automapper_ml import tokenizer_common as common
from automapper_ml.formats.model import BeatMap, BoostEvent, Difficulty, LightEvent

__all__ = [
    "BRIGHTNESS_VALUES",
    "DEFAULT_LIGHT_STEP",
    "LIGHT_BOOST_IDS",
    "LIGHT_BOS",
    "LIGHT_COLOR_IDS",
    "LIGHT_EOS",
    "LIGHT_EVENT_TOKENS",
    "LIGHT_OFFSET_IDS",
    "LIGHT_PAD",
    "LIGHT_TICKS_PER_BEAT",
    "LIGHT_TYPES",
    "LIGHT_VOCAB",
    "LIGHT_VOCAB_SIZE",
    "MAX_LIGHT_STEP_TICKS",
    "MAX_LIGHT_VALUE",
    "PALETTE",
    "DecodedLights",
    "LightGrammar",
    "LightGroup",
    "LightLists",
    "LightState",
    "QuantizedLights",
    "decode_lights",
    "encode_lights",
    "flatten_lights",
    "light_token_names",
    "palette_index",
    "quantize_light_object",
    "quantize_lights",
    "split_light_events",
    "step_ticks",
    "truncate_light_group",
]

LIGHT_TICKS_PER_BEAT = 48
MAX_LIGHT_STEP_TICKS = 96  # a step may be up to 2 beats
DEFAULT_LIGHT_STEP = 0.5
MAX_LIGHT_BEAT = 10_000
LIGHT_TYPES = (0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 40, 41, 42, 43)
MAX_LIGHT_VALUE = 20
LEGACY_CHROMA_VALUE = 2_000_000_000
BRIGHTNESS_VALUES = tuple(i / 8 for i in range(17)) + (2.5, 3.0, 4.0)
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # black
    (1.0, 1.0, 1.0),  # white
    (0.5, 0.5, 0.5),  # grey
    (1.0, 0.0, 0.0),  # red
    (0.5, 0.0, 0.0),  # dark red
    (1.0, 0.5, 0.0),  # orange
    (1.0, 1.0, 0.0),  # yellow
    (0.0, 1.0, 0.0),  # green
    (0.0, 0.5, 0.5),  # teal
    (0.0, 1.0, 1.0),  # cyan
    (0.0, 0.5, 1.0),  # sky blue
    (0.0, 0.0, 1.0),  # blue
    (0.0, 0.0, 0.5),  # navy
    (0.5, 0.0, 1.0),  # purple
    (1.0, 0.0, 1.0),  # magenta
    (1.0, 0.5, 0.75),  # pink
)

_BRIGHT_TOKENS = tuple(i for i, v in enumerate(BRIGHTNESS_VALUES) if v != 1.0)  # bucket per BRIGHT token
_DEFAULT_BRIGHT = BRIGHTNESS_VALUES.index(1.0)


def _build_vocab() -> tuple[str, ...]:
    names = ["PAD", "BOS", "EOS"]
    names += [f"OFFSET_{j}" for j in range(MAX_LIGHT_STEP_TICKS)]
    names += ["BOOST_OFF", "BOOST_ON"]
    names += [f"LTYPE_{t}" for t in LIGHT_TYPES]
    names += [f"LVALUE_{v}" for v in range(MAX_LIGHT_VALUE + 1)]
    names += [f"BRIGHT_{BRIGHTNESS_VALUES[i]:g}" for i in _BRIGHT_TOKENS]
    names += [f"COLOR_{p}" for p in range(len(PALETTE))]
    return tuple(names)


LIGHT_VOCAB = _build_vocab()
LIGHT_VOCAB_SIZE = len(LIGHT_VOCAB)
_LID = {name: i for i, name in enumerate(LIGHT_VOCAB)}
LIGHT_PAD, LIGHT_BOS, LIGHT_EOS = _LID["PAD"], _LID["BOS"], _LID["EOS"]  # 0, 1, 2 as in the note vocabulary
OFFSET0, BOOST_OFF, BOOST_ON = _LID["OFFSET_0"], _LID["BOOST_OFF"], _LID["BOOST_ON"]
LIGHT_EVENT_TOKENS = 5  # longest light event: OFFSET LTYPE LVALUE BRIGHT COLOR
LIGHT_OFFSET_IDS = np.arange(OFFSET0, OFFSET0 + MAX_LIGHT_STEP_TICKS)
LIGHT_COLOR_IDS = np.array([i for i, n in enumerate(LIGHT_VOCAB) if n.startswith("COLOR_")])
LIGHT_BOOST_IDS = np.array([BOOST_OFF, BOOST_ON])
LTYPE0, LVALUE0 = _LID[f"LTYPE_{LIGHT_TYPES[0]}"], _LID["LVALUE_0"]
BRIGHT0, COLOR0 = _LID[f"BRIGHT_{BRIGHTNESS_VALUES[_BRIGHT_TOKENS[0]]:g}"], _LID["COLOR_0"]
_TYPE_INDEX = {t: i for i, t in enumerate(LIGHT_TYPES)}


def light_token_names(tokens: Iterable[int]) -> list[str]:
    return common.names_of(LIGHT_VOCAB, tokens)


def step_ticks(step: float) -> int:
    """Grid step in ticks; ValueError unless it is a whole number of ticks in 1..96."""
    ticks = round(step * LIGHT_TICKS_PER_BEAT) if isinstance(step, int | float) and math.isfinite(step) else 0
    if not (1 <= ticks <= MAX_LIGHT_STEP_TICKS and abs(ticks - step * LIGHT_TICKS_PER_BEAT) < 1e-6):
        raise ValueError(f"light step must be a multiple of 1/48 beat up to 2 beats, got {step!r}")
    return ticks


def palette_index(color: Sequence[float]) -> int:
    """Nearest palette colour to an (r, g, b[, a]) colour, channels clamped to 0..1; -1 if unusable."""
    try:
        return _palette_index(tuple(color))
    except TypeError:  # not iterable, or holds something unhashable
        return -1


@lru_cache(maxsize=65536)  # a map uses a few hundred distinct colours over thousands of events
def _palette_index(color: tuple) -> int:
    try:
        raw = [float(c) for c in color[:3]]
    except (TypeError, ValueError):
        return -1
    if len(raw) < 3 or not all(math.isfinite(c) for c in raw):
        return -1
    rgb = [min(1.0, max(0.0, c)) for c in raw]
    dists = [sum((a - b) ** 2 for a, b in zip(rgb, p, strict=True)) for p in PALETTE]
    return dists.index(min(dists))


# Records: event (tick, type index, value, brightness index, palette index or -1); boost (tick, on).
def _event_obj(r: tuple, tick: int) -> LightEvent:
    color = PALETTE[r[4]] if r[4] >= 0 else None
    return LightEvent(tick / LIGHT_TICKS_PER_BEAT, LIGHT_TYPES[r[1]], r[2], BRIGHTNESS_VALUES[r[3]], color)


def _tick_or_reason(beat: float) -> tuple[int, str | None]:
    if not isinstance(beat, int | float):
        return 0, common.NOT_A_BEAT
    return common.tick_or_reason(beat, LIGHT_TICKS_PER_BEAT, MAX_LIGHT_BEAT)


def _q_event(e: LightEvent) -> tuple[tuple | None, str | None]:
    tick, why = _tick_or_reason(e.beat)
    if why:
        return None, why
    if e.type not in _TYPE_INDEX:
        return None, f"event type {e.type} is not tokenized"
    if e.value >= LEGACY_CHROMA_VALUE:
        return None, "legacy Chroma RGB value"
    f = e.float_value
    if not (isinstance(f, int | float) and math.isfinite(f)):
        return None, "brightness not a number"
    color = palette_index(e.color) if e.color is not None else -1
    value = min(MAX_LIGHT_VALUE, max(0, int(e.value)))
    return (tick, _TYPE_INDEX[e.type], value, common.nearest(BRIGHTNESS_VALUES, f), color), None


def _q_boost(b: BoostEvent) -> tuple[tuple | None, str | None]:
    tick, why = _tick_or_reason(b.beat)
    return (None, why) if why else ((tick, bool(b.on)), None)


def _boost_obj(r: tuple) -> BoostEvent:
    return BoostEvent(r[0] / LIGHT_TICKS_PER_BEAT, r[1])


def quantize_light_object(obj: object) -> tuple[object | None, str | None]:
    """A LightEvent or BoostEvent as the lighting tokens carry it, or (None, reason)."""
    if isinstance(obj, LightEvent):
        rec, why = _q_event(obj)
        return (_event_obj(rec, rec[0]), None) if rec is not None else (None, why)
    if isinstance(obj, BoostEvent):
        rec, why = _q_boost(obj)
        return (_boost_obj(rec), None) if rec is not None else (None, why)
    return None, f"{type(obj).__name__} is not tokenized"


@dataclass(slots=True)
class LightLists:
    """Basic light events and colour boosts, named as `Difficulty` names them."""

    events: list[LightEvent] = field(default_factory=list)
    boosts: list[BoostEvent] = field(default_factory=list)

    def lists(self) -> dict[str, list]:
        """{Difficulty attribute: list}, for `Difficulty(**x.lists())` or `replace(d, **x.lists())`."""
        return {"events": self.events, "boosts": self.boosts}


@dataclass(slots=True)
class QuantizedLights(LightLists):
    """The model objects kept, their records, and (original, reason) per lost object."""

    event_records: list[tuple] = field(default_factory=list)
    boost_records: list[tuple] = field(default_factory=list)
    lost: dict[str, list[tuple[object, str]]] = field(default_factory=dict)


def quantize_lights(difficulty: Difficulty) -> QuantizedLights:
    """Quantise basic events and boosts as the lighting tokens carry them."""
    q = QuantizedLights(lost={"events": [], "boosts": []})
    for _, rec in common.representable(difficulty.events, _q_event, q.lost["events"]):
        q.event_records.append(rec)
        q.events.append(_event_obj(rec, rec[0]))
    for _, rec in common.representable(difficulty.boosts, _q_boost, q.lost["boosts"]):
        q.boost_records.append(rec)
        q.boosts.append(_boost_obj(rec))
    return q


@dataclass(slots=True)
class LightGroup:
    """One grid step: its start beat and tokens (events, then EOS)."""

    beat: float
    tokens: list[int]


def _event_tokens(offset: int, r: tuple) -> list[int]:
    out = [OFFSET0 + offset, LTYPE0 + r[1], LVALUE0 + r[2]]
    if r[3] != _DEFAULT_BRIGHT:
        out.append(BRIGHT0 + _BRIGHT_TOKENS.index(r[3]))
    if r[4] >= 0:
        out.append(COLOR0 + r[4])
    return out


def encode_lights(
    beatmap: BeatMap | Difficulty,
    difficulty: Difficulty | None = None,
    step: float = DEFAULT_LIGHT_STEP,
    end_beat: float | None = None,
) -> list[LightGroup]:
    """One group per `step` beats from beat 0 through the last event (or `end_beat`), empty ones
    included. Call as `encode_lights(beatmap, diff)` or `encode_lights(diff)`."""
    diff = difficulty if difficulty is not None else beatmap
    if not isinstance(diff, Difficulty):
        raise TypeError("encode_lights needs a Difficulty")
    size = step_ticks(step)
    q = quantize_lights(diff)
    items: dict[int, list[tuple[tuple, list[int]]]] = {}
    for tick, on in q.boost_records:
        items.setdefault(tick // size, []).append(((tick % size, 0, on), [OFFSET0 + tick % size, BOOST_ON if on else BOOST_OFF]))  # fmt: skip
    for r in q.event_records:
        items.setdefault(r[0] // size, []).append(((r[0] % size, 1, *r[1:]), _event_tokens(r[0] % size, r)))
    last = max(items, default=-1)
    if end_beat is not None and math.isfinite(end_beat):
        last = max(last, min(int(end_beat * LIGHT_TICKS_PER_BEAT) // size, MAX_LIGHT_BEAT * LIGHT_TICKS_PER_BEAT // size))  # fmt: skip
    groups = []
    for k in range(last + 1):
        tokens = [t for _, ts in sorted(items.get(k, ()), key=lambda item: item[0]) for t in ts]
        groups.append(LightGroup(k * size / LIGHT_TICKS_PER_BEAT, tokens + [LIGHT_EOS]))
    return groups


def flatten_lights(groups: Iterable[LightGroup]) -> list[int]:
    return common.flatten_groups(groups, LIGHT_BOS)


@dataclass(slots=True)
class DecodedLights(LightLists):
    dropped: int = 0  # events started by an OFFSET but not finished


def _decode_group(tick0: int, tokens: Sequence[int], out: DecodedLights) -> None:
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        i += 1
        if not OFFSET0 <= t < OFFSET0 + MAX_LIGHT_STEP_TICKS:
            continue  # a stray token: skipped
        tick = tick0 + t - OFFSET0
        nxt = tokens[i] if i < n else -1
        if nxt in (BOOST_OFF, BOOST_ON):
            out.boosts.append(BoostEvent(tick / LIGHT_TICKS_PER_BEAT, nxt == BOOST_ON))
            i += 1
            continue
        if not (LTYPE0 <= nxt < LTYPE0 + len(LIGHT_TYPES) and i + 1 < n and LVALUE0 <= tokens[i + 1] <= LVALUE0 + MAX_LIGHT_VALUE):  # fmt: skip
            out.dropped += 1
            continue
        rec = [tick, nxt - LTYPE0, tokens[i + 1] - LVALUE0, _DEFAULT_BRIGHT, -1]
        i += 2
        if i < n and BRIGHT0 <= tokens[i] < BRIGHT0 + len(_BRIGHT_TOKENS):
            rec[3] = _BRIGHT_TOKENS[tokens[i] - BRIGHT0]
            i += 1
        if i < n and COLOR0 <= tokens[i] < COLOR0 + len(PALETTE):
            rec[4] = tokens[i] - COLOR0
            i += 1
        if tick <= MAX_LIGHT_BEAT * LIGHT_TICKS_PER_BEAT:
            out.events.append(_event_obj(tuple(rec), tick))
        else:
            out.dropped += 1


def decode_lights(
    groups: Iterable[LightGroup] | Iterable[int], step: float = DEFAULT_LIGHT_STEP
) -> DecodedLights:
    """Decode light groups (each at its own beat, rounded to the tick) or a flat sequence
    (group k at k * step; EOS ends a group). Never raises, except ValueError for a bad `step`."""
    size = step_ticks(step)
    out = DecodedLights()
    items = groups.ravel().tolist() if isinstance(groups, np.ndarray) else list(groups)
    if items and all(isinstance(g, LightGroup) for g in items):
        for g in items:
            tick, why = _tick_or_reason(g.beat)
            tokens = [t for t in map(common.as_int, g.tokens) if 0 <= t < LIGHT_VOCAB_SIZE]
            if why:
                out.dropped += sum(1 for t in tokens if OFFSET0 <= t < OFFSET0 + MAX_LIGHT_STEP_TICKS)
            else:
                _decode_group(tick, tokens, out)
        return out
    k, current = 0, []
    for raw in items:
        t = common.as_int(raw) if not isinstance(raw, LightGroup) else -1
        if t == LIGHT_EOS:
            _decode_group(k * size, current, out)
            k, current = k + 1, []
        elif LIGHT_EOS < t < LIGHT_VOCAB_SIZE:
            current.append(t)
    _decode_group(k * size, current, out)
    return out


# ---------------------------------------------------------------------------------- grammar


def split_light_events(tokens: Sequence[int]) -> list[list[int]]:
    """A group's events: token runs starting at an OFFSET (EOS, PAD, BOS and strays dropped)."""
    events: list[list[int]] = []
    for t in tokens:
        t = int(t)
        if OFFSET0 <= t < OFFSET0 + MAX_LIGHT_STEP_TICKS:
            events.append([t])
        elif events and t > LIGHT_EOS and len(events[-1]) < LIGHT_EVENT_TOKENS:
            events[-1].append(t)
    return events


def truncate_light_group(tokens: Sequence[int], max_tokens: int) -> list[int]:
    """The group (events + EOS) cut to at most `max_tokens` tokens at an event boundary."""
    tokens = [int(t) for t in tokens]
    if len(tokens) <= max_tokens:
        return tokens
    kept: list[int] = []
    for event in split_light_events(tokens):
        if len(kept) + len(event) + 1 > max_tokens:
            break
        kept += event
    return kept + [LIGHT_EOS]


_L_GROUP, _L_OFFSET, _L_TYPE, _L_VALUE, _L_BRIGHT = 0, 1, 2, 3, 4


@cache  # one read-only mask per (phase, step size)
def _light_mask(phase: int, size: int) -> np.ndarray:
    m = np.zeros(LIGHT_VOCAB_SIZE, dtype=bool)
    if phase == _L_OFFSET:
        m[[BOOST_OFF, BOOST_ON]] = True
        m[LTYPE0 : LTYPE0 + len(LIGHT_TYPES)] = True
    elif phase == _L_TYPE:
        m[LVALUE0 : LVALUE0 + MAX_LIGHT_VALUE + 1] = True
    else:
        m[OFFSET0 : OFFSET0 + size] = True
        m[LIGHT_EOS] = True
        if phase in (_L_VALUE, _L_BRIGHT):
            m[COLOR0 : COLOR0 + len(PALETTE)] = True
        if phase == _L_VALUE:
            m[BRIGHT0 : BRIGHT0 + len(_BRIGHT_TOKENS)] = True
    m.flags.writeable = False
    return m


class LightState:
    """Where a partial lighting sequence stands; immutable, `advance` returns a new state."""

    __slots__ = ("phase", "size", "boundary", "groups")

    def __init__(self, size: int, phase: int = _L_GROUP, boundary: bool = True, groups: int = 0) -> None:
        self.size, self.phase, self.boundary, self.groups = size, phase, boundary, groups

    def allowed(self) -> np.ndarray:
        """Read-only bool mask, shape (LIGHT_VOCAB_SIZE,), of the tokens that may come next."""
        return _light_mask(self.phase, self.size)

    @property
    def can_end(self) -> bool:
        """True right after an EOS (or at the start): the sequence may stop here."""
        return self.boundary

    def advance(self, token: int) -> LightState:
        t = common.as_int(token)
        if not (0 <= t < LIGHT_VOCAB_SIZE and self.allowed()[t]):
            raise ValueError(f"token {light_token_names([t])[0]} is not allowed here")
        if t == LIGHT_EOS:
            return LightState(self.size, _L_GROUP, True, self.groups + 1)
        if OFFSET0 <= t < OFFSET0 + MAX_LIGHT_STEP_TICKS:
            phase = _L_OFFSET
        elif LTYPE0 <= t < LTYPE0 + len(LIGHT_TYPES):
            phase = _L_TYPE
        elif LVALUE0 <= t <= LVALUE0 + MAX_LIGHT_VALUE:
            phase = _L_VALUE
        elif BRIGHT0 <= t < BRIGHT0 + len(_BRIGHT_TOKENS):
            phase = _L_BRIGHT
        else:  # a boost or a colour closes the event
            phase = _L_GROUP
        return LightState(self.size, phase, False, self.groups)


class LightGrammar:
    """The lighting grammar for one grid step: offsets are limited to the step."""

    def __init__(self, step: float = DEFAULT_LIGHT_STEP) -> None:
        self.size = step_ticks(step)

    def start(self) -> LightState:
        return LightState(self.size)

    def state_after(self, prefix: Iterable[int]) -> LightState:
        state = self.start()
        for t in common.after_bos(prefix, LIGHT_BOS):
            state = state.advance(t)
        return state

    def allowed_next(self, prefix: Iterable[int]) -> np.ndarray:
        return self.state_after(prefix).allowed()
