"""Where the feature stores live and which snapshot is each shard's current one.

<home>/features/stores/<store version>/ holds segments and snapshots (automapper_ml.data.store);
heads/ and quarantine/ name each shard's current snapshot and its maps without a record
(automapper_ml.data.store_heads).
A version bump (AUDIO_FEATURES_VERSION, TOKENIZER_VERSION, the hop) opens a new store folder,
so a training run reading the old one is never disturbed.
"""

from __future__ import annotations

from pathlib import Path

from automapper_assets.defs.ingest.config import ingest_config
from automapper_assets.defs.ingest.raw import scan
from automapper_assets.defs.resources import AutomapperPaths
from automapper_ml.data.features import MapZip, audio_store_version, token_store_version
from automapper_ml.data.rawzips import shard_of

KEYS_VERSION = "2"  # part of the sharded assets' code versions; 2: a map's key is its exact zip name


def audio_store(paths: AutomapperPaths) -> Path:
    return paths.folder("features", "stores", audio_store_version())


def token_store(paths: AutomapperPaths) -> Path:
    return paths.folder("features", "stores", token_store_version())


def shard_entries(paths: AutomapperPaths, shard: str) -> list[MapZip]:
    """The readable zips of one shard, now, keyed by their exact file name (`x.zip` != `x.ZIP`)."""
    count = ingest_config().shard_count
    return [
        MapZip.of(e, paths.raw) for e in scan(paths) if not e.problem and shard_of(e.name, count) == shard
    ]
