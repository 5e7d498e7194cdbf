"""Which BeatSaver maps are worth training on, and which mod category each belongs to.

Everything here reads one BeatSaver map record (a dict shaped as in spec/beatsaver_api.md)
and never touches the network, so the CLI, the Dagster catalogue and the tests share it.

Category (for quotas), decided from the per-difficulty flags of the map's current version
(versions[0].diffs), first match wins:
  vivify             any diff has `vivify: true` (newer API field; absent means false)
  noodle             any diff has `ne: true` (Noodle Extensions)
  mapping_extensions any diff has `me: true`
  chroma             any diff has `chroma: true`
  vanilla            otherwise (`cinema` only adds a video, so it stays vanilla)
Noodle and ME come before Chroma because a Noodle map nearly always also uses Chroma,
and the geometry mods change the notes themselves, which is what the quota is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

CATEGORIES = ("vanilla", "chroma", "noodle", "mapping_extensions", "vivify")
CATEGORY_ALIASES = {"ne": "noodle", "me": "mapping_extensions", "noodle_extensions": "noodle"}
# Only the difficulties we train on are held to the NPS cap (a lesson from the seed client:
# capping Easy..Hard as well threw away good maps for no reason).
NPS_CAPPED = frozenset({("Standard", "Expert"), ("Standard", "ExpertPlus")})
# Map keys become file names in raw/: anything else is refused rather than sanitised.
KEY_RE = re.compile(r"^[0-9A-Za-z]{1,16}$")
HASH_RE = re.compile(r"^[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class FilterOptions:
    min_rating: float | None = 0.8  # stats.score (0..1) must be >= this; None disables
    min_year: int | None = 2022  # uploaded year must be >= this (v3 arcs/chains era); None disables
    max_nps: float | None = None  # cap on Standard Expert/ExpertPlus nps; None disables
    include_ai: bool = False  # keep maps flagged `automapper` or with declaredAi != "None"


def parse_quotas(specs: list[str] | None) -> dict[str, int]:
    """Parse ["vanilla:10000", "chroma:2000"] into {"vanilla": 10000, "chroma": 2000}.

    Raises ValueError with a one-line reason on a bad spec (unknown category, bad count, repeat)."""
    quotas: dict[str, int] = {}
    for spec in specs or []:
        name, sep, count = spec.partition(":")
        name = CATEGORY_ALIASES.get(name.strip().lower(), name.strip().lower())
        if not sep or name not in CATEGORIES:
            raise ValueError(
                f"bad quota {spec!r}: expected CATEGORY:COUNT with CATEGORY in {', '.join(CATEGORIES)}"
            )
        try:
            value = int(count)
        except ValueError:
            raise ValueError(f"bad quota {spec!r}: {count!r} is not a whole number") from None
        if value < 0:
            raise ValueError(f"bad quota {spec!r}: the count must be >= 0")
        if name in quotas:
            raise ValueError(f"quota for {name!r} given twice")
        quotas[name] = value
    return quotas


def current_version(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """versions[0], the version BeatSaver serves as the map (the sidecar contract uses it too)."""
    versions = record.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], Mapping):
        return versions[0]
    return None


def _diffs(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    version = current_version(record)
    diffs = version.get("diffs") if version else None
    return [d for d in diffs if isinstance(d, Mapping)] if isinstance(diffs, list) else []


def map_category(record: Mapping[str, Any]) -> str:
    """One of CATEGORIES, from the per-difficulty mod flags (see the module docstring)."""
    diffs = _diffs(record)
    for flag, category in (
        ("vivify", "vivify"),
        ("ne", "noodle"),
        ("me", "mapping_extensions"),
        ("chroma", "chroma"),
    ):
        if any(d.get(flag) is True for d in diffs):
            return category
    return "vanilla"


def map_rating(record: Mapping[str, Any]) -> float | None:
    stats = record.get("stats")
    score = stats.get("score") if isinstance(stats, Mapping) else None
    return float(score) if isinstance(score, int | float) and not isinstance(score, bool) else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp such as "2023-05-01T12:34:56.789Z", or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def map_uploaded(record: Mapping[str, Any]) -> datetime | None:
    """When the map went public: `uploaded`, else `lastPublishedAt`, else `createdAt`."""
    for field in ("uploaded", "lastPublishedAt", "createdAt"):
        when = parse_time(record.get(field))
        if when is not None:
            return when
    return None


def is_ai(record: Mapping[str, Any]) -> bool:
    """Flagged as generated: `automapper: true`, or `declaredAi` other than the string "None"."""
    declared = record.get("declaredAi", "None")
    return record.get("automapper") is True or (declared is not None and str(declared) != "None")


def version_hash(record: Mapping[str, Any]) -> str | None:
    """The lower-case sha1 of the current version's zip, or None when missing or malformed."""
    version = current_version(record)
    value = version.get("hash") if version else None
    return value.lower() if isinstance(value, str) and HASH_RE.match(value) else None


def download_url(record: Mapping[str, Any]) -> str | None:
    version = current_version(record)
    url = version.get("downloadURL") if version else None
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


def ineligibility(record: Mapping[str, Any], options: FilterOptions) -> str | None:
    """Why this record is not wanted (a short reason key), or None when it is eligible."""
    key = record.get("id")
    if not isinstance(key, str) or not KEY_RE.match(key):
        return "bad_id"
    if current_version(record) is None or version_hash(record) is None:
        return "no_version"
    if download_url(record) is None:
        return "no_download_url"
    diffs = _diffs(record)
    if not any(d.get("characteristic") == "Standard" for d in diffs):
        return "no_standard"
    if not options.include_ai and is_ai(record):
        return "ai"
    if options.min_rating is not None:
        rating = map_rating(record)
        if rating is None or rating < options.min_rating:
            return "low_rating"
    if options.min_year is not None:
        uploaded = map_uploaded(record)
        if uploaded is None:
            return "no_date"
        if uploaded.year < options.min_year:
            return "too_old"
    if options.max_nps is not None:
        for d in diffs:
            nps = d.get("nps")
            capped = (d.get("characteristic"), d.get("difficulty")) in NPS_CAPPED
            if capped and isinstance(nps, int | float) and nps > options.max_nps:
                return "over_nps"
    return None
