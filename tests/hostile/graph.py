"""Ingest + features over the whole hostile raw folder, in capped subprocesses, step by step.

`run_graph(raw, work)` (the parent side) runs `python -m tests.hostile.graph PROGRESS STAGE UNIT...`
three times: the ingest assets in one run; every (audio_features | map_tokens, shard) as its own
run; then frame_index; then it reads the feature stores' keys (`read_stores`). Each child runs on an
ephemeral Dagster instance with AUTOMAPPER_HOME/AUTOMAPPER_RAW pointing at the temp folders and
logs a JSON line when a unit starts and when it ends (with its step failures). The parent caps
memory (caps.run_capped: a process over the cap is killed alone when it is a worker, so the
manifest's pool can recover; the whole child when it is the Dagster process; a unit whose process
peaked over the cap between two polls, by its own ru_maxrss, counts as over it too) and time (per unit).
A child that dies mid-unit is restarted with the units it had left, so one bad shard never hides
the others; the dead unit is reported with how it died.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile.caps import ADDRESS_CAP_TORCH, RSS_CAP_MIB, Outcome, crash_problems, run_capped

INGEST = ("map_manifest", "outlier_blacklist", "dataset_audit", "sample_weights")
FEATURES = ("audio_features", "map_tokens")
UNIT_SECONDS = {"ingest": 240.0, "features": 120.0, "index": 120.0}
MAX_RESTARTS = 8
REPO = Path(__file__).resolve().parents[2]


@dataclass
class GraphReport:
    home: Path
    units: dict[str, dict] = field(
        default_factory=dict
    )  # unit -> {"success", "failures", "died", "peak_rss_mib"}
    outcomes: list[Outcome] = field(default_factory=list)  # every child process
    stores: dict = field(default_factory=dict)  # read_stores(home), or {"error": ...}
    shard_zips: dict[str, list[str]] = field(default_factory=dict)  # shard -> the zip names in it

    def problems(self) -> list[str]:
        """Every unit that failed or died, and every process killed at a cap."""
        found = []
        for unit, state in self.units.items():
            shard = unit.split(":")[1] if ":" in unit else ""
            holds = f" [shard {shard} holds {', '.join(self.shard_zips.get(shard, []))}]" if shard else ""
            if state.get("died"):
                found.append(f"{unit} died{holds}: {state['died']}")
            elif not state.get("success"):
                found.append(
                    f"{unit} failed: {' | '.join(state.get('failures') or ['(no step failure recorded)'])}"
                )
        for o in self.outcomes:
            found += [f"{o.label}: {p}" for p in crash_problems(o) if "killed at the memory cap:" in p]
        return found


def _shards() -> list[str]:
    from automapper_assets.defs.ingest.config import ingest_config
    from automapper_ml.data.rawzips import shard_keys

    return shard_keys(ingest_config().shard_count)


def shard_of_name(name: str) -> str:
    from automapper_assets.defs.ingest.config import ingest_config
    from automapper_ml.data.rawzips import shard_of

    return shard_of(name, ingest_config().shard_count)


def _read_progress(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line cut by a kill
            lines.append(json.loads(line))
    return lines


def _stage(report: GraphReport, work: Path, stage: str, units: list[str], env: dict) -> None:
    """Run `units` of `stage`, restarting after a death with the units left."""
    pending = list(units)
    for attempt in range(MAX_RESTARTS + 1):
        if not pending:
            return
        progress = work / f"{stage}-{attempt}.jsonl"

        def watch(progress: Path = progress) -> str:
            events = _read_progress(progress)
            if events and events[-1]["event"] == "start":
                spent = time.time() - events[-1]["time"]
                if spent > UNIT_SECONDS[stage]:
                    return f"time cap: {events[-1]['unit']} ran over {UNIT_SECONDS[stage]:g} s"
            return ""

        outcome = run_capped(
            [sys.executable, "-m", "tests.hostile.graph", str(progress), stage, *pending],
            label=f"graph {stage} (try {attempt})",
            workdir=work / f"{stage}-{attempt}",
            timeout_s=UNIT_SECONDS[stage] * len(pending) + 120,
            address_cap=ADDRESS_CAP_TORCH,
            env=env,
            cwd=work / "cwd",
            kill_offender_only=True,
            watch=watch,
        )
        report.outcomes.append(outcome)
        started = None
        over = False  # ru_maxrss only grows: the first unit that ends over the cap is the one that crossed it
        for event in _read_progress(progress):
            if event["event"] == "start":
                started = event["unit"]
                continue
            state = {
                "success": event["success"],
                "failures": event["failures"],
                "peak_rss_mib": event["peak_rss_mib"],
            }
            if event["peak_rss_mib"] > RSS_CAP_MIB and not over:
                over = True
                state["died"] = (
                    f"peaked at {event['peak_rss_mib']:.0f} MiB RSS, over the {RSS_CAP_MIB} MiB cap (between polls)"
                )
            report.units[event["unit"]] = state
            started = None
        pending = [u for u in pending if u not in report.units]
        if not pending:
            return
        how = (crash_problems(outcome) or [f"exit {outcome.returncode}"])[
            0
        ] + f" (peak RSS {outcome.peak_rss_mib:.0f} MiB)"
        tail = " | ".join(outcome.stderr.strip().splitlines()[-2:])[:400]
        dead = started or pending[0]
        report.units[dead] = {"success": False, "failures": [], "died": f"{how}; stderr: {tail}"}
        pending.remove(dead)
    for unit in pending:
        report.units[unit] = {"success": False, "failures": [], "died": "not run: too many restarts"}


def run_graph(raw: Path, work: Path) -> GraphReport:
    """Materialise ingest, features and frame_index over `raw` with home `work`/home."""
    home = work / "home"
    for folder in (home, work / "cwd", work / "tmp", work / "dagster"):
        folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AUTOMAPPER_HOME": str(home),
        "AUTOMAPPER_RAW": str(raw),
        "DAGSTER_HOME": str(work / "dagster"),
        "TMPDIR": str(work / "tmp"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
    }
    report = GraphReport(home=home)
    for name in sorted(os.listdir(raw)):
        if name.lower().endswith(".zip"):
            report.shard_zips.setdefault(shard_of_name(name), []).append(
                name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            )
    _stage(report, work, "ingest", ["ingest"], env)
    _stage(report, work, "features", [f"{a}:{s}" for s in _shards() for a in FEATURES], env)
    _stage(report, work, "index", ["frame_index"], env)
    try:
        report.stores = read_stores(home)
    except Exception as exc:  # reported by the test, never hidden
        report.stores = {"error": f"{type(exc).__name__}: {exc}"}
    return report


def read_stores(home: Path) -> dict:
    """{"audio": {key: n_frames}, "tokens": [key, ...]} from the heads of every feature store folder
    (<home>/features/stores/<audio-...|tokens-...>/heads/<shard>.txt naming a snapshot parquet)."""
    import polars as pl

    out: dict = {"audio": {}, "tokens": []}
    for store in sorted((home / "features" / "stores").glob("*")):
        for head in sorted((store / "heads").glob("*.txt")):
            name = head.read_text().strip()
            if not name:
                continue
            table = pl.read_parquet(store / "snapshots" / name)
            if store.name.startswith("audio"):
                frames = table["n_frames"] if "n_frames" in table.columns else [None] * table.height
                out["audio"].update(zip(table["key"].to_list(), list(frames)))
            else:
                out["tokens"] += table["key"].to_list()
    return out


# ----------------------------------------------------------------------- the child ---------------


def _error_text(error) -> str:
    """The innermost cause of a Dagster step failure, with the frame it was raised in."""
    while getattr(error, "cause", None) is not None:
        error = error.cause
    frame = (error.stack or [""])[-1].strip().splitlines()[0] if error.stack else ""
    return " ".join(error.message.split())[:400] + (f" [{frame}]" if frame else "")


def main(argv: list[str]) -> int:
    progress, stage, *units = argv
    import dagster as dg

    from automapper_assets.pipeline import CONSOLE_LOGS, load_definitions

    job = load_definitions().resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance, open(progress, "a") as log:

        def say(**event) -> None:
            log.write(json.dumps({**event, "time": time.time()}) + "\n")
            log.flush()

        for unit in units:
            say(event="start", unit=unit)
            if unit == "ingest":
                keys, partition = list(INGEST), None
            elif ":" in unit:
                asset, partition = unit.split(":")
                keys = [asset]
            else:
                keys, partition = [unit], None
            result = job.execute_in_process(
                instance=instance,
                asset_selection=[dg.AssetKey(k) for k in keys],
                partition_key=partition,
                raise_on_error=False,
                run_config=CONSOLE_LOGS,  # what assets say, not every step event
            )
            failures = [
                f"{e.step_key}: {_error_text(e.step_failure_data.error)}"
                for e in result.all_events
                if e.is_step_failure and e.step_failure_data.error is not None
            ]
            peaks = [
                resource.getrusage(who).ru_maxrss / 1024
                for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            ]
            say(event="done", unit=unit, success=result.success, failures=failures, peak_rss_mib=max(peaks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
