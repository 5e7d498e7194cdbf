"""Shared pieces of the training assets: code versions from config files, the frame index's data
version, warm starts, checkpoint versions and metadata helpers.

Run config (dg.Config) never enters a code version, so everything whose change must retrain a
stage lives in configs/<stage>.toml, whose canonical hash (parsed, then dumped) is part of that
stage's code version, together with TRAINING_CODE_VERSION (bump it when the loop changes).
"""

import base64
import hashlib
import json
import tomllib
from pathlib import Path

import dagster as dg
import polars as pl

from automapper_ml.atomic import copy_atomic as copy_atomic  # re-exported: callers import it from here
from automapper_ml.data.frame_index import index_version
from automapper_ml.data.rawzips import sha256_file

TRAINING_CODE_VERSION = "1"
CONFIG_DIR = Path(__file__).resolve().parents[3] / "configs"
FRAME_INDEX = ("features", "frame_index.parquet")


def config_hash(name: str) -> str:
    """Canonical hash of configs/<name>.toml: comments and layout never change it."""
    with open(CONFIG_DIR / f"{name}.toml", "rb") as f:
        data = tomllib.load(f)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def stage_code_version(stage: str, *extra: str) -> str:
    return "-".join([stage, config_hash(stage), f"train{TRAINING_CODE_VERSION}", *extra])


def frame_index_state(root: Path) -> tuple[Path, pl.DataFrame, str]:
    """The index path, its table and its data version (what the checkpoint records)."""
    path = root.joinpath(*FRAME_INDEX)
    if not path.exists():
        raise dg.Failure(f"{path} is missing: materialise frame_index first")
    index = pl.read_parquet(path)
    return path, index, index_version(index)


def file_version(path: Path | None) -> dg.DataVersion:
    """A checkpoint's data version: sha256 of its bytes (24 hex)."""
    if path is None or not path.exists():
        return dg.DataVersion("no-checkpoint")
    return dg.DataVersion(sha256_file(path)[:24])


def png_markdown(path: Path | None, title: str) -> dg.MetadataValue:
    """A PNG inlined into markdown metadata, so the Dagster UI shows it without a file server."""
    if path is None or not Path(path).exists():
        return dg.MetadataValue.md(f"*{title}: no plot*")
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{data})")


def warm_start_weights(stage_dir: Path, enabled: bool, log) -> dict | None:
    """Weights of the stage's champion (else its best) checkpoint when warm starting is asked for."""
    if not enabled:
        return None
    from automapper_ml.models.checkpoint import load_checkpoint

    for name in ("champion.pt", "best.pt"):
        path = stage_dir / name
        if path.exists():
            log(f"warm start from {path}")
            return load_checkpoint(path)["model"]
    log("warm start asked for, but no champion or best checkpoint exists: training from scratch")
    return None
