"""Knobs every training asset shares: the `gpu` pool, retries, k8s/celery op tags, and retrain options.

How a training asset uses this module (onset_model, sequence_model, lighting_model):

    @dg.asset(group_name="training", pool=GPU_POOL, retry_policy=TRAINING_RETRY, op_tags=GPU_OP_TAGS, ...)
    def onset_model(context, paths: AutomapperPaths, config: OnsetRunConfig):
        opts = retrain_options(context)              # run tags first, then environment, then defaults
        opts.lower_priority()                        # os.nice(opts.nice) when asked; no-op at 0
        init = opts.init_checkpoint(paths.root(), "onset")  # champion.pt when warm-starting, else None
        result = train_onset_model(..., init_from=init, time_budget_s=opts.time_budget_s)
        return dg.MaterializeResult(metadata={"checkpoint": path, "val_loss": ..., **opts.as_metadata()}, ...)

Warm start loads the champion's weights (weights_only=True) into a freshly built model of the
same config and starts a new optimiser; a config whose shapes differ from the champion's starts
cold (the asset should catch the shape mismatch and log it). The time budget is wall-clock for the
whole fit: the loop stops at the end of the epoch (or checkpoint interval) that crosses it and
keeps its best checkpoint. Run tags make these per-run overrides visible in the UI's launchpad;
the nightly schedule stamps them on every run it starts.
"""

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

GPU_POOL = "gpu"  # dagster.yaml's default pool limit is 1; prepare_instance also sets gpu=1 explicitly

# Transient failures (CUDA OOM after fragmentation, a flaky filesystem, a killed worker) retry:
# 30 s, 60 s, then give up; jitter keeps two retried steps from colliding on the pool again.
TRAINING_RETRY = dg.RetryPolicy(
    max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

CELERY_GPU_QUEUE = "gpu"
# Op tags read only by the matching executor; the local multiprocess executor ignores both.
GPU_OP_TAGS = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
                "limits": {"memory": "32Gi", "nvidia.com/gpu": "1"},
            }
        },
        "pod_spec_config": {
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        },
    },
    "dagster-celery/queue": CELERY_GPU_QUEUE,
}

WARM_START_TAG = "automapper/warm_start"  # "champion" or "none"
TIME_BUDGET_TAG = "automapper/time_budget_s"  # seconds of wall clock for one fit
NICE_TAG = "automapper/nice"  # 0..19 added niceness for the training process
ENV = {
    WARM_START_TAG: "AUTOMAPPER_WARM_START",
    TIME_BUDGET_TAG: "AUTOMAPPER_TIME_BUDGET_S",
    NICE_TAG: "AUTOMAPPER_NICE",
}
DEFAULTS = {WARM_START_TAG: "none", TIME_BUDGET_TAG: "0", NICE_TAG: "0"}  # a manual run: cold, unbounded


class RetrainOptionError(ValueError):
    """A retrain knob (run tag or environment variable) has a value that cannot be used."""


@dataclass(frozen=True)
class RetrainOptions:
    warm_start: str = "none"  # "champion": initialise from <home>/models/<stage>/champion.pt if present
    time_budget_s: float | None = None  # None: no limit
    nice: int = 0  # added niceness (0 = unchanged)

    def init_checkpoint(self, home: Path, stage: str) -> Path | None:
        """The champion checkpoint to warm-start from, or None for a cold start."""
        if self.warm_start != "champion":
            return None
        path = Path(home) / "models" / stage / "champion.pt"
        return path if path.is_file() else None

    def lower_priority(self) -> int:
        """Apply the niceness to this process (training runs in the step's own process); returns the new value."""
        return os.nice(self.nice) if self.nice > 0 else os.nice(0)

    def as_metadata(self) -> dict:
        return {
            "warm_start": self.warm_start,
            "time_budget_s": self.time_budget_s if self.time_budget_s is not None else "unbounded",
            "nice": self.nice,
        }


def parse_options(values: dict[str, str]) -> RetrainOptions:
    """Options from {tag: value}; raises RetrainOptionError naming the knob on a bad value."""
    warm = values.get(WARM_START_TAG, DEFAULTS[WARM_START_TAG]).strip().lower()
    if warm not in ("champion", "none"):
        raise RetrainOptionError(f"{WARM_START_TAG} must be 'champion' or 'none', got {warm!r}")
    try:
        budget = float(values.get(TIME_BUDGET_TAG, DEFAULTS[TIME_BUDGET_TAG]))
        nice = int(values.get(NICE_TAG, DEFAULTS[NICE_TAG]))
    except ValueError as exc:
        raise RetrainOptionError(f"retrain option is not a number: {exc}") from None
    if not math.isfinite(budget) or budget < 0:
        raise RetrainOptionError(f"{TIME_BUDGET_TAG} must be >= 0 seconds (0 = unbounded), got {budget}")
    if not 0 <= nice <= 19:
        raise RetrainOptionError(f"{NICE_TAG} must be in 0..19, got {nice}")
    return RetrainOptions(warm, budget or None, nice)


def options_from(tags: dict[str, str] | None = None, environ: dict[str, str] | None = None) -> RetrainOptions:
    """Run tags win over environment variables (AUTOMAPPER_WARM_START, ..._TIME_BUDGET_S, ..._NICE)."""
    environ = os.environ if environ is None else environ
    values = {tag: environ[var] for tag, var in ENV.items() if environ.get(var)}
    values.update({k: v for k, v in (tags or {}).items() if k in ENV})
    return parse_options(values)


def retrain_options(context: dg.AssetExecutionContext) -> RetrainOptions:
    """The options for this run (read when the asset runs, never at import)."""
    return options_from(dict(context.run.tags))


# Run-config fields a training asset's dg.Config may declare; the nightly fills them from the options.
WARM_START_FIELD = "warm_start"  # bool
BUDGET_FIELD = "max_minutes"  # float, 0 = the preset's own limit


def _config_fields(assets_def: dg.AssetsDefinition) -> set[str]:
    schema = assets_def.op.config_schema
    config_type = schema.as_field().config_type if schema is not None else None
    return set(getattr(config_type, "fields", {}) or {})


def retrain_run_config(
    assets_defs: Mapping[dg.AssetKey, dg.AssetsDefinition],
    keys: Sequence[dg.AssetKey],
    options: RetrainOptions,
) -> dict:
    """Run config carrying warm start and budget to the selected assets whose Config declares them.

    Training assets that take `warm_start: bool` / `max_minutes: float` as run config get them
    this way; the same values are also on the run's tags for assets that read `retrain_options`.
    """
    ops: dict[str, dict] = {}
    for key in keys:
        assets_def = assets_defs.get(key)
        if assets_def is None:
            continue
        fields = _config_fields(assets_def)
        config: dict = {}
        if WARM_START_FIELD in fields:
            config[WARM_START_FIELD] = options.warm_start == "champion"
        if BUDGET_FIELD in fields and options.time_budget_s:
            config[BUDGET_FIELD] = options.time_budget_s / 60.0
        if config:
            ops[assets_def.op.name] = {"config": config}
    return {"ops": ops} if ops else {}


def nightly_tags(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Tags the nightly schedule stamps on its runs: warm start from the champion, a budget, low priority.

    AUTOMAPPER_NIGHTLY_BUDGET_S (default 4 h per fit) and AUTOMAPPER_NIGHTLY_NICE (default 10)
    are read at tick time in the daemon's environment.
    """
    environ = os.environ if environ is None else environ
    tags = {
        WARM_START_TAG: environ.get("AUTOMAPPER_NIGHTLY_WARM_START", "champion"),
        TIME_BUDGET_TAG: environ.get("AUTOMAPPER_NIGHTLY_BUDGET_S", str(4 * 3600)),
        NICE_TAG: environ.get("AUTOMAPPER_NIGHTLY_NICE", "10"),
    }
    parse_options(tags)  # a bad setting fails the tick with the knob's name, not a training run hours later
    return tags
