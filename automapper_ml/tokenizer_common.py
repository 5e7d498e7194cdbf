"""What the note tokenizer (`tokenizer`) and the lighting tokenizer (`tokenizer_lights`) share.

Snapping a value to the nearest of a sorted table, a beat to its grid tick (or why it cannot be),
reading a token id from anything, token names, flattening groups behind BOS, skipping the leading
BOS of a grammar prefix, and splitting objects into quantised records and the ones lost. Both
tokenizers pass their own constants (ticks per beat, last beat, vocabulary, BOS), so neither
depends on the other's.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

NOT_A_BEAT = "before beat 0 or not a number"
UNREPRESENTABLE = "unrepresentable"


def nearest(values: Sequence[float], x: float) -> int:
    """Index of the value nearest to x in a sorted sequence (ties go to the lower one)."""
    i = bisect_left(values, x)
    if i == 0:
        return 0
    if i == len(values):
        return len(values) - 1
    return i if values[i] - x < x - values[i - 1] else i - 1


def tick_or_reason(beat: float, ticks_per_beat: int, max_beat: float) -> tuple[int, str | None]:
    """(nearest grid tick, None) for a beat in 0..max_beat (half a tick rounds up), else (0, why)."""
    if not math.isfinite(beat) or beat < -0.5 / ticks_per_beat:
        return 0, NOT_A_BEAT
    if beat > max_beat:
        return 0, f"after beat {max_beat}"
    return math.floor(beat * ticks_per_beat + 0.5), None


def as_int(t: object) -> int:
    """A token id, or -1 for anything that is not a whole number (3.5, "x", None, inf)."""
    if type(t) is int:
        return t
    try:
        f = float(t)  # type: ignore[arg-type]
        return int(f) if f.is_integer() and f == int(t) else -1  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return -1


def names_of(vocab: Sequence[str], tokens: Iterable[int]) -> list[str]:
    """Readable names; ids outside the vocabulary read as `?<id>`."""
    return [vocab[t] if 0 <= t < len(vocab) else f"?{t}" for t in tokens]


def flatten_groups(groups: Iterable[Any], bos: int) -> list[int]:
    """`bos` followed by every group's `tokens`: a flat sequence."""
    out = [bos]
    for g in groups:
        out += g.tokens
    return out


def after_bos(prefix: Iterable[int], bos: int) -> Iterator[int]:
    """A grammar prefix without its leading BOS tokens (the tokens themselves, unconverted)."""
    leading = True
    for t in prefix:
        if leading and as_int(t) == bos:
            continue
        leading = False
        yield t


def representable(
    objects: Iterable[Any], quantize: Callable[[Any], tuple[Any, str | None]], lost: list[tuple[object, str]]
) -> Iterator[tuple[Any, Any]]:
    """(object, record) for each object `quantize` represents, in order; each other one is appended to
    `lost` as (object, reason) as the walk passes it."""
    for obj in objects:
        rec, why = quantize(obj)
        if rec is None:
            lost.append((obj, why or UNREPRESENTABLE))
        else:
            yield obj, rec
