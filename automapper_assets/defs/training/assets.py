"""The training group: one checkpoint asset per stage, all in the concurrency pool `gpu` (limit 1).

Each asset trains into models/<stage>/runs/<inputs key>/, where the key hashes the code version,
the frame index's data version and the run config: rerunning after a crash (kill -9 included)
finds the same folder and resumes from its last.pt; a completed run is not trained twice. The
best checkpoint is then copied to models/<stage>/best.pt (atomically) for the generator and CLI.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg

from automapper_assets.defs.automation.retrain import GPU_OP_TAGS, GPU_POOL, TRAINING_RETRY, retrain_options
from automapper_assets.defs.resources import AutomapperPaths, WandbResource
from automapper_assets.defs.training.common import (
    copy_atomic,
    file_version,
    frame_index_state,
    png_markdown,
    stage_code_version,
    warm_start_weights,
)
from automapper_assets.profile import active_profile
from automapper_assets.runs import holds_pool
from automapper_ml.generation.density import index_targets
from automapper_ml.tokenizer import TOKENIZER_VERSION

PROFILE = active_profile()  # the preset of each stage; its name is part of that stage's code version
ONSET_CODE_VERSION = stage_code_version("onset", f"preset-{PROFILE.onset}")
# what every training asset shares: one GPU at a time (pool gpu, limit 1), retries with jitter
TRAINING_ASSET = {
    "group_name": "training",
    "kinds": {"pytorch"},
    "pool": GPU_POOL,
    "op_tags": GPU_OP_TAGS,
    "retry_policy": TRAINING_RETRY,
}


def training_asset(deps: list[str], code_version: str) -> Callable:
    """@dg.asset of a stage checkpoint: TRAINING_ASSET, and the pool's file lock held while it trains
    (runs.holds_pool: Dagster's own pool claim is not atomic on sqlite)."""

    def wrap(fn: Callable) -> dg.AssetsDefinition:
        return dg.asset(deps=deps, code_version=code_version, **TRAINING_ASSET)(holds_pool(GPU_POOL)(fn))

    return wrap


class TrainingRunConfig(dg.Config):
    """One-off overrides, recorded in metadata (they never enter the code version)."""

    preset: str = ""  # empty: the active profile's preset for this stage (configs/profiles.toml)
    warm_start: bool = False  # start from the stage's champion (else best) weights
    max_minutes: float = 0.0  # time budget for this run; 0 = the preset's


def run_dir(stage_dir: Path, *parts: str) -> Path:
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return stage_dir / "runs" / key


def publish(src: Path | None, dst: Path) -> Path | None:
    """Copy a checkpoint to its published name atomically."""
    if src is None or not src.exists():
        return None
    copy_atomic(src, dst)
    return dst


@dataclass(frozen=True)
class StageRun:
    """What every training asset works out before it trains (`start_stage`)."""

    root: Path  # AUTOMAPPER_HOME
    index_path: Path  # the frame index
    index_version: str  # its data version
    stage_dir: Path  # models/<stage>
    out: Path  # this run's resumable folder (run_dir)
    extra: dict[str, str]  # stored in every checkpoint: frame index and tokenizer versions, preset
    init: Any  # warm-start weights or None

    def train(
        self, trainer: Callable, preset: Any, config: TrainingRunConfig, log: Callable, **stage_options: Any
    ) -> Any:
        """`trainer` (a train_<stage>_model) on this run's index and folder with the preset's model,
        task and training configs (the run config's time budget on top), the checkpoint extras and
        the warm-start weights; `stage_options` are the stage's own keywords (onset: wandb; sequence:
        decoding)."""
        return trainer(
            self.index_path,
            self.root,
            self.out,
            preset.model,
            with_budget(preset.train, config),
            task_config=preset.task,
            extra_state=self.extra,
            log=log,
            init_weights=self.init,
            **stage_options,
        )


def start_stage(
    context: dg.AssetExecutionContext,
    config: TrainingRunConfig,
    paths: AutomapperPaths,
    stage: str,
    code_version: str,
    preset: str,
) -> StageRun:
    """Lower the priority of nightly retrains, find the frame index, the run folder (keyed by code version,
    index version, preset and run config) and the warm-start weights."""
    retrain_options(context).lower_priority()  # nightly retrains may run at a lower priority
    root = paths.root()
    index_path, _, index_version = frame_index_state(root)
    stage_dir = paths.folder("models", stage)
    out = run_dir(stage_dir, code_version, index_version, preset, repr(config.model_dump()))
    extra = {"frame_index_version": index_version, "tokenizer_version": TOKENIZER_VERSION}
    if preset:
        extra["preset"] = preset
    init = warm_start_weights(stage_dir, config.warm_start, context.log.info)
    return StageRun(root, index_path, index_version, stage_dir, out, extra, init)


def with_budget(train_config: Any, config: TrainingRunConfig) -> Any:
    """The preset's TrainConfig, with the run config's time budget when it sets one."""
    return replace(train_config, max_minutes=config.max_minutes) if config.max_minutes > 0 else train_config


def log_run(
    logger: Any,
    stage: str,
    result: Any,
    best: Path | None,
    config: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
) -> None:
    """A finished training run to wandb (`logger`: a WandbResource.logger context): the config and the
    summary when given, every epoch's metrics, the published checkpoint as the `<stage>-model` artifact."""
    with logger as run:
        if config is not None:
            run.log_config(config)
        for entry in result.history:
            run.log_metrics(entry, step=int(entry.get("epoch", 0)))
        if summary is not None:
            run.log_summary(summary)
        if best is not None:
            run.log_artifact(best, f"{stage}-model", metadata=result.metrics)


def result_metadata(
    result: Any, config: TrainingRunConfig, best: Path | None, specific: dict[str, Any], preset: str = ""
) -> dict[str, Any]:
    """A training asset's metadata: its own figures first, then what every stage reports."""
    out = {
        **specific,
        "parameters": result.n_params,
        "epochs": result.epochs,
        "best_epoch": result.best_epoch,
        "wall_seconds": round(result.seconds, 1),
        "device": result.device,
    }
    if preset:
        out["preset"] = preset
    return {
        **out,
        "run_config": dg.MetadataValue.json(config.model_dump()),
        "checkpoint": dg.MetadataValue.path(str(best)),
    }


@training_asset(["audio_features", "frame_index"], ONSET_CODE_VERSION)
def onset_model(
    context: dg.AssetExecutionContext, config: TrainingRunConfig, paths: AutomapperPaths, wandb: WandbResource
) -> dg.MaterializeResult:
    """Stage 1 checkpoint: TCN + Transformer onset model (models/onset/best.pt) with validation F1."""
    from automapper_ml.training.onset import train_onset_model
    from automapper_ml.training.presets import load_preset

    preset = load_preset(config.preset or PROFILE.onset)
    run = start_stage(context, config, paths, "onset", ONSET_CODE_VERSION, preset.name)
    # the corpus's onsets per second per difficulty travel with the model: generation holds its
    # peak picking inside them (automapper_ml.generation.density)
    run.extra["density"] = index_targets(frame_index_state(run.root)[1]).to_dict()
    with wandb.logger(run.root, name=f"onset-{context.run_id[:8]}", group="onset") as logger:
        result = run.train(train_onset_model, preset, config, context.log.info, wandb=logger)
    best = publish(result.best_path, run.stage_dir / "best.pt")
    m = result.metrics
    specific = {
        "val_f1": float(m.get("f1", float("nan"))),
        "val_precision": float(m.get("precision", float("nan"))),
        "val_recall": float(m.get("recall", float("nan"))),
        "threshold": result.threshold,
    }
    metadata = result_metadata(result, config, best, specific, preset.name)
    metadata["samples_per_second"] = round(result.samples_per_second, 1)
    metadata["plot"] = png_markdown(result.plot_path, "predicted onsets vs targets (validation)")
    return dg.MaterializeResult(metadata=metadata, data_version=file_version(best))


SEQUENCE_CODE_VERSION = stage_code_version(
    "sequence", f"tok{TOKENIZER_VERSION}", f"preset-{PROFILE.sequence}"
)
LIGHTING_CODE_VERSION = stage_code_version(
    "lighting", f"tok{TOKENIZER_VERSION}", f"preset-{PROFILE.lighting}"
)


@training_asset(["audio_features", "map_tokens", "frame_index"], SEQUENCE_CODE_VERSION)
def sequence_model(
    context: dg.AssetExecutionContext, config: TrainingRunConfig, paths: AutomapperPaths, wandb: WandbResource
) -> dg.MaterializeResult:
    """Stage 2 checkpoint: the note-sequence decoder (models/sequence/best.pt) with token/EOS accuracy."""
    from automapper_ml.training.sequence import load_sequence_preset, train_sequence_model

    preset = load_sequence_preset(config.preset or PROFILE.sequence)
    run = start_stage(context, config, paths, "sequence", SEQUENCE_CODE_VERSION, preset.name)
    train_config = with_budget(preset.train, config)
    result = run.train(train_sequence_model, preset, config, context.log.info, decoding=preset.decoding)
    best = publish(result.best_path, run.stage_dir / "best.pt")
    log_run(
        wandb.logger(run.root, name=f"sequence-{context.run_id[:8]}", group="sequence"),
        "sequence",
        result,
        best,
        config={"model": preset.model.to_dict(), "train": train_config.to_dict(), **run.extra},
        summary={**result.metrics, **{f"generated/{k}": v for k, v in result.generation.items()}},
    )
    m = result.metrics
    specific = {
        "val_loss": float(m.get("val_loss", float("nan"))),
        "token_accuracy": float(m.get("token_accuracy", float("nan"))),
        "note_accuracy": float(m.get("note_accuracy", float("nan"))),
        "eos_accuracy": float(m.get("eos_accuracy", float("nan"))),
        "generated_raw": dg.MetadataValue.json({k: float(v) for k, v in result.generation.items()}),
    }
    return dg.MaterializeResult(
        metadata=result_metadata(result, config, best, specific, preset.name), data_version=file_version(best)
    )


@training_asset(["audio_features", "map_tokens", "frame_index"], LIGHTING_CODE_VERSION)
def lighting_model(
    context: dg.AssetExecutionContext, config: TrainingRunConfig, paths: AutomapperPaths, wandb: WandbResource
) -> dg.MaterializeResult:
    """Stage 3 checkpoint: the half-beat lighting decoder (models/lighting/best.pt) with token accuracy."""
    from automapper_ml.training.lighting import load_lighting_preset, train_lighting_model

    preset = load_lighting_preset(config.preset or PROFILE.lighting)
    run = start_stage(context, config, paths, "lighting", LIGHTING_CODE_VERSION, preset.name)
    result = run.train(train_lighting_model, preset, config, context.log.info)
    best = publish(result.best_path, run.stage_dir / "best.pt")
    log_run(
        wandb.logger(run.root, name=f"lighting-{context.run_id[:8]}", group="lighting"),
        "lighting",
        result,
        best,
    )
    specific = {
        "val_loss": result.val_loss,
        "token_accuracy": result.token_accuracy,
        "baselines": dg.MetadataValue.json({k: float(v) for k, v in result.baselines.items()}),
    }
    return dg.MaterializeResult(
        metadata=result_metadata(result, config, best, specific, preset.name),
        data_version=file_version(best),
    )
