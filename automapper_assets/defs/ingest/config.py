"""configs/ingest.toml, loaded once per code-location load, and the code versions derived from it.

A config edit changes the canonical hash of its section, hence the asset's code version, hence
makes exactly that asset (and what is downstream of it) unsynced in Dagster.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from automapper_ml.data.audit import AUDIT_CODE_VERSION
from automapper_ml.data.blacklist import RULES_VERSION
from automapper_ml.data.ingest_config import IngestConfig, canonical_hash, load_ingest_config, section_hash
from automapper_ml.data.manifest import MANIFEST_CODE_VERSION
from automapper_ml.data.weights import WEIGHTS_CODE_VERSION

CONFIG_PATH = Path(__file__).resolve().parents[3] / "configs" / "ingest.toml"


@cache
def ingest_config() -> IngestConfig:
    return load_ingest_config(CONFIG_PATH)


def manifest_code_version() -> str:
    return f"manifest-{MANIFEST_CODE_VERSION}"


def blacklist_code_version() -> str:
    return f"rules-{RULES_VERSION}-{section_hash(ingest_config().blacklist)}"


def audit_code_version() -> str:
    return f"audit-{AUDIT_CODE_VERSION}"


def weights_code_version() -> str:
    return f"weights-{WEIGHTS_CODE_VERSION}-{section_hash(ingest_config().weights)}"


def silence_code_version() -> str:
    """The silent_audio thresholds: what `audio_features`' screen skips (its code version holds it)."""
    rules = ingest_config().blacklist
    return canonical_hash([rules.min_peak_dbfs, rules.max_silent_share])


def split_code_version() -> str:
    """The fixed held-out set's part of `frame_index`'s code version."""
    return section_hash(ingest_config().split)


def bytes_version(*chunks: bytes) -> str:
    """A DataVersion string for what an asset wrote: sha256 (24 hex) over the written bytes."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big"))
        h.update(chunk)
    return h.hexdigest()[:24]
