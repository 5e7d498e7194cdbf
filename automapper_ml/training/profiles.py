"""Profiles (configs/profiles.toml): one name that picks the training preset of every stage.

    default = "<profile>"
    [profile.<name>]   onset = "<preset>"  sequence = "<preset>"  lighting = "<preset>"  [osu = "<preset>"]

The Dagster layer resolves the active profile once, when the definitions load, and puts each
stage's preset name into that stage's code version; modules below never read the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from automapper_ml.training.presets import build_section, read_config

PROFILES_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "profiles.toml"
STAGES = ("onset", "sequence", "lighting")


@dataclass(frozen=True)
class Profile:
    name: str
    onset: str  # [preset.<onset>] of configs/onset.toml
    sequence: str  # [preset.<sequence>] of configs/sequence.toml
    lighting: str  # [preset.<lighting>] of configs/lighting.toml
    osu: str = "demo"  # [preset.<osu>] of configs/osu.toml (the osu group's model; not a Beat Saber stage)

    def preset(self, stage: str) -> str:
        if stage not in STAGES:
            raise ValueError(f"no stage {stage!r} (have {list(STAGES)})")
        return getattr(self, stage)


def profile_names(path: str | os.PathLike | None = None) -> list[str]:
    return sorted(read_config(path, PROFILES_CONFIG).get("profile", {}))


def load_profile(name: str | None = None, path: str | os.PathLike | None = None) -> Profile:
    """The named profile (None or "": the file's `default`); ValueError with a one-line reason for an
    unknown profile or a missing stage."""
    data = read_config(path, PROFILES_CONFIG)
    name = name or data.get("default", "demo")
    profiles = data.get("profile", {})
    if name not in profiles:
        raise ValueError(f"no profile {name!r} in {path or PROFILES_CONFIG} (have {sorted(profiles)})")
    table = dict(profiles[name])
    missing = [f.name for f in fields(Profile) if f.name in STAGES and f.name not in table]
    if missing:
        raise ValueError(f"[profile.{name}]: missing stages {missing}")
    return build_section(Profile, {"name": name, **table}, f"[profile.{name}]")
