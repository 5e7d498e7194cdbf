"""The three trained stages a generator needs, found in a models folder and loaded once.

Layout (what the pipeline writes, see automapper_assets/defs/training): `<models>/<stage>/champion.pt`
once a model has been promoted, `<models>/<stage>/best.pt` after any training run. The champion is
preferred: it is the model that beat the previous one on validation; best.pt is the newest challenger.

    models = load_models(default_models_dir())         # MissingModelsError names what is missing
    result = generate_level(song, ("Expert",), options, models=models)

`automapper generate` without --models uses the models shipped in automapper_ml/pretrained/ (trained on
real maps); --models names a folder the pipeline trained (`$AUTOMAPPER_HOME/models`, `data/models`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from automapper_ml.generation.density import DEFAULT_TARGETS, DensityTargets
from automapper_ml.models.lighting import LightingModel, load_lighting_model
from automapper_ml.models.onset import OnsetModel, load_onset_model, onset_threshold
from automapper_ml.models.sequence import SequenceModel, load_sequence_model
from automapper_ml.paths import home

STAGES = ("onset", "sequence", "lighting")
CHECKPOINT_NAMES = ("champion.pt", "best.pt")  # preference order inside <models>/<stage>/
HOW_TO_GET_MODELS = (
    "run `bash scripts/demo.sh` to train them on the demo corpus, or point --models at a folder"
)


class MissingModelsError(FileNotFoundError):
    """Checkpoints the generator needs are absent; the message names the expected paths."""


class ModelLoadError(ValueError):
    """A checkpoint exists but cannot be used (corrupt, another stage's, weights that do not fit)."""


@dataclass
class GenerationModels:
    """Stage 1-3 models in eval mode, with where they came from."""

    onset: OnsetModel
    onset_threshold: float  # peak threshold tuned on validation when stage 1 was trained
    sequence: SequenceModel
    lighting: LightingModel
    paths: dict[str, Path] = field(default_factory=dict)  # stage -> checkpoint file loaded
    density: DensityTargets = DEFAULT_TARGETS  # onsets per second of human maps per difficulty


def default_models_dir() -> Path:
    """The shipped models (automapper_ml/pretrained), trained on real maps: what a user gets out of the box.
    Models the pipeline trains (`$AUTOMAPPER_HOME/models`) are used when named (--models)."""
    from automapper_ml.pretrained import PRETRAINED_DIR

    return PRETRAINED_DIR


def pipeline_models_dir() -> Path:
    """`$AUTOMAPPER_HOME/models`, else `./data/models` (the pipeline's default data root)."""
    return home() / "models"


def default_checkpoint(stage: str) -> Path:
    """The shipped checkpoint of one stage (MissingModelsError when the package lacks it)."""
    return find_checkpoints(default_models_dir(), (stage,))[stage]


def find_checkpoints(models_dir: str | os.PathLike, stages: tuple[str, ...] = STAGES) -> dict[str, Path]:
    """stage -> champion.pt (preferred) or best.pt in `<models_dir>/<stage>/`.

    Raises MissingModelsError listing every expected path of each missing stage, and how to get them."""
    root = Path(models_dir)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for stage in stages:
        candidates = [root / stage / name for name in CHECKPOINT_NAMES]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is None:
            missing.append(" or ".join(str(p) for p in candidates))
        else:
            found[stage] = hit
    if missing:
        what = "no trained models" if len(missing) == len(stages) else "missing checkpoints"
        raise MissingModelsError(f"{what}: expected {'; '.join(missing)}. To get them, {HOW_TO_GET_MODELS}")
    return found


def load_models(models_dir: str | os.PathLike, device: str | torch.device = "cpu") -> GenerationModels:
    """Load the three stages from `models_dir` (see `find_checkpoints`), each with weights_only=True.

    Raises MissingModelsError when checkpoints are absent, ModelLoadError when one cannot be used."""
    paths = find_checkpoints(models_dir)
    try:
        onset = load_onset_model(paths["onset"], device)
        threshold = onset_threshold(paths["onset"])
        density = onset_density(paths["onset"])
        sequence = load_sequence_model(paths["sequence"], device)
        lighting = load_lighting_model(paths["lighting"], device)
    except (ValueError, TypeError, RuntimeError, KeyError) as err:
        # loaders give one-line ValueErrors; a config of another schema can raise TypeError/KeyError
        raise ModelLoadError(" ".join(str(err).split())[:300]) from err
    return GenerationModels(onset, threshold, sequence, lighting, paths, density)


def onset_density(path: str | os.PathLike) -> DensityTargets:
    """The density targets a stage-1 checkpoint carries (`extra_state["density"]`, written when it was
    trained on a corpus), else DEFAULT_TARGETS (measured on ../shared/corpus)."""
    from automapper_ml.models.checkpoint import load_checkpoint

    extra = load_checkpoint(path).get("extra_state") or {}
    if "density" not in extra:
        return DEFAULT_TARGETS
    return DensityTargets.from_dict(extra["density"])
