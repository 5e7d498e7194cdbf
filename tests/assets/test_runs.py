"""Crash recovery without the daemon, one main job per home, stopping on SIGTERM, `dg` from the checkout.

The fast tests build run records and pool claims by hand on a temporary sqlite instance; the slow
one drives real `python -m automapper_assets.pipeline` processes (a copy of the source with smoke
presets, as tests/assets/test_versioning.py makes it) through SIGTERM and kill -9.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData

from automapper_assets import launcher as launcher_module
from automapper_assets.launcher import InProcessLauncher
from automapper_assets.pipeline import main as pipeline_main
from automapper_assets.runs import (
    HOST_TAG,
    PID_STARTED_TAG,
    PID_TAG,
    HomeBusy,
    home_lock,
    launcher_tags,
    lock_holder,
    pool_lock,
    recover_dead_runs,
    short,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "instance").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "instance")) as inst:
        inst.event_log_storage.set_concurrency_slots("gpu", 3)
        yield inst


def _dead_pid() -> int:
    """The PID of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _run(instance, tags: dict[str, str], status=dg.DagsterRunStatus.STARTED) -> dg.DagsterRun:
    return instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", status=status, tags=tags))


def _claims(instance, pool: str = "gpu") -> set[tuple[str, str]]:
    return {
        (s.run_id, s.step_key) for s in instance.event_log_storage.get_concurrency_info(pool).claimed_slots
    }


def _status(instance, run: dg.DagsterRun) -> dg.DagsterRunStatus:
    return instance.get_run_by_id(run.run_id).status


def test_dead_launchers_runs_fail_and_free_their_slots_live_and_foreign_ones_stay(instance):
    host, dead = socket.gethostname(), _dead_pid()
    killed = _run(instance, {HOST_TAG: host, PID_TAG: str(dead), PID_STARTED_TAG: "1"})
    live = _run(instance, launcher_tags())
    # this PID is alive, but the process that launched the run started at another time
    reused = _run(instance, {**launcher_tags(), PID_STARTED_TAG: "1"})
    foreign = _run(instance, {HOST_TAG: "another-box", PID_TAG: str(dead)})
    storage = instance.event_log_storage
    storage.claim_concurrency_slot("gpu", killed.run_id, "onset_model")
    storage.claim_concurrency_slot("gpu", live.run_id, "sequence_model")
    storage.claim_concurrency_slot("gpu", foreign.run_id, "lighting_model")

    recovery = recover_dead_runs(instance)

    assert {r for r, _ in recovery.failed} == {killed.run_id, reused.run_id}
    assert _status(instance, killed) == _status(instance, reused) == dg.DagsterRunStatus.FAILURE
    assert _status(instance, live) == _status(instance, foreign) == dg.DagsterRunStatus.STARTED
    assert _claims(instance) == {(live.run_id, "sequence_model"), (foreign.run_id, "lighting_model")}
    line = recovery.line()
    assert f"run {short(killed.run_id)} marked failed (launcher pid {dead} is gone)" in line
    assert f"freed the gpu slot of onset_model (run {short(killed.run_id)})" in line
    assert f"run {short(foreign.run_id)} left alone (launched on another-box)" in line
    assert short(live.run_id) not in line
    assert (
        recover_dead_runs(instance).line()
        == f"not recovered: run {short(foreign.run_id)} left alone (launched on another-box)"
    )


def test_untagged_run_is_judged_by_the_pid_it_logged(instance):
    """A run from before the tags (or from `dagster dev`): the executing PID of its engine events."""
    gone = _run(instance, {})
    instance.report_engine_event("Executing steps in process", gone, EngineEventData.in_process(_dead_pid()))
    running = _run(instance, {})
    instance.report_engine_event(
        "Executing steps in process", running, EngineEventData.in_process(os.getpid())
    )
    silent = _run(instance, {})  # no PID logged yet, and just created: it may still be starting
    instance.event_log_storage.claim_concurrency_slot("gpu", gone.run_id, "onset_model")

    recovery = recover_dead_runs(instance)

    assert [r for r, _ in recovery.failed] == [gone.run_id]
    assert _status(instance, gone) == dg.DagsterRunStatus.FAILURE
    assert _status(instance, running) == _status(instance, silent) == dg.DagsterRunStatus.STARTED
    assert _claims(instance) == set()


def test_slot_left_by_a_finished_run_of_a_dead_launcher_is_given_back(instance):
    """A run marked failed by hand (UI "Mark as failed") keeps its claim; nobody else frees it without the daemon."""
    run = _run(instance, {HOST_TAG: socket.gethostname(), PID_TAG: str(_dead_pid())})
    instance.event_log_storage.claim_concurrency_slot("gpu", run.run_id, "onset_model")
    instance.report_run_failed(run, "marked failed by hand")
    mine = _run(instance, launcher_tags())
    instance.event_log_storage.claim_concurrency_slot("gpu", mine.run_id, "onset_model")
    instance.report_run_failed(mine, "just ended; its live launcher frees its own slots")

    recovery = recover_dead_runs(instance)

    assert recovery.failed == []
    assert recovery.freed == [(run.run_id, [("gpu", "onset_model")])]
    assert _claims(instance) == {(mine.run_id, "onset_model")}


def test_waiting_step_reports_who_holds_the_slot(instance, monkeypatch):
    monkeypatch.setattr(launcher_module, "POLL_S", 0.2)
    instance.event_log_storage.set_concurrency_slots("gpu", 1)
    holder = _run(instance, launcher_tags())
    instance.event_log_storage.claim_concurrency_slot("gpu", holder.run_id, "onset_model")

    @dg.asset(pool="gpu")
    def toy_model() -> None:
        return None

    job = dg.Definitions(assets=[toy_model]).resolve_implicit_global_asset_job_def()
    lines: list[str] = []

    def release_after_report() -> None:
        deadline = time.monotonic() + 60
        while not any("held by" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        instance.event_log_storage.free_concurrency_slots_for_run(holder.run_id)

    releaser = threading.Thread(target=release_after_report)
    releaser.start()
    with InProcessLauncher(instance, lines.append) as launcher:
        result = launcher.execute(job, raise_on_error=False)
    releaser.join()

    assert result.success
    assert result.dagster_run.tags[PID_TAG] == str(os.getpid())
    report = next(line for line in lines if "held by" in line)
    assert report.startswith(f"toy_model (run {short(result.run_id)}) has waited")
    assert (
        f"for a gpu slot (limit 1): held by run {short(holder.run_id)} step onset_model (STARTED, pid {os.getpid()}"
        in report
    )
    assert len([line for line in lines if "held by" in line]) == 1  # once a minute, not once a poll


def test_lock_refuses_a_second_job_and_is_free_after_sigkill(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOMAPPER_HOME", str(tmp_path))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\nfrom automapper_assets.runs import home_lock\n"
            "with home_lock(pathlib.Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(300)\n",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_holder(tmp_path) == holder.pid
        busy = rf"another main job \(pid {holder.pid}\) is running on"
        with pytest.raises(HomeBusy, match=busy), home_lock(tmp_path):
            pass
        with pytest.raises(HomeBusy) as refused:  # the main job itself: one line, exit status 1
            pipeline_main(["--home", str(tmp_path)])
        assert "\n" not in str(refused.value.code)
        assert not (tmp_path / "dagster_home").exists()  # refused before touching anything
    finally:
        holder.kill()
        holder.wait()
    assert lock_holder(tmp_path) is None
    with home_lock(tmp_path):
        assert lock_holder(tmp_path) == os.getpid()


def test_pool_lock_waits_says_who_holds_it_and_is_free_after_sigkill(tmp_path, monkeypatch):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\nfrom automapper_assets.runs import pool_lock\n"
            "with pool_lock(pathlib.Path(sys.argv[1]), 'gpu'):\n    print('held', flush=True)\n    time.sleep(300)\n",
            str(tmp_path),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    said: list[str] = []
    got = threading.Event()

    def waiter() -> None:
        with pool_lock(tmp_path, "gpu", 1, say=said.append):
            got.set()

    monkeypatch.setattr("automapper_assets.runs.POOL_LOCK_LOG_S", 0.3)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        with pool_lock(tmp_path, "gpu", 2):  # a limit of 2 (two GPUs): the second lock is free
            assert time.monotonic() - t0 < 1.0
        thread = threading.Thread(target=waiter, daemon=True)
        thread.start()
        time.sleep(1.0)
        assert not got.is_set()  # the second user waits while the first holds the pool
        assert said and f"held by pid {holder.pid}" in said[0] and "gpu pool" in said[0]
    finally:
        holder.kill()  # SIGKILL: the OS drops the flock with the process
        holder.wait()
    thread.join(timeout=10)
    assert got.is_set()


def test_dg_check_defs_without_dagster_home():
    dg_exe = Path(sys.executable).parent / "dg"
    if not dg_exe.exists():
        pytest.skip("the dg executable is not installed in this environment")
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    done = subprocess.run(
        [str(dg_exe), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    assert "All definitions loaded successfully" in output


# --- the real main job: SIGTERM while waiting and while training, kill -9, then a clean rerun --------


class Job:
    """A `python -m automapper_assets.pipeline` process on the copied source, its output collected."""

    def __init__(self, src: Path, home: Path):
        env = {k: v for k, v in os.environ.items() if k not in ("AUTOMAPPER_PROFILE", "AUTOMAPPER_RAW")}
        env.update(PYTHONPATH=str(src), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "automapper_assets.pipeline", "--home", str(home)],
            cwd=src,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self._reader.start()

    def wait_for(self, predicate, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.proc.poll() is None, "".join(self.lines[-40:])
            assert time.monotonic() < deadline, "".join(self.lines[-40:])
            time.sleep(0.2)

    def stop(self, signum: int, timeout: float = 120) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signum)
        rc = self.proc.wait(timeout)
        self._reader.join(10)
        return rc, time.monotonic() - started

    def runs(self, instance) -> list[dg.DagsterRun]:
        return list(instance.get_runs(dg.RunsFilter(tags={PID_TAG: str(self.proc.pid)})))


def _slot_of(instance, job: Job) -> bool:
    ids = {r.run_id for r in job.runs(instance)}
    return any(run_id in ids for run_id, _ in _claims(instance))


@pytest.mark.slow
def test_sigterm_stops_the_main_job_and_a_killed_one_is_cleaned_up(tmp_path):
    from automapper_ml.synth import DemoConfig, generate_demo_corpus
    from tests.assets.test_versioning import _copy_source

    src, home = _copy_source(tmp_path / "src"), tmp_path / "home"
    generate_demo_corpus(home, DemoConfig(n_songs=2, n_reference=1, include_broken=False))
    (home / "dagster_home").mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(home / "dagster_home"))
    storage = instance.event_log_storage
    storage.set_concurrency_slots("gpu", 1)
    # A live run of this test process holds the only gpu slot: the first training step must wait.
    holder = _run(instance, launcher_tags())
    storage.claim_concurrency_slot("gpu", holder.run_id, "onset_model")

    # 1. SIGTERM while a step waits for the slot (Dagster only notes a signal there)
    waiting = Job(src, home)
    waiting.wait_for(lambda: any(f"held by run {short(holder.run_id)}" in line for line in waiting.lines))
    rc, took = waiting.stop(signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, "".join(waiting.lines[-20:])
    assert took < 60
    assert waiting.lines[-1].startswith("stopped by SIGTERM"), waiting.lines[-1]
    stopped = [r for r in waiting.runs(instance) if r.status != dg.DagsterRunStatus.SUCCESS]
    assert [r.status for r in stopped] == [dg.DagsterRunStatus.CANCELED]
    assert _claims(instance) == {(holder.run_id, "onset_model")}
    assert {p.run_id for p in storage.get_concurrency_info("gpu").pending_steps} == {holder.run_id}
    print(f"SIGTERM while waiting for the gpu slot: exited in {took:.1f} s")
    storage.free_concurrency_slots_for_run(holder.run_id)
    instance.report_run_canceled(holder)

    # 2. SIGTERM while training (a RetryPolicy step: Dagster would retry the interrupted step)
    training = Job(src, home)
    training.wait_for(lambda: _slot_of(instance, training))
    rc, took = training.stop(signal.SIGTERM)
    assert rc == 128 + signal.SIGTERM, "".join(training.lines[-20:])
    assert took < 60
    assert training.lines[-1].startswith("stopped by SIGTERM"), training.lines[-1]
    assert dg.DagsterRunStatus.CANCELED in {r.status for r in training.runs(instance)}
    assert not any(
        r.status in (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING)
        for r in training.runs(instance)
    )
    assert _claims(instance) == set()
    print(f"SIGTERM while training: exited in {took:.1f} s")

    # 3. kill -9 while training leaves the run STARTED and the slot claimed (what used to hang)
    killed = Job(src, home)
    killed.wait_for(lambda: _slot_of(instance, killed))
    killed.stop(signal.SIGKILL)
    dead_run = next(r for r in killed.runs(instance) if r.status == dg.DagsterRunStatus.STARTED)
    assert any(run_id == dead_run.run_id for run_id, _ in _claims(instance))

    # 4. the next start cleans that up in one line and finishes the graph
    rerun = Job(src, home)
    assert rerun.proc.wait(600) == 0, "".join(rerun.lines[-40:])
    rerun._reader.join(10)
    recovered = [line for line in rerun.lines if line.startswith("recovered after a dead launcher")]
    assert len(recovered) == 1, rerun.lines[:10]
    assert (
        f"run {short(dead_run.run_id)} marked failed (launcher pid {killed.proc.pid} is gone)" in recovered[0]
    )
    assert "freed the gpu slot of" in recovered[0]
    assert _status(instance, dead_run) == dg.DagsterRunStatus.FAILURE
    assert any(line.startswith("main job done") for line in rerun.lines)
    assert _claims(instance) == set()
    assert (home / "models" / "onset" / "best.pt").exists()
