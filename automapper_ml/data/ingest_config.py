"""configs/ingest.toml -> frozen dataclasses, plus the canonical hash used in code versions.

Modules never read config files themselves: the Dagster layer calls `load_ingest_config` once
and passes the dataclasses down. A missing file means the defaults below (the same values as
the shipped configs/ingest.toml).
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

CATEGORIES = ("vanilla", "chroma", "noodle", "mapping_extensions", "vivify")


@dataclass(frozen=True, slots=True)
class BlacklistRules:
    """Thresholds of `outlier_blacklist` (see automapper_ml/data/blacklist.py for each rule)."""

    min_song_seconds: float = 15.0  # decoded audio shorter than this excludes the map
    min_peak_dbfs: float = -40.0  # silent_audio: the loudest 0.5 s window (RMS, dBFS) is quieter than this
    max_silent_share: float = 0.5  # silent_audio: more than this share of 0.5 s windows under -60 dBFS
    min_notes: int = 20  # fewer colour notes excludes the difficulty
    max_notes_per_minute: float = 2000.0  # notes / duration in minutes above this excludes the difficulty
    max_wall_share: float = 0.9  # walls / all objects above this excludes the difficulty
    require_standard_expert: bool = True  # no Standard Expert/ExpertPlus excludes the map
    excluded_categories: tuple[str, ...] = ("noodle", "mapping_extensions", "vivify")
    exclude_ai: bool = True  # declaredAi != "None" or automapper excludes the map


@dataclass(frozen=True, slots=True)
class WeightRules:
    """Factors of `sample_weights` (see automapper_ml/data/weights.py)."""

    ranked_factor: float = 3.0  # multiplier for ranked maps (ScoreSaber or BeatLeader)
    arc_chain_factor: float = 1.5  # multiplier for maps with any arc or chain in a trainable difficulty
    normalise_per_song: bool = True  # divide by the number of kept maps of the same song


@dataclass(frozen=True, slots=True)
class SplitRules:
    """A fixed, named held-out set on top of `frame_index`'s hash split."""

    test_zips: tuple[str, ...] = ()  # zip names whose songs (every map of them) always land in "test"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    shard_count: int = 16  # hash shards of raw/ (1..64)
    workers: int = 0  # parse processes for new zips; 0 = os.cpu_count()
    blacklist: BlacklistRules = field(default_factory=BlacklistRules)
    weights: WeightRules = field(default_factory=WeightRules)
    split: SplitRules = field(default_factory=SplitRules)


def canonical_hash(value: Any) -> str:
    """sha256 (first 16 hex) of `value` dumped as sorted, compact JSON: formatting and comments never count."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build(cls: type, section: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    values = dict(section)
    if "excluded_categories" in values:
        cats = tuple(str(c) for c in values["excluded_categories"])
        bad = sorted(set(cats) - set(CATEGORIES))
        if bad:
            raise ValueError(f"{where}: unknown categories {bad}; known: {list(CATEGORIES)}")
        values["excluded_categories"] = cats
    if "test_zips" in values:
        values["test_zips"] = tuple(sorted(str(z) for z in values["test_zips"]))
    return cls(**values)


def parse_ingest_config(data: dict[str, Any], where: str = "ingest config") -> IngestConfig:
    """Validated config from parsed TOML; ValueError with a one-line reason on unknown keys or values."""
    shards = data.get("shards", {})
    manifest = data.get("manifest", {})
    cfg = IngestConfig(
        shard_count=int(shards.get("count", 16)),
        workers=int(manifest.get("workers", 0)),
        blacklist=_build(BlacklistRules, data.get("blacklist", {}), f"{where} [blacklist]"),
        weights=_build(WeightRules, data.get("weights", {}), f"{where} [weights]"),
        split=_build(SplitRules, data.get("split", {}), f"{where} [split]"),
    )
    if not 1 <= cfg.shard_count <= 64:
        raise ValueError(f"{where} [shards]: count must be 1..64, got {cfg.shard_count}")
    return cfg


def load_ingest_config(path: Path) -> IngestConfig:
    """The config at `path`, or the defaults when the file does not exist."""
    if not path.is_file():
        return IngestConfig()
    with open(path, "rb") as f:
        return parse_ingest_config(tomllib.load(f), str(path))


def section_hash(section: BlacklistRules | WeightRules | SplitRules) -> str:
    """Canonical hash of one parsed section: what enters the asset's code version."""
    return canonical_hash(asdict(section))
