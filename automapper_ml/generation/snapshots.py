"""The one place evaluation calls the generator (`automapper_ml.generation.level.generate_level`).

`generate_snapshot` turns a GenerationResult into what evaluation keeps: the zip written, and per
difficulty the QUALITY_FIGURES of the raw decoder output and of the exported (post-processed)
notes, plus the share of notes post-processing changed. If the generator's result changes shape,
only this module changes.

Raw figures come from `DifficultyResult.raw_quality` with the object counts post-processing saw
on its input (`PostProcessReport.counts_in`): the raw Difficulty itself is not kept by the
generator. Post figures are measured on the exported Difficulty with the same definitions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from automapper_ml.evaluation.report import figures_from_quality

DEFAULT_DIFFICULTIES = ("Expert", "ExpertPlus")


@dataclass(frozen=True)
class SnapshotLevel:
    """What evaluation keeps of one generated reference song."""

    path: Path  # the zip written
    figures: dict[str, dict[str, dict[str, float]]]  # difficulty -> "raw"/"post" -> QUALITY_FIGURES
    notes_changed_share: dict[str, float]  # difficulty -> share of raw notes post-processing changed
    bpm: float  # tempo the map was built on
    duration_seconds: float  # exported (padded) audio length
    seconds: float  # wall time of the whole generation
    checkpoints: dict[str, str] = field(default_factory=dict)  # stage -> checkpoint path used


def load_generation_models(models_dir: Path):
    """GenerationModels (champion.pt preferred over best.pt per stage). Raises MissingModelsError
    or ModelLoadError (from automapper_ml.generation.models) with a one-line reason."""
    from automapper_ml.generation.models import load_models

    return load_models(models_dir)


def generation_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this song could not be generated" (bad audio, bad options), not a bug."""
    from automapper_ml.audio import AudioError
    from automapper_ml.formats.errors import MapError

    return (AudioError, MapError, ValueError)


def generate_snapshot(
    audio: Path, out: Path, models, difficulties: tuple[str, ...] = DEFAULT_DIFFICULTIES, seed: int = 0
) -> SnapshotLevel:
    """Generate `difficulties` for `audio` with loaded `models` and write the zip to `out`."""
    from automapper_ml.generation.level import generate_level
    from automapper_ml.generation.options import GenerationOptions

    started = time.monotonic()
    options = GenerationOptions(difficulties=tuple(difficulties), title=audio.parent.name or audio.stem)
    result = generate_level(audio, difficulties, options, models=models, out=out, seed=seed)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    changed: dict[str, float] = {}
    exported = {d.name: d for d in result.beatmap.difficulties}
    for res in result.difficulties:
        counts_in = dict(res.postprocess.counts_in)
        d = exported.get(res.name)
        counts_out = (
            {"bombs": len(d.bombs), "walls": len(d.obstacles), "arcs": len(d.arcs), "chains": len(d.chains)}
            if d is not None
            else dict(res.postprocess.counts_out)
        )
        figures[res.name] = {
            "raw": figures_from_quality(res.raw_quality, counts_in),
            "post": figures_from_quality(res.quality, counts_out),
        }
        changed[res.name] = float(res.postprocess.notes_changed_share)
    if result.path is None:
        raise ValueError(f"the generator wrote no file for {audio}")
    return SnapshotLevel(
        path=Path(result.path),
        figures=figures,
        notes_changed_share=changed,
        bpm=float(result.alignment.bpm),
        duration_seconds=float(result.duration_seconds),
        seconds=time.monotonic() - started,
        checkpoints=dict(result.models),
    )
