"""Champion/challenger: a blocking asset check that promotes a retrained model only when it is better.

Layout under <home>/models/<stage>/:
  best.pt            the challenger (written by the training asset; path also in its metadata)
  champion.pt        the model generation and evaluation use; replaced atomically on promotion
  champion.json      who the champion is: metric, value, run id, checkpoint sha256, time
  champions/         every promoted checkpoint, so a champion can be restored by hand
  history.jsonl      one line per decision, promoted or not, with both numbers and the reason

The training asset reports in its MaterializeResult metadata: `<metric>` (validation value),
`checkpoint` (path of best.pt), and, when it could, `champion_<metric>`: the champion re-scored
on the *current* validation split. That fresh number is preferred over champion.json's, which
may come from an older split.

Outcomes: a better challenger passes and is promoted. A challenger that loses fails the check
with severity WARN: the champion stays, the run still succeeds (retraining worked; the model was
just not better) and the check's description says why; `evaluation_follows_training` waits for a
passed check, so evaluation is not redone for an unchanged champion. A model that cannot be
judged (no metric, no checkpoint) fails with severity ERROR, which, the check being blocking,
fails the run and stops anything downstream of the model in it.
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from automapper_assets.defs.resources import AutomapperPaths
from automapper_assets.defs.training.common import copy_atomic
from automapper_ml.atomic import write_atomic
from automapper_ml.data.rawzips import sha256_file

CHAMPION_CKPT = "champion.pt"
CHAMPION_FILE = "champion.json"
HISTORY_FILE = "history.jsonl"
ARCHIVE_DIR = "champions"


class ChampionError(ValueError):
    """The challenger cannot be judged (metric missing or not finite, checkpoint missing)."""


@dataclass(frozen=True)
class Decision:
    promoted: bool  # True: the challenger is now the champion
    reason: str  # one line, shown in the UI
    challenger: float  # the challenger's validation value
    champion: float | None  # the value it was compared with (None: there was no champion)


def read_champion(stage_dir: Path) -> dict | None:
    """champion.json as a dict, or None when there is no champion yet (or the file is unreadable)."""
    try:
        return json.loads((Path(stage_dir) / CHAMPION_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def read_history(stage_dir: Path) -> list[dict]:
    path = Path(stage_dir) / HISTORY_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def decide(
    challenger: float, champion: float | None, higher_is_better: bool, min_delta: float = 0.0
) -> tuple[bool, str]:
    """Whether `challenger` beats `champion` by more than `min_delta`, and why (one line)."""
    if not math.isfinite(challenger):
        raise ChampionError(f"challenger metric is not finite ({challenger})")
    if champion is None or not math.isfinite(champion):
        return True, f"no usable champion yet; challenger {challenger:.6g} becomes champion"
    gain = (challenger - champion) if higher_is_better else (champion - challenger)
    direction = "higher" if higher_is_better else "lower"
    if gain > min_delta:
        return True, f"challenger {challenger:.6g} beats champion {champion:.6g} ({direction} is better)"
    return False, (
        f"challenger {challenger:.6g} does not beat champion {champion:.6g} by more than {min_delta:g} "
        f"({direction} is better); the champion stays"
    )


def judge(
    stage_dir: Path,
    checkpoint: Path,
    metric: str,
    value: float,
    higher_is_better: bool,
    run_id: str,
    champion_now: float | None = None,
    min_delta: float = 0.0,
) -> Decision:
    """Compare, promote when better (champion.pt, champion.json, archive), append the decision to history."""
    stage_dir = Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    current = read_champion(stage_dir)
    if current is not None and current.get("run_id") == run_id:  # the check re-ran on the same model
        return Decision(True, f"run {run_id[:8]} is already the champion", value, current.get("value"))
    stored = current.get("value") if current is not None and current.get("metric") == metric else None
    compare_with = champion_now if champion_now is not None and current is not None else stored
    promoted, reason = decide(value, compare_with, higher_is_better, min_delta)
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "run_id": run_id,
        "metric": metric,
        "value": value,
        "champion_run_id": current.get("run_id") if current else None,
        "champion_value": compare_with,
        "champion_value_source": "rescored" if champion_now is not None and current else "stored",
        "promoted": promoted,
        "reason": reason,
    }
    if promoted:
        if not Path(checkpoint).is_file():
            raise ChampionError(f"challenger checkpoint {checkpoint} does not exist")
        sha = sha256_file(Path(checkpoint))
        archive = stage_dir / ARCHIVE_DIR
        archive.mkdir(exist_ok=True)
        copy_atomic(Path(checkpoint), archive / f"{record['time'][:10]}-{run_id[:8]}.pt")
        copy_atomic(Path(checkpoint), stage_dir / CHAMPION_CKPT)
        record["checkpoint_sha256"] = sha
        champion = {k: record[k] for k in ("time", "run_id", "metric", "value", "checkpoint_sha256")}
        write_atomic(stage_dir / CHAMPION_FILE, json.dumps(champion, indent=2).encode())
    with open(stage_dir / HISTORY_FILE, "a") as f:  # one short line per decision; appends are whole lines
        f.write(json.dumps(record) + "\n")
    return Decision(promoted, reason, value, compare_with)


def _number(metadata: dict, key: str) -> float | None:
    entry = metadata.get(key)
    value = getattr(entry, "value", entry)
    return float(value) if isinstance(value, int | float) else None


def champion_check(
    asset: "dg.AssetsDefinition | dg.AssetKey | str",
    stage: str,
    metric: str,
    higher_is_better: bool = False,
    min_delta: float = 0.0,
) -> dg.AssetChecksDefinition:
    """A blocking check `<stage>_beats_champion` on `asset` that promotes or keeps the champion.

    `stage` names the folder <home>/models/<stage>; `metric` the validation metadata key the
    asset reports (e.g. "val_loss" with higher_is_better=False, "val_f1" with True).
    """

    @dg.asset_check(
        asset=asset,
        name=f"{stage}_beats_champion",
        blocking=True,
        description=f"Promotes the new {stage} model to champion only if its {metric} beats the champion's.",
    )
    def _check(context: dg.AssetCheckExecutionContext, paths: AutomapperPaths) -> dg.AssetCheckResult:
        key = context.check_specs[0].asset_key
        event = context.instance.get_latest_materialization_event(key)
        if event is None or event.asset_materialization is None:
            return _cannot_judge(f"{key.to_user_string()} has no materialisation")
        metadata = dict(event.asset_materialization.metadata)
        value = _number(metadata, metric)
        stage_dir = paths.folder("models", stage)
        ckpt_entry = metadata.get("checkpoint")
        checkpoint = Path(getattr(ckpt_entry, "value", ckpt_entry) or stage_dir / "best.pt")
        if value is None:
            return _cannot_judge(f"the materialisation reports no numeric '{metric}'; champion kept")
        try:
            decision = judge(
                stage_dir,
                checkpoint,
                metric,
                value,
                higher_is_better,
                event.run_id,
                champion_now=_number(metadata, f"champion_{metric}"),
                min_delta=min_delta,
            )
        except ChampionError as exc:
            return _cannot_judge(f"{exc}; champion kept")
        context.log.info(decision.reason)
        return dg.AssetCheckResult(
            passed=decision.promoted,
            severity=dg.AssetCheckSeverity.ERROR if decision.promoted else dg.AssetCheckSeverity.WARN,
            description=decision.reason,
            metadata={
                "challenger": decision.challenger,
                "champion": decision.champion if decision.champion is not None else "none",
                "promoted": decision.promoted,
                "champion_path": dg.MetadataValue.path(str(stage_dir / CHAMPION_CKPT)),
                "history": dg.MetadataValue.path(str(stage_dir / HISTORY_FILE)),
            },
        )

    return _check


def _cannot_judge(reason: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=reason)
