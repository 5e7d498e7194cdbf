"""Keeping one map's trouble to that map: safe text for the tables and one-line failure reasons.

Every per-map step of the ingest and features groups (parse, sidecar, manifest rows, feature
shards) catches any `Exception` of one map (MemoryError included: it is an Exception, and one
song too big to decode is that song's problem) and records `one_line_reason(exc)`; only
KeyboardInterrupt and SystemExit (BaseException) stop a run.

Text from files reaches parquet only through `safe_text`: polars (UTF-8 everywhere) refuses a
lone surrogate such as the JSON escape "\\ud800", and one such title used to fail the whole
manifest. Unencodable characters become their backslash escapes, so the result is deterministic
and says what was there. File names that are not UTF-8 on disk (os.listdir gives them as
surrogate escapes) get the same treatment through `safe_name`: raw byte 0xE9 reads "\\xe9".
"""

from __future__ import annotations

import os
import re
from typing import Any

from automapper_ml.limits import MAX_REASON_CHARS, MAX_TEXT_CHARS

ELLIPSIS = "…"
_ADDRESS = re.compile(
    r" (object )?at 0x[0-9a-fA-F]+"
)  # "<_io.BytesIO object at 0x7f...>": not the same twice


def safe_text(text: str, limit: int | None = MAX_TEXT_CHARS) -> str:
    """`text` as valid UTF-8 (lone surrogates -> "\\udXXX"), cut to `limit` characters with a trailing "…"."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if limit is None or len(text) <= limit else text[: limit - 1] + ELLIPSIS


def safe_value(value: Any) -> Any:
    """`safe_text` applied to a string or to every string of a list; anything else unchanged."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        return [safe_text(v) if isinstance(v, str) else v for v in value]
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    """A table row with every string value (and every string in a list value) made safe."""
    return {k: safe_value(v) for k, v in row.items()}


def safe_name(fs_name: str) -> str:
    """The key of a file name as os.listdir gives it: its bytes read as UTF-8, bad bytes as "\\xNN"."""
    return safe_text(os.fsencode(fs_name).decode("utf-8", "backslashreplace"), limit=None)  # never cut: a key


def is_utf8_name(fs_name: str) -> bool:
    return safe_name(fs_name) == fs_name


def reason_text(text: str) -> str:
    """A reason as the tables keep it: its first line, object addresses dropped (so the same failure
    reads the same every run), safe, at most MAX_REASON_CHARS."""
    lines = text.strip().splitlines()
    return safe_text(_ADDRESS.sub("", lines[0]) if lines else "", MAX_REASON_CHARS)


def one_line_reason(exc: BaseException, where: str = "") -> str:
    """`<Type>: <first line of the message>`, prefixed by `where`, as `reason_text` keeps it."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return reason_text(f"{where}: {text}" if where else text)
