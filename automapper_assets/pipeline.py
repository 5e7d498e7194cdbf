"""The main job: `python -m automapper_assets.pipeline [--home DIR] [--raw ZIPS] [--profile NAME]`.

1. DAGSTER_HOME = <home>/dagster_home (created, with the repo's dagster.yaml), so runs, data
   versions and staleness persist between invocations and show up in `dagster dev`.
2. If <home>/raw holds no zip, generate the demo corpus there. With `--raw ZIPS` the graph reads
   that folder in place instead (never writing into it, never copying it) and nothing is generated.
   `--profile` (configs/profiles.toml) picks the preset of every training stage at once: `demo`
   (default), `cpu` (~60 real songs on 2 CPU cores in under an hour), `gpu`.
   With the demo corpus come its osu! beatmapsets, in <home>/osu_raw (the `osu` group's input).
3. Observe `raw_map_zips` (one data version per shard) and `osu_raw`; the `osu` group is skipped,
   with a line that says so, when <home>/osu_raw holds no .osz.
4. Layer by layer: ask Dagster which assets of PIPELINE_GROUPS are missing or stale, materialise
   the ones whose upstream is already fresh, look again; stop when everything is fresh.
   Unpartitioned assets of one layer share one run; a partitioned asset runs once per stale
   partition (exact per-shard data versions). A run never mixes a partition key with
   unpartitioned assets (DESIGN.md's trap: that would rebuild downstream from one shard).
5. Print where the outputs are.

One main job per data root (<home>/.automapper.lock; a second one is refused). Before any work,
runs left in flight by a launcher that died (kill -9, a crash) are marked failed and their pool
slots freed (automapper_assets/runs.py). SIGTERM or Ctrl-C stops the job within seconds: the run
in flight ends canceled, its slots are freed, and the exit status is 128 + the signal
(automapper_assets/launcher.py); the next start resumes.

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

from automapper_assets.defs.resources import RAW_ENV, resolve_home
from automapper_assets.launcher import InProcessLauncher, Stopped
from automapper_assets.profile import PROFILE_ENV
from automapper_assets.runs import home_lock, recover_dead_runs
from automapper_assets.staleness import FRESH, make_resolver, partitions_of
from automapper_ml.paths import restored_env
from automapper_ml.training.profiles import load_profile, profile_names

PIPELINE_GROUPS = ("ingest", "features", "training", "evaluation", "osu", "editor")
OSU_GROUP = "osu"
EDITOR_GROUP = "editor"
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


def ensure_corpus(home: Path, demo_config: object | None = None, raw_dir: Path | None = None) -> str:
    """Generate the demo corpus (DemoConfig() unless given) when raw/ has no zip; returns a one-line summary.
    A `raw_dir` given by the user is read in place: it must hold zips, and nothing is generated."""
    if raw_dir is not None:
        if not raw_dir.is_dir():
            raise SystemExit(f"--raw {raw_dir}: not a folder")
        n = sum(1 for p in raw_dir.iterdir() if p.suffix.lower() == ".zip")
        if not n:
            raise SystemExit(f"--raw {raw_dir}: no .zip files in it")
        return f"reading {n} zips in place from {raw_dir} (never modified)"
    raw = home / "raw"
    if raw.is_dir() and any(p.suffix.lower() == ".zip" for p in raw.iterdir()):
        return f"using the zips in {raw}"
    try:
        from automapper_ml.synth import DemoConfig, generate_demo_corpus
    except ImportError as exc:
        raise SystemExit(f"{raw} has no zips and the demo generator is unavailable ({exc})") from None
    started = time.monotonic()
    config = demo_config or DemoConfig()
    report = generate_demo_corpus(home, config)
    counts = ", ".join(
        f"{len(v)} {k}"
        for k in ("songs", "maps", "broken")
        if isinstance(v := getattr(report, k, None), tuple)
    )
    sets = ensure_osu_demo(home, config)
    pairs = ensure_edit_demo(home, config)
    return (
        f"generated the demo corpus into {raw} in {time.monotonic() - started:.1f} s ({counts}; "
        f"{sets} osu! sets in {home / 'osu_raw'}; {pairs} edit pairs in {home / 'edits'})"
    )


def has_osz(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == ".osz" for p in folder.iterdir())


def ensure_osu_demo(home: Path, config: object) -> int:
    """The demo songs' osu! beatmapsets (automapper_ml.synth.osu) in <home>/osu_raw, unless it already
    holds .osz files; returns how many sets are there."""
    folder = home / "osu_raw"
    if not has_osz(folder):
        from automapper_ml.synth.osu import osu_demo_songs, write_osu_demo

        folder.mkdir(parents=True, exist_ok=True)
        write_osu_demo(folder, osu_demo_songs(config))
    return sum(1 for p in folder.iterdir() if p.suffix.lower() == ".osz")


def ensure_edit_demo(home: Path, config: object) -> int:
    """The demo songs' synthetic edit pairs (automapper_ml.synth.edits) in <home>/edits, unless a pair
    folder is already there; returns how many pair folders there are."""
    folder = home / "edits"
    if not has_pairs(folder):
        from automapper_ml.synth.edits import write_edit_demo
        from automapper_ml.synth.osu import osu_demo_songs

        write_edit_demo(folder, osu_demo_songs(config))
    return sum(1 for p in folder.iterdir() if p.is_dir())


def has_pairs(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


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


def run_layer(launcher: InProcessLauncher, defs: dg.Definitions, todo: list[tuple]) -> list[str]:
    """Materialise one layer: unpartitioned keys in one run, each partition of a partitioned key alone."""
    job = defs.resolve_implicit_global_asset_job_def()
    summaries = []
    whole = [k for k, p in todo if p is None]
    if whole:
        result = launcher.execute(job, asset_selection=whole, raise_on_error=False, run_config=CONSOLE_LOGS)
        summaries.append(_summary(result, whole, None))
    for key, partition in [(k, p) for k, p in todo if p is not None]:
        # One partitioned asset per run: a partition key must never reach unpartitioned assets.
        result = launcher.execute(
            job,
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
    home: Path,
    groups: Iterable[str] = PIPELINE_GROUPS,
    log=print,
    demo_config: object | None = None,
    raw_dir: Path | None = None,
    profile: str | None = None,
) -> dict:
    """Everything the module docstring lists; returns {'rounds': n, 'materialised': [...], 'home': path}.
    `raw_dir` and `profile` hold for this call only (the environment is restored afterwards).
    Raises HomeBusy when another main job holds `home`, Stopped on SIGTERM/SIGINT."""
    os.environ["AUTOMAPPER_HOME"] = str(home)  # the paths resource reads it at run time
    with restored_env(RAW_ENV, PROFILE_ENV):
        if raw_dir is not None:
            raw_dir = Path(raw_dir).expanduser().resolve()
            os.environ[RAW_ENV] = str(raw_dir)
        if profile:
            load_profile(profile)  # an unknown name fails here, in one line, before anything runs
            os.environ[PROFILE_ENV] = profile  # read once when the definitions load (their code versions)
        with home_lock(home):
            return _run(home, groups, log, demo_config, raw_dir, profile)


def _run(
    home: Path, groups: Iterable[str], log, demo_config, raw_dir: Path | None, profile: str | None
) -> dict:
    instance = prepare_instance(home)
    recovered = recover_dead_runs(instance, home).line()
    if recovered:
        log(recovered)
    with InProcessLauncher(instance, log) as launcher:
        return _materialise(launcher, home, groups, log, demo_config, raw_dir, profile)


def _materialise(
    launcher: InProcessLauncher,
    home: Path,
    groups: Iterable[str],
    log,
    demo_config,
    raw_dir: Path | None,
    profile: str | None,
) -> dict:
    instance = launcher.instance
    log(ensure_corpus(home, demo_config, raw_dir))
    defs = load_definitions()
    from automapper_assets.defs.training.assets import PROFILE

    if profile and PROFILE.name != profile:
        raise SystemExit(
            f"this process loaded the definitions with profile {PROFILE.name!r}; "
            f"profile {profile!r} needs a fresh process (python -m automapper_assets.pipeline --profile {profile})"
        )
    log(f"profile {PROFILE.name}: presets onset {PROFILE.onset}, sequence {PROFILE.sequence}, "
        f"lighting {PROFILE.lighting}")  # fmt: skip
    from automapper_assets.defs.ingest.raw import raw_map_zips

    launcher.observe([raw_map_zips], resources={"paths": _paths_resource(defs)})
    log("observed raw_map_zips")
    groups = list(groups)
    from automapper_assets.defs.editor.assets import edit_pairs
    from automapper_assets.defs.osu.assets import osu_raw

    for group, present, source, missing in (
        (OSU_GROUP, has_osz(home / "osu_raw"), osu_raw,
         f"no .osz in {home / 'osu_raw'}: the osu group is skipped (put osu! beatmapsets there)"),
        (EDITOR_GROUP, has_pairs(home / "edits"), edit_pairs,
         f"no pair folders in {home / 'edits'}: the editor group is skipped (put <name>/raw.ogg + edit.ogg there)"),
    ):  # fmt: skip
        if group not in groups:
            continue
        if present:
            launcher.observe([source], resources={"paths": _paths_resource(defs)})
            log(f"observed {source.key.to_user_string()}")
        else:
            groups.remove(group)
            log(missing)
    keys = pipeline_keys(defs, groups)
    done: list[str] = []
    rounds = 0
    while rounds < MAX_ROUNDS:
        todo = _todo(instance, defs, keys)
        if not todo:
            break
        rounds += 1
        for line in run_layer(launcher, defs, todo):
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
        ("osu! manifest", home / "osu" / "manifest.parquet"),
        ("osu! blacklist", home / "osu" / "blacklist.parquet"),
        ("osu! tokens", home / "osu" / "tokens.parquet"),
        ("osu! model", home / "models" / "osu" / "best.pt"),
        ("osu! snapshots", home / "osu" / "snapshots"),
        ("osu! evaluation", home / "osu" / "evaluation.md"),
        ("edit alignment", home / "editor" / "alignment.parquet"),
        ("edit plots", home / "editor" / "plots"),
        ("wandb (offline)", home / "wandb"),
        ("Dagster instance", home / "dagster_home"),
    ):
        mark = "" if path.exists() else "  (missing)"
        print(f"  {label:<17} {path}{mark}")
    print(f"\nbrowse: DAGSTER_HOME={home / 'dagster_home'} AUTOMAPPER_HOME={home} dg dev")
    print(
        f"these models (trained on this corpus): .venv/bin/automapper generate SONG --models {home / 'models'}"
    )
    print(
        "an osu! map for your own song (the osu! model shipped with automapper, trained on real maps):\n"
        "  .venv/bin/automapper osu generate SONG.mp3 --stars 4 -o song.osz"
    )
    print(
        "a real map for your own song (the models shipped with automapper, trained on real maps):\n"
        "  .venv/bin/automapper generate SONG.mp3 -d Expert ExpertPlus -o song.zip"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m automapper_assets.pipeline", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--home", help="data root (default: $AUTOMAPPER_HOME, else ./data)")
    parser.add_argument(
        "--raw", help="a folder of map zips to read in place instead of <home>/raw (never modified)"
    )
    parser.add_argument(
        "--profile",
        choices=profile_names(),
        help="training presets of all stages (configs/profiles.toml; default: demo)",
    )
    args = parser.parse_args(argv)
    home = resolve_home(args.home)
    started = time.monotonic()
    try:
        result = run_pipeline(home, raw_dir=Path(args.raw) if args.raw else None, profile=args.profile)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    except Stopped as stop:
        print(stop.line, file=sys.stderr, flush=True)
        return stop.exit_code
    print(f"\nmain job done in {time.monotonic() - started:.1f} s, {result['rounds']} layer(s)")
    print_outputs(home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
