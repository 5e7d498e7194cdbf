"""Runs that this checkout launches in-process: who launched them, and cleaning up after a dead launcher.

The main job and `automapper plan` execute Dagster runs in their own process, without the daemon
whose run monitoring would otherwise notice a dead worker. A launcher killed with `kill -9` leaves
its run STARTED and, worse, its `gpu` pool slot claimed, so the next main job would wait for that
slot forever. Every run launched here therefore carries the launcher's host, PID and process start
time as tags (`launcher_tags`), and `recover_dead_runs` runs before any new work: a run whose
launcher is gone is marked failed and its pool slots are freed. Runs launched on another host are
left alone. `home_lock` keeps a second main job off the same data root while one is alive; the OS
drops the flock when its holder dies, so a killed job never blocks the next one.

`holds_pool` backs the `gpu` pool with a flock in the instance folder. Dagster's pool claim on
sqlite is not atomic across processes (its SELECT ... FOR UPDATE is a plain SELECT there), so two
runs whose training steps ask for the one slot in the same instant can both get it; the flock makes
the second step wait on this host whatever the storage does.
"""

from __future__ import annotations

import fcntl
import functools
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from dagster._core.events import DagsterEventType

HOST_TAG = "automapper/host"
PID_TAG = "automapper/pid"
PID_STARTED_TAG = "automapper/pid_started"  # clock ticks since boot: a reused PID does not match
LOCK_FILE = ".automapper.lock"
POOL_LOCK_LOG_S = 60.0  # a step waiting on a pool's flock says so once a minute
LOCK_WAIT_S = 1.0  # `automapper plan` probes the lock for an instant; a starting job retries past that
# A run without launcher tags (an older version, or `dagster dev`) that never logged its PID is
# only called dead after this long, as run monitoring's start_timeout_seconds does (dagster.yaml).
UNTAGGED_TIMEOUT_S = 300.0
# A slot still claimed by a run that ended this long ago is an orphan whoever launched it
# (dagster.yaml's free_slots_after_run_end_seconds, which needs the daemon).
FREE_AFTER_END_S = 300.0
IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def process_started(pid: int) -> str:
    """Start time of `pid` in clock ticks since boot (field 22 of /proc/<pid>/stat); "" when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # the name may hold spaces: count after its ")"


def _process_start_epoch(pid: int) -> float | None:
    """Start of `pid` in seconds since the epoch (boot time + its start ticks); None without /proc."""
    ticks = process_started(pid)
    try:
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return int(boot.split()[1]) + int(ticks) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError):
        return None


def process_alive(pid: int, started: str = "") -> bool:
    """Whether `pid` runs here and, when `started` is given, is the same process (not a reused PID)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):  # killed, not yet reaped by its parent
            return False
    except (OSError, IndexError):
        return True  # no /proc: os.kill is all we can know
    return not started or process_started(pid) in ("", started)


def launcher_tags() -> dict[str, str]:
    """Tags naming this process as the launcher of a run (host, PID, start time)."""
    pid = os.getpid()
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(pid), PID_STARTED_TAG: process_started(pid)}


def short(run_id: str) -> str:
    return run_id[:8]


def _logged_pid(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, time) of the first engine event naming a PID: the process that executed the run."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        value = data.metadata.get("pid") if data else None
        if value is not None and str(value.value).isdigit():
            return int(value.value), entry.timestamp
    return None


def _local_storage(instance: dg.DagsterInstance) -> bool:
    """Runs stored in sqlite (or memory) were launched on this machine; a database may be shared."""
    module = type(instance.run_storage).__module__
    return "sqlite" in module or "in_memory" in module


def launcher_verdict(instance: dg.DagsterInstance, record, other_job: int | None = None) -> tuple[str, str]:
    """("alive" | "dead" | "elsewhere", why) for the process that launched `record`'s run.
    `other_job` is the PID of a live main job on this home (an untagged run may be its own)."""
    run = record.dagster_run
    tags = run.tags
    if PID_TAG in tags:
        host, pid = tags.get(HOST_TAG, ""), int(tags[PID_TAG])
        if host and host != socket.gethostname():
            return "elsewhere", f"launched on {host}"
        if process_alive(pid, tags.get(PID_STARTED_TAG, "")):
            return "alive", f"pid {pid} is running"
        return "dead", f"launcher pid {pid} is gone"
    if not _local_storage(instance):
        return "elsewhere", "no launcher tags and a shared database"
    logged = _logged_pid(instance, run.run_id)
    if logged:
        pid, at = logged
        start = _process_start_epoch(pid)
        if process_alive(pid) and (start is None or start <= at + 2):
            return "alive", f"pid {pid} is running"
        return "dead", f"pid {pid} is gone"
    if other_job is not None:
        return "alive", "a main job holds this home"
    age = time.time() - record.update_timestamp.timestamp()
    if age < UNTAGGED_TIMEOUT_S:
        return "alive", "no launcher recorded yet"
    return "dead", f"no launcher recorded, silent for {age / 60:.0f} min"


def claimed_slots(instance: dg.DagsterInstance) -> dict[str, list[tuple[str, str]]]:
    """run id -> [(pool, step key)] of every claimed pool slot."""
    storage = instance.event_log_storage
    out: dict[str, list[tuple[str, str]]] = {}
    for pool in sorted(storage.get_concurrency_keys()):
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            out.setdefault(slot.run_id, []).append((pool, slot.step_key))
    return out


@dataclass
class Recovery:
    """What `recover_dead_runs` did."""

    failed: list[tuple[str, str]] = field(default_factory=list)  # (run id, why) marked failed
    freed: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)  # (run id, slots)
    elsewhere: list[tuple[str, str]] = field(default_factory=list)  # (run id, why) left alone

    def line(self) -> str | None:
        """One line for the console; None when there was nothing to do."""
        parts = [f"run {short(r)} marked failed ({why})" for r, why in self.failed]
        for run_id, slots in self.freed:
            names = ", ".join(f"{pool} slot of {step}" for pool, step in slots) or "its pending claims"
            parts.append(f"freed the {names} (run {short(run_id)})")
        parts += [f"run {short(r)} left alone ({why})" for r, why in self.elsewhere]
        if not parts:
            return None
        head = "recovered after a dead launcher" if self.failed or self.freed else "not recovered"
        return f"{head}: " + "; ".join(parts)


def recover_dead_runs(instance: dg.DagsterInstance, home: Path | None = None) -> Recovery:
    """Mark failed every in-flight run whose launcher died, and free the pool slots it holds; also
    free slots that finished runs never gave back. `home`: the data root whose main-job lock tells
    whether an untagged run may belong to a live main job."""
    other = lock_holder(home) if home is not None else None
    other = None if other == os.getpid() else other
    result = Recovery()
    claims = claimed_slots(instance)
    storage = instance.event_log_storage
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        if run.status == dg.DagsterRunStatus.NOT_STARTED and PID_TAG not in run.tags:
            continue  # created by another tool and not yet launched: not ours to judge
        state, why = launcher_verdict(instance, record, other)
        if state == "elsewhere":
            result.elsewhere.append((run.run_id, why))
        elif state == "dead":
            instance.report_run_failed(run, f"automapper: {why}; marked failed by pid {os.getpid()}")
            storage.free_concurrency_slots_for_run(run.run_id)
            result.failed.append((run.run_id, why))
            if run.run_id in claims:
                result.freed.append((run.run_id, claims[run.run_id]))
    judged = {r for r, _ in result.failed} | {r for r, _ in result.elsewhere}
    for run_id in sorted(storage.get_concurrency_run_ids() - judged):
        record = instance.get_run_record_by_id(run_id)
        if record is not None and not record.dagster_run.is_finished:
            continue  # in flight with a live launcher: its slot is in use
        just_ended = record is not None and time.time() - (record.end_time or 0) < FREE_AFTER_END_S
        if just_ended and launcher_verdict(instance, record, other)[0] != "dead":
            continue  # its launcher may still be releasing it
        storage.free_concurrency_slots_for_run(run_id)
        result.freed.append((run_id, claims.get(run_id, [])))
    return result


class HomeBusy(SystemExit):
    """Another main job holds this data root (a one-line message, exit status 1)."""


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


@contextmanager
def home_lock(home: Path) -> Iterator[None]:
    """Hold <home>/.automapper.lock (flock, with this PID in it) for one main job; HomeBusy if held."""
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pid = _read_pid(fd)
                    who = f"pid {pid}" if pid else "another process"
                    raise HomeBusy(
                        f"another main job ({who}) is running on {home}; wait for it or stop it"
                        f"{f' (kill {pid})' if pid else ''}"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def lock_holder(home: Path) -> int | None:
    """PID of the live main job holding <home>'s lock (this process included); None when free."""
    path = home / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd) or -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def pool_lock(
    root: Path, pool: str, limit: int = 1, say: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold one of <root>/.pool-<pool>-<i>.lock, i < limit (flock, this PID in it), while a step uses
    the pool: a counting semaphore of `limit` that waits for a free lock."""
    root.mkdir(parents=True, exist_ok=True)
    fds = [
        os.open(root / f".pool-{pool}-{i}.lock", os.O_RDWR | os.O_CREAT, 0o644) for i in range(max(1, limit))
    ]
    try:
        start = last = time.monotonic()
        held = None
        while held is None:
            for fd in fds:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = fd
                    break
                except BlockingIOError:
                    continue
            if held is not None:
                break
            now = time.monotonic()
            if say is not None and now - last >= POOL_LOCK_LOG_S:
                pids = [pid for pid in map(_read_pid, fds) if pid]
                who = f"pid {', '.join(map(str, pids))}" if pids else "another process"
                say(f"has waited {(now - start) / 60:.1f} min for the {pool} pool's lock (held by {who})")
                last = now
            time.sleep(0.2)
        os.ftruncate(held, 0)
        os.pwrite(held, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        for fd in fds:
            os.close(fd)  # closing drops the flock; a killed holder's lock goes with its process


def pool_limit(instance: dg.DagsterInstance, pool: str) -> int | None:
    """The pool's configured limit (not its slot count, which a racing first use can double); None: unlimited."""
    try:
        return instance.event_log_storage.get_concurrency_info(pool).limit
    except Exception:  # storage without pools: dagster.yaml's default of 1
        return 1


def holds_pool(pool: str) -> Callable:
    """Decorate an asset function of pool `pool`: its body runs under `pool_lock` in the instance folder,
    with as many locks as the pool's limit (`dagster instance concurrency set gpu N` for N GPUs)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(context: dg.AssetExecutionContext, *args: object, **kwargs: object) -> object:
            limit = pool_limit(context.instance, pool)
            if limit is None:  # no limit configured anywhere: nothing to wait for
                return fn(context, *args, **kwargs)
            root = Path(context.instance.root_directory)
            with pool_lock(root, pool, limit, say=context.log.info):
                return fn(context, *args, **kwargs)

        return wrapper

    return decorate
