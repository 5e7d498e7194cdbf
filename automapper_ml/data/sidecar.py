"""Sidecar metadata: `<zip stem>.json` beside a zip holds its BeatSaver map record.

Shape: ../shared/spec/beatsaver_api.md. A missing, oversized or malformed sidecar (or any field
of the wrong type) means "no metadata" for that field, never an error: the zip is the data, the
record is a hint. Strings are made safe for parquet (`quarantine.safe_text`: a lone surrogate
"\\ud800" is kept as its escape), and a number too big for a float (a 401-digit `stats.score`)
is no number. Field rules:
- ss_ranked = `ranked`, bl_ranked = `blRanked`; ranked = ss_ranked OR bl_ranked (null if both absent);
- qualified = `qualified` OR `blQualified`;
- rating = `stats.score` (0..1); upvotes/downvotes = `stats.upvotes` / `stats.downvotes`;
- declared_ai = `declaredAi` ("None" is the human value); automapper = `automapper`;
  ai = (declared_ai present and != "None") OR automapper is true (null if both absent).
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from automapper_ml.data.quarantine import safe_text
from automapper_ml.data.rawzips import SIDECAR_MAX_BYTES

META_KEYS = (
    "ranked",
    "ss_ranked",
    "bl_ranked",
    "qualified",
    "rating",
    "upvotes",
    "downvotes",
    "declared_ai",
    "automapper",
    "ai",
    "uploaded",
    "tags",
)


def _bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _int(v: Any) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**62 else None


def _float(v: Any) -> float | None:
    if not isinstance(v, int | float) or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except OverflowError:  # an integer past ~1.8e308
        return None
    return f if math.isfinite(f) else None


def _str(v: Any, limit: int = 200) -> str | None:
    return safe_text(v, limit) if isinstance(v, str) else None


def _either(a: bool | None, b: bool | None) -> bool | None:
    if a is None and b is None:
        return None
    return bool(a) or bool(b)


def parse_record(record: Any) -> dict[str, Any]:
    """META_KEYS (+ "map_id") from one BeatSaver map record; every field None when absent or mistyped."""
    out: dict[str, Any] = dict.fromkeys(META_KEYS)
    out["map_id"] = None
    if not isinstance(record, dict):
        return out
    stats = record.get("stats") if isinstance(record.get("stats"), dict) else {}
    out["map_id"] = _str(record.get("id"), 64) or None
    out["ss_ranked"] = _bool(record.get("ranked"))
    out["bl_ranked"] = _bool(record.get("blRanked"))
    out["ranked"] = _either(out["ss_ranked"], out["bl_ranked"])
    out["qualified"] = _either(_bool(record.get("qualified")), _bool(record.get("blQualified")))
    out["rating"] = _float(stats.get("score"))
    out["upvotes"] = _int(stats.get("upvotes"))
    out["downvotes"] = _int(stats.get("downvotes"))
    out["declared_ai"] = _str(record.get("declaredAi"), 64)
    out["automapper"] = _bool(record.get("automapper"))
    declared = None if out["declared_ai"] is None else out["declared_ai"] != "None"
    out["ai"] = _either(declared, out["automapper"])
    out["uploaded"] = _str(record.get("uploaded"), 64)
    tags = record.get("tags")
    out["tags"] = (
        [safe_text(t, 64) for t in tags if isinstance(t, str)][:64] if isinstance(tags, list) else None
    )
    return out


def read_sidecar(path: Path) -> dict[str, Any]:
    """`parse_record` of the JSON at `path`; all None when it is missing, too big, not a file, not
    JSON or anything else about it fails (the record is a hint: it never costs the map)."""
    try:
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_size > SIDECAR_MAX_BYTES:
            return parse_record(None)
        return parse_record(json.loads(path.read_bytes()))
    except Exception:
        return parse_record(None)
