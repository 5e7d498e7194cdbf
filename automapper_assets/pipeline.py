"""The main job: `python -m automapper_assets.pipeline [--home DIR]`.

1. DAGSTER_HOME = <home>/dagster_home (created, with the repo's dagster.yaml), so runs, data
   versions and staleness persist between invocations and show up in `dagster dev`.
2. If <home>/raw holds no zip, generate the demo corpus there.
3. Observe `raw_map_zips` (one data version per shard).
4. Layer by layer: ask Dagster which assets of PIPELINE_GROUPS are missing or stale, materialise
   the ones whose upstream is already fresh, look again; stop when everything is fresh.
   Unpartitioned assets of one layer share one run; a partitioned asset runs once per stale
   partition (exact per-shard data versions). A run never mixes a partition key with
   unpartitioned assets (DESIGN.md's trap: that would rebuild downstream from one shard).
5. Print where the outputs are.

Adding an asset to the main job = giving it a group in PIPELINE_GROUPS. Assets tagged
`network` (BeatSaver download) are never run here: the main job works offline.
"""

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from dagster._core.definitions.observe import observe

from automapper_assets.defs.resources import resolve_home
from automapper_assets.staleness import FRESH, make_resolver, partitions_of

PIPELINE_GROUPS = ("ingest", "features", "training", "evaluation")
OFFLINE_EXCLUDED_TAG = "network"
REPO_ROOT = Path(__file__).resolve().parent.parent
MAX_ROUNDS = 20


def prepare_instance(home: Path) -> dg.DagsterInstance:
    """The persistent instance under <home>/dagster_home (dagster.yaml copied there once)."""
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    target = dagster_home / "dagster.yaml"
    if not target.exists() and (REPO_ROOT / "dagster.yaml").exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", target)
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = dg.DagsterInstance.get()
    try:  # the GPU pool: one training step at a time (dagster.yaml cannot name a single pool)
        instance.event_log_storage.set_concurrency_slots("gpu", 1)
    except Exception as exc:  # storage without pool support: the default_limit of 1 still applies
        print(f"note: could not set the gpu pool limit ({exc})", file=sys.stderr)
    return instance


def ensure_corpus(home: Path, demo_config: object | None = None) -> str:
    """Generate the demo corpus (DemoConfig() unless given) when raw/ has no zip; returns a one-line summary."""
    raw = home / "raw"
    if raw.is_dir() and any(p.suffix.lower() == ".zip" for p in raw.iterdir()):
        return f"using the zips in {raw}"
    try:
        from automapper_ml.synth import DemoConfig, generate_demo_corpus
    except ImportError as exc:
        raise SystemExit(f"{raw} has no zips and the demo generator is unavailable ({exc})") from None
    started = time.monotonic()
    report = generate_demo_corpus(home, demo_config or DemoConfig())
    counts = ", ".join(
        f"{len(v)} {k}"
        for k in ("songs", "maps", "broken")
        if isinstance(v := getattr(report, k, None), tuple)
    )
    return f"generated the demo corpus into {raw} in {time.monotonic() - started:.1f} s ({counts})"


def load_definitions() -> dg.Definitions:
    from automapper_assets.definitions import defs

    return defs() if callable(defs) else defs


def pipeline_keys(defs: dg.Definitions, groups: Iterable[str] = PIPELINE_GROUPS) -> list[dg.AssetKey]:
    """Materialisable assets of `groups`, minus network assets, in topological order."""
    graph = defs.resolve_asset_graph()
    wanted = set(groups)
    keys = []
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable or node.group_name not in wanted:
            continue
        if OFFLINE_EXCLUDED_TAG in (node.tags or {}):
            continue
        keys.append(key)
    return keys


def _todo(instance: dg.DagsterInstance, defs: dg.Definitions, keys: list[dg.AssetKey]) -> list[tuple]:
    """(key, partition or None) of every missing/stale asset (partition) whose in-set parents are fresh."""
    graph = defs.resolve_asset_graph()
    resolver = make_resolver(instance, defs)
    selected = set(keys)
    out: list[tuple] = []
    unfresh: set[dg.AssetKey] = set()
    for key in keys:  # toposorted: a parent's state is known before its children
        node = graph.get(key)
        stale = [p for p in partitions_of(defs, key) if resolver.get_status(key, p) != FRESH]
        if not stale:
            continue
        unfresh.add(key)
        if not any(p in unfresh for p in node.parent_keys if p in selected):
            out += [(key, p) for p in stale]
    return out


# The console shows what assets say (INFO and up), not Dagster's per-step DEBUG events; the UI has those.
CONSOLE_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def run_layer(instance: dg.DagsterInstance, defs: dg.Definitions, todo: list[tuple]) -> list[str]:
    """Materialise one layer: unpartitioned keys in one run, each partition of a partitioned key alone."""
    job = defs.resolve_implicit_global_asset_job_def()
    summaries = []
    whole = [k for k, p in todo if p is None]
    if whole:
        result = job.execute_in_process(
            instance=instance, asset_selection=whole, raise_on_error=False, run_config=CONSOLE_LOGS
        )
        summaries.append(_summary(result, whole, None))
    for key, partition in [(k, p) for k, p in todo if p is not None]:
        # One partitioned asset per run: a partition key must never reach unpartitioned assets.
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[key],
            partition_key=partition,
            raise_on_error=False,
            run_config=CONSOLE_LOGS,
        )
        summaries.append(_summary(result, [key], partition))
    return summaries


def _summary(result: dg.ExecuteInProcessResult, keys: list[dg.AssetKey], partition: str | None) -> str:
    names = ", ".join(k.to_user_string() for k in keys)
    where = f" [{partition}]" if partition else ""
    if not result.success:
        raise SystemExit(
            f"run {result.run_id} failed materialising {names}{where}; see `dagster dev` or the log above"
        )
    return f"materialised {names}{where} (run {result.run_id[:8]})"


def run_pipeline(
    home: Path, groups: Iterable[str] = PIPELINE_GROUPS, log=print, demo_config: object | None = None
) -> dict:
    """Everything the module docstring lists; returns {'rounds': n, 'materialised': [...], 'home': path}."""
    os.environ["AUTOMAPPER_HOME"] = str(home)  # the paths resource reads it at run time
    instance = prepare_instance(home)
    log(ensure_corpus(home, demo_config))
    defs = load_definitions()
    from automapper_assets.defs.ingest.raw import raw_map_zips

    observe([raw_map_zips], instance=instance, resources={"paths": _paths_resource(defs)})
    log("observed raw_map_zips")
    keys = pipeline_keys(defs, groups)
    done: list[str] = []
    rounds = 0
    while rounds < MAX_ROUNDS:
        todo = _todo(instance, defs, keys)
        if not todo:
            break
        rounds += 1
        for line in run_layer(instance, defs, todo):
            log(line)
            done.append(line)
    if not done:
        log("everything is up to date")
    return {"rounds": rounds, "materialised": done, "home": home}


def _paths_resource(defs: dg.Definitions):
    from automapper_assets.defs.resources import AutomapperPaths

    return (defs.resources or {}).get("paths", AutomapperPaths())


def print_outputs(home: Path) -> None:
    ingest = home / "ingest"
    print("\noutputs:")
    for label, path in (
        ("manifest", ingest / "manifest.parquet"),
        ("rejected zips", ingest / "rejected.parquet"),
        ("blacklist", ingest / "blacklist.parquet"),
        ("audit", ingest / "audit" / "audit.md"),
        ("audit plot", ingest / "audit" / "distributions.png"),
        ("sample weights", ingest / "sample_weights.parquet"),
        ("feature stores", home / "features" / "stores"),
        ("frame index", home / "features" / "frame_index.parquet"),
        ("onset model", home / "models" / "onset" / "best.pt"),
        ("sequence model", home / "models" / "sequence" / "best.pt"),
        ("lighting model", home / "models" / "lighting" / "best.pt"),
        ("snapshots", home / "snapshots"),
        ("metrics history", home / "metrics" / "history.parquet"),
        ("wandb (offline)", home / "wandb"),
        ("Dagster instance", home / "dagster_home"),
    ):
        mark = "" if path.exists() else "  (missing)"
        print(f"  {label:<17} {path}{mark}")
    print(f"\nbrowse: DAGSTER_HOME={home / 'dagster_home'} AUTOMAPPER_HOME={home} dg dev")
    print(
        f"a map for your song: .venv/bin/automapper generate SONG.ogg --models {home / 'models'} -o song.zip"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m automapper_assets.pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--home", help="data root (default: $AUTOMAPPER_HOME, else ./data)")
    args = parser.parse_args(argv)
    home = resolve_home(args.home)
    started = time.monotonic()
    result = run_pipeline(home)
    print(f"\nmain job done in {time.monotonic() - started:.1f} s, {result['rounds']} layer(s)")
    print_outputs(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
