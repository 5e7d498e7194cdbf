"""Write the shipped models: strip trained checkpoints to what the loaders read, and write their card.

    package(home, raw_dir, ablation=path)  # <home>/models/<stage>/best.pt -> automapper_ml/pretrained/
    write_card(card, figures)              # card.json + MODEL_CARD.md

The card pins what the models were made from, so tests/ml/test_pretrained.py can tell when the code
has moved on without them: TOKENIZER_VERSION, AUDIO_FEATURES_VERSION, each stage's preset (a hash
of its resolved config dataclasses), the config schema (the model config's field names), and the
sha256 of every shipped file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

import torch

from automapper_ml.atomic import write_atomic
from automapper_ml.audio import AUDIO_FEATURES_VERSION
from automapper_ml.data.ingest_config import canonical_hash
from automapper_ml.data.rawzips import sha256_file
from automapper_ml.models.checkpoint import load_checkpoint
from automapper_ml.pretrained import ABLATION_FILE, CARD_FILE, PRETRAINED_DIR
from automapper_ml.tokenizer import TOKENIZER_VERSION
from automapper_ml.training.loop import save_checkpoint
from automapper_ml.training.profiles import STAGES, load_profile

PROFILE = "cpu"  # the profile the shipped models are trained with
KEEP = ("stage", "model", "model_config", "train_config", "best_epoch", "history", "extra_state")
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"


def stage_settings(stage: str, preset: str) -> Any:
    """The resolved config dataclasses a stage trains with under `preset` (what the card hashes)."""
    if stage == "onset":
        from automapper_ml.training.presets import load_preset

        return load_preset(preset)
    if stage == "sequence":
        from automapper_ml.training.sequence import load_sequence_preset

        return load_sequence_preset(preset)
    from automapper_ml.training.lighting import load_lighting_preset

    return load_lighting_preset(preset)


def settings_hash(settings: Any) -> str:
    """Canonical hash of resolved settings (dataclasses, or tuples of them)."""

    def plain(x: Any) -> Any:
        if is_dataclass(x):
            return plain(asdict(x))
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        return x

    return canonical_hash(plain(settings))


def model_config_class(stage: str) -> type:
    if stage == "onset":
        from automapper_ml.models.onset import OnsetConfig

        return OnsetConfig
    if stage == "sequence":
        from automapper_ml.models.sequence import SequenceConfig

        return SequenceConfig
    from automapper_ml.models.lighting import LightingConfig

    return LightingConfig


def expected_versions(profile: str = PROFILE) -> dict[str, Any]:
    """What the code expects of shipped models now (compare with the card's `versions`)."""
    prof = load_profile(profile)
    return {
        "tokenizer_version": TOKENIZER_VERSION,
        "audio_features_version": AUDIO_FEATURES_VERSION,
        "profile": profile,
        "presets": {s: prof.preset(s) for s in STAGES},
        "settings_hash": {s: settings_hash(stage_settings(s, prof.preset(s))) for s in STAGES},
        "config_fields": {s: sorted(f.name for f in fields(model_config_class(s))) for s in STAGES},
    }


def strip_checkpoint(src: Path, dst: Path, extra: dict[str, Any] | None = None) -> Path:
    """Copy a training checkpoint with only what the loaders read (no optimizer or RNG state), the
    weights as float32, loaded and saved weights_only; written atomically."""
    state = load_checkpoint(src)
    out = {k: state[k] for k in KEEP if k in state}
    out["model"] = {k: v.detach().to(torch.float32) if v.is_floating_point() else v
                    for k, v in state["model"].items()}  # fmt: skip
    if extra:
        out["extra_state"] = {**dict(out.get("extra_state") or {}), **extra}
    save_checkpoint(dst, out)  # temp file beside it, then rename
    return dst


def corpus_listing(raw_dir: Path) -> list[dict[str, str]]:
    """(zip name, sha256) of every zip in the training folder, sorted by name."""
    zips = sorted(p for p in Path(raw_dir).iterdir() if p.suffix.lower() == ".zip")
    return [{"zip": p.name, "sha256": sha256_file(p)} for p in zips]


def package(
    checkpoints: dict[str, Path],
    ablation: Path | None,
    raw_dir: Path,
    out_dir: Path = PRETRAINED_DIR,
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Strip the three stage checkpoints (and the audio-zeroed stage 2) into `out_dir`; returns the card
    (without figures) describing them. `extra`: stage -> entries merged into that checkpoint's extra_state."""
    card: dict[str, Any] = {
        **expected_versions(),
        "corpus": {"folder": str(raw_dir), "zips": corpus_listing(raw_dir)},
    }
    files: dict[str, str] = {}
    for stage in STAGES:
        dst = strip_checkpoint(checkpoints[stage], out_dir / stage / "best.pt", (extra or {}).get(stage))
        files[f"{stage}/best.pt"] = sha256_file(dst)
    if ablation is not None:
        dst = strip_checkpoint(ablation, out_dir / ABLATION_FILE.relative_to(PRETRAINED_DIR))
        files[str(ABLATION_FILE.relative_to(PRETRAINED_DIR))] = sha256_file(dst)
    card["files"] = files
    for stage in STAGES:
        state = load_checkpoint(out_dir / stage / "best.pt")
        card.setdefault("training", {})[stage] = {
            "best_epoch": int(state.get("best_epoch", -1)),
            "epochs": len(state.get("history", [])),
            "frame_index_version": (state.get("extra_state") or {}).get("frame_index_version", ""),
            "parameters": sum(int(v.numel()) for v in state["model"].values()),
        }
    return card


def write_card(card: dict[str, Any], markdown: str, out_dir: Path = PRETRAINED_DIR) -> None:
    """card.json and MODEL_CARD.md, each written atomically."""
    write_atomic(out_dir / CARD_FILE.name, (json.dumps(card, indent=1, sort_keys=True) + "\n").encode())
    write_atomic(out_dir / "MODEL_CARD.md", markdown.encode())
