"""JSON decoding and value checks shared by the map readers.

Every number a reader takes from a map goes through `ObjectReader`, so a NaN, an infinity,
a string where a number belongs, or an absurd magnitude becomes one `InvalidValueError`
that names the file, the array and the index (`ExpertPlus.dat: _notes[12]._time is NaN`).
Missing keys take the defaults the game uses. Positions are deliberately NOT range-checked:
Mapping Extensions puts notes at x >= 1000 and Noodle maps go far off the grid; both are kept.
"""

from __future__ import annotations

import json
import math
from typing import Any

from automapper_ml.formats.errors import InvalidValueError, MapFormatError
from automapper_ml.limits import (
    MAX_ABS_BEAT,
    MAX_ABS_FLOAT,
    MAX_ABS_INT,
    MAX_BPM,
    MAX_DURATION,
    MAX_INT_DIGITS,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_OBJECTS_PER_DIFFICULTY,
    MIB,
    MIN_BPM,
)

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _IntTooLong(ValueError):
    """Internal: an integer literal past MAX_INT_DIGITS (raised inside json.loads, re-raised with the file)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _IntTooLong(f"an integer literal of {len(text.lstrip('-'))} digits")
    return int(text)


def load_json(data: bytes, filename: str) -> Any:
    """Decode map JSON: UTF-8 with or without a BOM (UTF-16 with a BOM also works).

    Trailing whitespace and NUL padding (some editors pad files) are dropped; any other
    trailing text or invalid UTF-8 is `MapFormatError(code="bad_json")`. Bounds (automapper_ml.limits):
    more than MAX_JSON_BYTES is `code="too_large"` (checked before decoding), an integer literal
    of more than MAX_INT_DIGITS digits (it would not fit a float) is `InvalidValueError`, nesting
    deeper than MAX_JSON_DEPTH is `code="too_deep"`. NaN/Infinity literals parse to floats here
    and are rejected by `ObjectReader` (or `check_finite_tree`) with their location.
    """
    if len(data) > MAX_JSON_BYTES:
        raise MapFormatError(
            f"{filename}: {len(data) / MIB:.1f} MiB of JSON, over the {MAX_JSON_BYTES / MIB:.0f} MiB cap",
            code="too_large",
        )
    try:
        if data[:2] in _UTF16_BOMS:
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MapFormatError(f"{filename}: not valid UTF-8 text ({exc.reason})", code="bad_json") from exc
    text = text.strip(" \t\r\n\x00")
    if not text:
        raise MapFormatError(f"{filename}: the file is empty", code="bad_json")
    try:
        value = json.loads(text, parse_int=_parse_int)
    except _IntTooLong as exc:
        raise InvalidValueError(f"{filename}: {exc}, too large for a number") from None
    except json.JSONDecodeError as exc:
        raise MapFormatError(
            f"{filename}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", code="bad_json"
        ) from exc
    except RecursionError as exc:
        raise MapFormatError(
            f"{filename}: JSON nested deeper than {MAX_JSON_DEPTH} levels", code="too_deep"
        ) from exc
    except ValueError as exc:  # e.g. a number Python refuses to parse
        raise MapFormatError(f"{filename}: invalid JSON ({type(exc).__name__})", code="bad_json") from exc
    if json_depth_exceeds(value, MAX_JSON_DEPTH):
        raise MapFormatError(f"{filename}: JSON nested deeper than {MAX_JSON_DEPTH} levels", code="too_deep")
    return value


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """True when containers nest more than `limit` deep (`[]` is 1 deep, `[{}]` 2). Iterative:
    the walk holds one iterator per level, never one entry per element."""
    if not isinstance(value, dict | list):
        return False
    if limit < 1:
        return True
    stack = [iter(value.values() if isinstance(value, dict) else value)]
    while stack:
        for child in stack[-1]:
            if isinstance(child, dict | list):
                if len(stack) >= limit:
                    return True
                if child:
                    stack.append(iter(child.values() if isinstance(child, dict) else child))
                    break
        else:
            stack.pop()
    return False


def count_objects(holder: dict[str, Any], keys: tuple[str, ...]) -> int:
    """How many elements the arrays `holder[key]` hold together (anything not an array counts 0)."""
    return sum(len(v) for k in keys if isinstance(v := holder.get(k), list))


def check_object_count(
    filename: str, *arrays: tuple[dict[str, Any], tuple[str, ...]], extra: int = 0
) -> None:
    """Refuse a difficulty file holding more than MAX_OBJECTS_PER_DIFFICULTY objects, counted from the
    JSON before any object is built: the elements of the arrays `holder[key]` of every (holder, keys)
    in `arrays` (`count_objects`), plus `extra` counted elsewhere."""
    count = sum(count_objects(holder, keys) for holder, keys in arrays) + extra
    if count > MAX_OBJECTS_PER_DIFFICULTY:
        raise InvalidValueError(
            f"{filename}: {count} objects, more than the {MAX_OBJECTS_PER_DIFFICULTY} a difficulty may hold",
            code="too_many_objects",
        )


def load_json_object(data: bytes, filename: str) -> dict[str, Any]:
    """`load_json`, requiring a JSON object at the top level."""
    value = load_json(data, filename)
    if not isinstance(value, dict):
        raise MapFormatError(
            f"{filename}: expected a JSON object at the top level, got {_type_name(value)}", code="bad_json"
        )
    return value


def get_array(data: dict[str, Any], key: str, filename: str) -> list[Any]:
    """`data[key]` as a list; missing or null is empty; anything else is an InvalidValueError."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidValueError(f"{filename}: {key} must be an array, got {_type_name(value)}")
    return value


def custom_data(obj: dict[str, Any], key: str = "customData") -> dict[str, Any]:
    """An object's customData (or `_customData`) when it is a dict, else {}: bad customData is never fatal."""
    value = obj.get(key)
    return value if isinstance(value, dict) else {}


def iter_objects(items: list[Any], filename: str, array: str):
    """Yield (index, ObjectReader) for each element, rejecting elements that are not JSON objects."""
    for i, obj in enumerate(items):
        if not isinstance(obj, dict):
            raise InvalidValueError(f"{filename}: {array}[{i}] must be an object, got {_type_name(obj)}")
        yield i, ObjectReader(obj, filename, array, i)


class ObjectReader:
    """Typed, checked access to one JSON object inside a map file."""

    __slots__ = ("obj", "filename", "array", "index")

    def __init__(self, obj: dict[str, Any], filename: str, array: str, index: int | None = None) -> None:
        self.obj = obj
        self.filename = filename
        self.array = array
        self.index = index

    def _where(self, key: str) -> str:
        at = f"{self.array}[{self.index}]" if self.index is not None else self.array
        return f"{self.filename}: {at}.{key}" if at else f"{self.filename}: {key}"

    def _number(self, key: str, default: float) -> float:
        value = self.obj.get(key)
        if value is None:
            return default
        # bool is an int in Python; JSON true/false where a number belongs is read as 1/0 like the game does.
        if not isinstance(value, (int, float)):
            raise InvalidValueError(
                f"{self._where(key)} must be a number, got {_type_name(value)} {_short(value)}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValueError(f"{self._where(key)} is {value!r} (must be a finite number)")
        return value

    def _within(self, key: str, default: float, limit: float, problem: str) -> float:
        """The number at `key` as a float; beyond +-`limit` an InvalidValueError saying `problem`."""
        value = float(self._number(key, default))
        if abs(value) > limit:
            raise InvalidValueError(f"{self._where(key)} = {value:g} {problem.format(limit=limit)}")
        return value

    def beat(self, key: str, default: float = 0.0) -> float:
        """A time in beats: finite, |beat| <= MAX_ABS_BEAT, kept exactly as written."""
        return self._within(key, default, MAX_ABS_BEAT, "is not a plausible beat (|beat| > {limit:g})")

    def duration(self, key: str, default: float = 0.0) -> float:
        return self._within(key, default, MAX_DURATION, "is not a plausible duration (> {limit:g} beats)")

    def number(self, key: str, default: float = 0.0, limit: float = MAX_ABS_FLOAT) -> float:
        return self._within(key, default, limit, "is out of range (|value| > {limit:g})")

    def integer(self, key: str, default: int = 0) -> int:
        value = self._number(key, default)
        if abs(value) > MAX_ABS_INT:
            raise InvalidValueError(
                f"{self._where(key)} = {_short(value)} is out of range (|value| > {MAX_ABS_INT:g})"
            )
        return int(value)

    def bpm(self, key: str, default: float = 0.0, *, zero_skips: bool = False) -> float:
        """A tempo in [MIN_BPM, MAX_BPM]. With `zero_skips` (BPM changes) 0 or less is returned as
        is: `Timing` skips such a change and the tempo before it holds."""
        value = self.number(key, default, limit=MAX_BPM)
        if zero_skips and value <= 0:
            return value
        if not MIN_BPM <= value <= MAX_BPM:
            raise InvalidValueError(
                f"{self._where(key)} = {value:g} BPM is not a playable tempo ({MIN_BPM:g}..{MAX_BPM:g})"
            )
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.obj.get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and math.isfinite(value):
            return value != 0
        raise InvalidValueError(
            f"{self._where(key)} must be true/false, got {_type_name(value)} {_short(value)}"
        )

    def text(self, key: str, default: str = "") -> str:
        value = self.obj.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # a numeric song name is still a name
        raise InvalidValueError(
            f"{self._where(key)} must be a string, got {_type_name(value)} {_short(value)}"
        )


def chroma_color(value: Any) -> tuple[float, ...] | None:
    """A Chroma colour [r, g, b] or [r, g, b, a] of finite numbers; anything else is ignored (None)."""
    if not isinstance(value, list) or len(value) not in (3, 4):
        return None
    if not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) for c in value):
        return None
    return tuple(float(c) for c in value)


def chroma_fields(custom: dict[str, Any], *prefixes: str) -> dict[str, Any]:
    """A basic event's Chroma colour and lightID as the LightEvent fields `color` and `light_id`, read
    from its customData under the first of `prefix + "color"` (`prefix + "lightID"`) that is there
    (v2 files write `_color`, v3 files `color`); bad values are ignored (None)."""

    def first(key: str) -> Any:
        for prefix in prefixes:
            if prefix + key in custom:
                return custom[prefix + key]
        return None

    return {"color": chroma_color(first("color")), "light_id": chroma_light_id(first("lightID"))}


def chroma_light_id(value: Any) -> tuple[int, ...] | None:
    """A Chroma lightID: one int or a list of ints; anything else is ignored (None)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = [value]
    if not isinstance(value, list) or not value:
        return None
    out = []
    for v in value:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or abs(v) > MAX_ABS_INT
        ):
            return None
        out.append(int(v))
    return tuple(out)


def check_finite_tree(value: Any, where: str, _depth: int = 0) -> None:
    """Reject NaN/infinity anywhere inside data passed through verbatim (it would poison a writer)."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError(f"{where} contains {value!r} (must be a finite number)")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_finite_tree(v, f"{where}.{k}", _depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list, float)):
                check_finite_tree(v, f"{where}[{i}]", _depth + 1)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
