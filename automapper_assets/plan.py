"""`python -m automapper_assets.plan [--home DIR] [--json] [--no-observe]` (also `automapper plan`).

A dry run before the nightly retrain: every unsynced asset of the main job (per shard for the
sharded ones) with Dagster's own cause (code version, upstream data), and the full set that a
layer-by-layer re-materialisation would cascade to. It reads the persistent instance under
<home>/dagster_home in a fresh process that loads the current source, so an edited
TOKENIZER_VERSION or config shows up exactly as Dagster sees it. Nothing is materialised;
unless --no-observe, `raw_map_zips` is observed first so new or changed zips count.
Runs left in flight by a dead launcher are cleaned up first, as the main job does (runs.py); that
line goes to stderr, so --json stays parseable.
"""

import argparse
import json
import sys
from pathlib import Path

import dagster as dg

from automapper_assets.defs.resources import resolve_home
from automapper_assets.pipeline import load_definitions, pipeline_keys, prepare_instance
from automapper_assets.runs import launcher_tags, recover_dead_runs
from automapper_assets.staleness import cascade, unsynced

# frame_index's data version hashes maps, songs, splits, weights and ONSET positions, never tokens:
# a change reaching it only through map_tokens re-runs it with the same version, so its children
# that do not read map_tokens themselves (onset_model) stay fresh. Tested in test_versioning.py.
VERSION_STABLE = {dg.AssetKey("frame_index"): {dg.AssetKey("map_tokens")}}


def make_plan(home: Path, observe_raw: bool = True) -> dict:
    instance = prepare_instance(home)
    recovered = recover_dead_runs(instance, home).line()
    if recovered:
        print(recovered, file=sys.stderr)
    defs = load_definitions()
    if observe_raw:
        from dagster._core.definitions.observe import observe

        from automapper_assets.defs.ingest.raw import raw_map_zips
        from automapper_assets.defs.resources import AutomapperPaths

        paths = AutomapperPaths(home=str(home))
        observe([raw_map_zips], instance=instance, resources={"paths": paths}, tags=launcher_tags())
    keys = pipeline_keys(defs)
    items = unsynced(instance, defs, keys)
    roots = {dg.AssetKey.from_user_string(i.asset) for i in items}
    would_run = cascade(defs, roots, keys, VERSION_STABLE)
    return {
        "home": str(home),
        "unsynced": [i.as_dict() for i in items],
        "unsynced_assets": sorted({i.asset for i in items}),
        "cascade": [k.to_user_string() for k in would_run],
    }


def format_plan(plan: dict) -> str:
    if not plan["unsynced"]:
        return f"everything is in sync ({plan['home']})"
    lines = ["unsynced now:"]
    for item in plan["unsynced"]:
        where = f"[{item['partition']}]" if item["partition"] is not None else ""
        lines.append(f"  {item['asset']}{where}  {item['status']}")
        lines += [f"      {cause}" for cause in item["causes"]]
    lines.append("a re-materialisation would run, in order:")
    lines += [f"  {name}" for name in plan["cascade"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="automapper plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="data root (default: $AUTOMAPPER_HOME or ./data)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--no-observe", action="store_true", help="do not observe raw_map_zips first")
    args = parser.parse_args(argv)
    home = resolve_home(args.home)
    if not home.is_dir():
        print(f"automapper plan: {home} does not exist", file=sys.stderr)
        return 2
    plan = make_plan(home, observe_raw=not args.no_observe)
    print(json.dumps(plan, indent=2) if args.json else format_plan(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
