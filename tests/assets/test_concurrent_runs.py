"""Two runs at once on the repo's dagster.yaml (default sqlite storage): no "database is locked",
and the `gpu` pool (limit 1, backed by `runs.holds_pool`'s flock) lets only one training-like step
run at a time, even when Dagster's non-atomic sqlite claim hands out two slots."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest

REPO = Path(__file__).resolve().parents[2]

# One run: a "training" step in pool gpu that logs a lot (event-log writes) and records its window.
WORKER = textwrap.dedent(
    """
    import json, sys, time
    import dagster as dg
    from automapper_assets.runs import holds_pool

    name, out = sys.argv[1], sys.argv[2]

    @dg.asset(name=f"train_{name}", pool="gpu")
    @holds_pool("gpu")
    def train(context):
        start = time.time()
        for i in range(150):
            context.log.info(f"{name} step {i}")
        time.sleep(1.0)
        return dg.MaterializeResult(metadata={"start": start, "end": time.time()})

    @dg.asset(name=f"report_{name}", deps=[train])
    def report(context):
        for i in range(100):
            context.log.info(f"{name} report {i}")

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([train, report], instance=instance, tags={"automapper/test": name})
        meta = result.asset_materializations_for_node(f"train_{name}")[0].metadata
        with open(out, "w") as f:
            json.dump({"run_id": result.run_id, "success": result.success,
                       "start": meta["start"].value, "end": meta["end"].value}, f)
    """
)


@pytest.fixture
def dagster_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    return home


@pytest.mark.slow
@pytest.mark.parametrize("slots", [1, 2], ids=["pool", "pool-double-allocated"])
def test_two_runs_at_once_on_sqlite(dagster_home, tmp_path, monkeypatch, slots):
    """slots=2 under a limit of 1 is what two processes first using a pool at once leave on sqlite
    (each allocates the default limit's slot), so both steps get one: the flock still keeps the
    second step waiting."""
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    # Prepare the instance once first, as the main job (`prepare_instance`) and docs/operations.md's
    # `dagster dev` set-up do: tables created, `gpu` set to 1 explicitly. Left to dagster.yaml's lazy
    # default_limit, two processes using a brand-new pool at the same moment can each allocate its
    # one slot on sqlite (two slots in all): that first-use race is Dagster's, and the explicit
    # limit is what keeps it out.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        instance.get_runs(limit=1)
        storage = instance.event_log_storage
        storage.set_concurrency_slots("gpu", 1)
        if slots > 1:  # the race's outcome, made on purpose (Dagster's own allocation helper)
            with storage.index_transaction() as conn:
                storage._allocate_concurrency_slots(conn, "gpu", slots)
        assert (
            storage.get_concurrency_info("gpu").slot_count,
            storage.get_concurrency_info("gpu").limit,
        ) == (
            slots,
            1,
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, name, str(tmp_path / f"{name}.json")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in ("one", "two")
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=240)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, output in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, output[-3000:]
        assert "database is locked" not in output
    windows = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two")]
    assert all(w["success"] for w in windows)
    first, second = sorted(windows, key=lambda w: w["start"])
    assert second["start"] >= first["end"] - 0.05  # the second step waited for the first one

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # dagster.yaml reads it
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"automapper/test": "one"}))
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        logs = instance.all_logs(runs[0].run_id)
        assert sum("one step" in (e.user_message or "") for e in logs) == 150
        info = instance.event_log_storage.get_concurrency_info("gpu")
        assert (info.slot_count, info.active_slot_count) == (slots, 0)  # every slot given back


def test_crashed_run_gives_its_gpu_slot_back(dagster_home, monkeypatch):
    """run_monitoring.free_slots_after_run_end_seconds: the daemon's sweep frees a dead run's slot."""
    import datetime
    from types import SimpleNamespace

    from dagster._daemon.monitoring import concurrency

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    with dg.DagsterInstance.get() as instance:
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] == 300
        storage = instance.event_log_storage
        storage.set_concurrency_slots("gpu", 1)
        run = instance.create_run_for_job(dg.define_asset_job("j").resolve(asset_graph=_graph()))
        assert storage.claim_concurrency_slot("gpu", run.run_id, "train").is_claimed
        assert not storage.claim_concurrency_slot("gpu", "other-run", "train").is_claimed
        instance.report_run_failed(run)  # what run monitoring does to a run whose worker died
        later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=301)
        monkeypatch.setattr(concurrency, "get_current_datetime", lambda: later)
        for _ in concurrency.execute_concurrency_slots_iteration(
            SimpleNamespace(instance=instance), dg.get_dagster_logger()
        ):
            pass
        assert storage.get_concurrency_info("gpu").active_slot_count == 0
        assert storage.claim_concurrency_slot("gpu", "other-run", "train").is_claimed


def _graph():
    @dg.asset(pool="gpu")
    def train() -> None:
        return None

    return dg.Definitions(assets=[train]).resolve_asset_graph()
