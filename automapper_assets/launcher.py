"""`InProcessLauncher`: how the main job executes its Dagster runs in its own process.

It tags every run with this process (`runs.launcher_tags`), reports once a minute which run holds
the pool slot a step waits for, and stops on SIGTERM or Ctrl-C within seconds: the run in flight is
marked canceled, its pool slots are freed, and `Stopped` (a KeyboardInterrupt) reaches the caller,
which exits 128 + the signal number. Checkpoints are written atomically, so whatever was saved
stays valid and the next start resumes from it.

Why a watcher thread: during a run Dagster replaces the SIGINT/SIGTERM handlers. Inside an asset
body it raises, but a step with a RetryPolicy (the training assets) turns that interruption into a
retry and the run carries on with the next step; in Dagster's own code (waiting for a pool slot or
a retry) it only notes the signal, which the in-process executor never reads. Either way `kill PID`
went unheeded. The thread learns of every signal through `signal.set_wakeup_fd`, whoever handles
it, marks the run canceling, waits until the interrupted step has unwound (its finally blocks ran;
STOP_GRACE_S at most), then finishes the clean-up itself and ends the process unless the main
thread got there first.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

import dagster as dg
from dagster._core.definitions.observe import observe
from dagster._core.events import DagsterEventType

from automapper_assets.runs import (
    HOST_TAG,
    IN_FLIGHT,
    PID_TAG,
    claimed_slots,
    launcher_tags,
    short,
)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_GRACE_S = 10.0  # the longest an interrupted asset body gets to unwind (finally blocks, wandb)
SETTLE_S = 1.0  # once no step runs, how long the main thread gets to return by itself
STEP_STARTS = {DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED}
STEP_ENDS = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE, DagsterEventType.STEP_UP_FOR_RETRY}
STEP_EVENTS = STEP_STARTS | STEP_ENDS
POLL_S = 5.0  # how often the watcher looks at pool slots
REPORT_EVERY_S = 60.0  # one line per waiting step per minute


class Stopped(KeyboardInterrupt):
    """The main job was asked to stop by a signal; `line` says what was cleaned up."""

    def __init__(self, signum: int, line: str = ""):
        super().__init__(signum)
        self.signum = signum
        self.line = line or f"stopped by {signal.Signals(signum).name}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class InProcessLauncher:
    """Executes runs in this process for one command; a context manager (signals, watcher thread)."""

    def __init__(self, instance: dg.DagsterInstance, log: Callable[[str], object] = print):
        self.instance = instance
        self.log = log
        self.tags = launcher_tags()
        self._signum = 0
        self._stop_wall = 0.0  # time.time() of the stop signal
        self._lock = threading.Lock()
        self._line = ""
        self._done = threading.Event()  # the clean-up after a stop is finished
        self._closed = threading.Event()
        self._reported: dict[tuple[str, str, str], float] = {}  # (pool, run, step) -> last report
        self._saved: dict = {}
        self._socks: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------------

    def execute(self, job: dg.JobDefinition, **kwargs) -> dg.ExecuteInProcessResult:
        """`job.execute_in_process(**kwargs)` with this launcher's tags; Stopped if a stop came meanwhile."""
        self.check()
        result = job.execute_in_process(instance=self.instance, tags=self.tags, **kwargs)
        self.check()
        return result

    def observe(self, assets: list, **kwargs) -> dg.ExecuteInProcessResult:
        self.check()
        result = observe(assets, instance=self.instance, tags=self.tags, **kwargs)
        self.check()
        return result

    def check(self) -> None:
        if self._signum:
            raise Stopped(self._signum)

    def in_flight(self) -> list[dg.DagsterRun]:
        """This process's runs that have not ended."""
        mine = {k: self.tags[k] for k in (HOST_TAG, PID_TAG)}
        return list(self.instance.get_runs(dg.RunsFilter(tags=mine, statuses=IN_FLIGHT)))

    # -- context ---------------------------------------------------------------------------------

    def __enter__(self) -> InProcessLauncher:
        if threading.current_thread() is threading.main_thread():
            read, write = socket.socketpair()
            write.setblocking(False)  # set_wakeup_fd needs it; a full buffer drops bytes, not signals
            self._socks = (read, write)
            self._saved = {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}
            self._saved["wakeup"] = signal.set_wakeup_fd(write.fileno(), warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="automapper-run-watcher", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if isinstance(exc, KeyboardInterrupt) and not self._signum:  # Ctrl-C caught by other code first
            self._signum, self._stop_wall = signal.SIGINT, time.time()
        if self._signum:
            line = self.finish()
            if isinstance(exc, Stopped):
                exc.line = line
        self._closed.set()
        if self._socks:
            signal.set_wakeup_fd(self._saved.pop("wakeup"))
            for signum, handler in self._saved.items():
                signal.signal(signum, handler)
            self._socks[1].send(b"\0")  # wake the watcher so it sees _closed
        if self._thread:
            self._thread.join(timeout=POLL_S + 1)
        if self._socks:
            for sock in self._socks:
                sock.close()
        if self._signum and exc is not None and not isinstance(exc, Stopped):
            raise Stopped(self._signum, self._line) from exc  # the stop, not its side effect

    def _on_signal(self, signum: int, frame) -> None:
        """Main-thread handler outside runs (Dagster installs its own during a run). It only notes
        the stop: the database work is the watcher's and `finish`'s, never a signal handler's."""
        if not self._signum:
            self._signum, self._stop_wall = signum, time.time()
        raise Stopped(self._signum)

    # -- stopping --------------------------------------------------------------------------------

    def _mark_canceling(self, signum: int) -> list[dg.DagsterRun]:
        """Note the stop and mark this process's in-flight runs canceling, so that Dagster, when the
        interruption reaches it, ends them as canceled rather than failed."""
        with self._lock:
            if not self._signum:
                self._signum, self._stop_wall = signum, time.time()
        runs = self.in_flight()
        for run in runs:
            if run.status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED):
                self.instance.report_run_canceling(run, f"stop requested by {signal.Signals(signum).name}")
        return runs

    def finish(self) -> str:
        """End every run this process left in flight as canceled, free its slots; the one-line summary."""
        with self._lock:
            if self._done.is_set():
                return self._line
            name = signal.Signals(self._signum).name
            claims = claimed_slots(self.instance)
            ended, freed = [], []
            for run in self._stopped_runs():
                if not run.is_finished:
                    self.instance.report_run_canceled(run, f"stopped by {name}")
                    run = self.instance.get_run_by_id(run.run_id) or run
                elif run.status == dg.DagsterRunStatus.FAILURE:  # Dagster ended it first, as interrupted
                    self.instance.report_engine_event(f"stopped by {name}", run)
                self.instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
                ended.append(f"{short(run.run_id)} {run.status.value.lower()}")
                freed += [f"{pool} slot of {step}" for pool, step in claims.get(run.run_id, [])]
            took = time.time() - self._stop_wall
            what = f"run {', '.join(ended)}" if ended else "no run was in flight"
            slots = f", freed the {', '.join(freed)}" if freed else ""
            self._line = (
                f"stopped by {name} in {took:.1f} s: {what}{slots}; "
                "checkpoints already written are kept, the next start resumes"
            )
            self._done.set()
            return self._line

    def _stopped_runs(self) -> list[dg.DagsterRun]:
        """Runs of this process not yet ended, and those that ended other than successfully since
        the stop began (Dagster may end an interrupted run before the watcher marks it)."""
        mine = {k: self.tags[k] for k in (HOST_TAG, PID_TAG)}
        out = []
        for record in self.instance.get_run_records(dg.RunsFilter(tags=mine), limit=20):
            run = record.dagster_run
            recent = (record.end_time or 0) >= self._stop_wall - 1
            if not run.is_finished or (recent and run.status != dg.DagsterRunStatus.SUCCESS):
                out.append(run)
        return out

    def _stop_from_watcher(self, signum: int) -> None:
        """A signal seen by the watcher. Once the interrupted step has unwound (or no step is running),
        the main thread gets SETTLE_S to return by itself, STOP_GRACE_S at most; then the watcher
        finishes the clean-up and ends the process."""
        try:
            ids = {r.run_id for r in self._mark_canceling(signum)}
        except Exception as exc:  # the clean-up below still frees what it can
            self.log(f"note: could not mark the runs canceling ({exc})")
            ids = set()
        deadline = time.monotonic() + STOP_GRACE_S
        settling = False
        while time.monotonic() < deadline:
            if self._done.wait(0.2) or self._closed.is_set():
                return
            if not settling and ids and self._no_step_running(ids):
                settling, deadline = True, min(deadline, time.monotonic() + SETTLE_S)
        line = self.finish()
        print(line, file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(128 + self._signum)  # the flock and every file close with the process

    def _no_step_running(self, run_ids: set[str]) -> bool:
        """Whether user code has stopped running in these runs: a step ended since the stop (the
        interrupted one, which Dagster turns into a retry under a RetryPolicy and then carries on
        with the next step), or the last step event is not a start (waiting for a slot or a retry)."""
        try:
            for run_id in run_ids:
                events = self.instance.all_logs(run_id, of_type=STEP_EVENTS)
                if any(e.dagster_event_type in STEP_ENDS and e.timestamp >= self._stop_wall for e in events):
                    return True
                if not events or events[-1].dagster_event_type not in STEP_STARTS:
                    return True
        except Exception:  # unreadable now: let the grace period decide
            return False
        return False

    # -- watching --------------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._closed.is_set():
            readable = []
            if self._socks:
                readable = select.select([self._socks[0]], [], [], POLL_S)[0]
            else:
                self._closed.wait(POLL_S)
            if self._closed.is_set():
                return
            if readable:
                signums = [s for s in self._socks[0].recv(64) if s in STOP_SIGNALS]
                if signums:
                    self._stop_from_watcher(signums[0])
                    return
                continue
            try:
                self._report_waits()
            except Exception as exc:  # a storage hiccup must not kill the watcher; say it once a poll
                self.log(f"note: could not read pool slots ({exc})")

    def _report_waits(self) -> None:
        """One line per minute for each step of ours that waits for a pool slot, naming the holders."""
        runs = {r.run_id: r for r in self.in_flight()}
        if not runs:
            return
        storage = self.instance.event_log_storage
        now = time.monotonic()
        for pool in sorted(storage.get_concurrency_keys()):
            info = storage.get_concurrency_info(pool)
            for pending in info.pending_steps:
                if pending.run_id not in runs or pending.assigned_timestamp is not None:
                    continue
                key = (pool, pending.run_id, pending.step_key)
                if now - self._reported.get(key, -REPORT_EVERY_S) < REPORT_EVERY_S:
                    continue
                self._reported[key] = now
                waited = time.time() - pending.enqueued_timestamp.timestamp()
                self.log(
                    f"{pending.step_key} (run {short(pending.run_id)}) has waited {waited / 60:.1f} min "
                    f"for a {pool} slot (limit {info.slot_count}): {self._holders(info)}"
                )

    def _holders(self, info) -> str:
        if not info.claimed_slots:
            return f"no slot is free (`dagster instance concurrency set {info.concurrency_key} 1`)"
        parts = []
        for slot in info.claimed_slots:
            run = self.instance.get_run_by_id(slot.run_id)
            tags = run.tags if run else {}
            who = (
                f"pid {tags[PID_TAG]} on {tags.get(HOST_TAG, '?')}" if PID_TAG in tags else "no launcher tags"
            )
            status = run.status.value if run else "no such run"
            parts.append(f"run {short(slot.run_id)} step {slot.step_key} ({status}, {who})")
        return "held by " + "; ".join(parts)
