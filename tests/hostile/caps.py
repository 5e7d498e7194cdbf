"""Run a command under a memory cap and a time cap, and judge what came back.

Memory is capped twice:
- RLIMIT_AS (address space), set in the child by a tiny exec shim (no `preexec_fn`: the runs start
  from worker threads): 2 GiB for the torch-free commands (inspect, convert, the field sweeps).
  Importing torch alone maps ~4.2 GiB of address space (measured: `generate` on a 20 s song peaks
  at VmPeak 4.2 GiB with VmHWM 0.96 GiB; under RLIMIT_AS 2-4 GiB it cannot even import), so for
  `generate` and the Dagster runs RLIMIT_AS is only a backstop at 8 GiB.
- resident memory, for every run: the parent polls VmRSS of the child and of all its descendants
  every 50 ms and kills the whole process group when any one of them passes RSS_CAP_MIB.
Time: the process group is killed at its deadline. Core dumps are off (RLIMIT_CORE 0).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

GIB = 1 << 30
RSS_CAP_MIB = 2048  # resident memory of any one process of a run
ADDRESS_CAP_LIGHT = 2 * GIB  # RLIMIT_AS for commands that never import torch
ADDRESS_CAP_TORCH = 8 * GIB  # RLIMIT_AS backstop for generate and Dagster (torch maps ~4.2 GiB)
POLL_SECONDS = 0.05

_SHIM = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_AS, (n, n)); resource.setrlimit(resource.RLIMIT_CORE, (0, 0)); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)
_FRAME = re.compile(r'^\s*File "[^"]*", line \d+')
_BUG_LINE = re.compile(r"unexpected.*report this bug", re.IGNORECASE)


@dataclass(frozen=True)
class Outcome:
    """What one capped run did."""

    label: str  # "<case> <command>", for messages
    returncode: int | None  # None when a cap killed it
    stdout: str
    stderr: str
    seconds: float  # wall time
    peak_rss_mib: float  # largest VmRSS seen in any process of the run
    cap: str  # "" | "time" | "memory" | a watcher's reason: what killed it
    timeout_s: float
    kills: tuple[str, ...] = ()  # descendants killed alone at the memory cap (kill_offender_only)


def run_capped(
    argv: list[str | bytes],
    *,
    label: str,
    workdir: Path,
    timeout_s: float,
    address_cap: int = ADDRESS_CAP_LIGHT,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    rss_cap_mib: float = RSS_CAP_MIB,
    kill_offender_only: bool = False,
    watch: Callable[[], str] | None = None,
) -> Outcome:
    """Run `argv` (argv[0] an absolute executable) with the caps; stdout/stderr go to files in `workdir`.

    With `kill_offender_only`, a descendant over the memory cap is killed alone (the parent may
    recover, as the manifest's process pool does) and listed in `kills`; `watch()`, called every
    poll, returns a non-empty reason to kill the whole run (a per-step clock, say)."""
    workdir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    started = time.monotonic()
    peak = 0.0
    cap = ""
    kills: list[str] = []
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", _SHIM, str(address_cap), *argv],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=cwd or workdir,
            env=env,
            start_new_session=True,  # its own process group: a cap kills every descendant
        )
        try:
            while proc.poll() is None:
                for pid in process_tree(proc.pid):
                    rss = rss_mib(pid)
                    peak = max(peak, rss)
                    if rss <= rss_cap_mib:
                        continue
                    if kill_offender_only and pid != proc.pid:
                        kills.append(f"pid {pid} ({_cmdline(pid)}) at {rss:.0f} MiB")
                        _kill(pid)
                    else:
                        cap = "memory"
                if not cap and time.monotonic() - started > timeout_s:
                    cap = "time"
                if not cap and watch is not None:
                    cap = watch()
                if cap:
                    _kill_group(proc)
                    break
                time.sleep(POLL_SECONDS)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
    return Outcome(
        label=label,
        returncode=None if cap else proc.returncode,
        stdout=_text(out_path),
        stderr=_text(err_path),
        seconds=round(time.monotonic() - started, 2),
        peak_rss_mib=round(peak, 1),
        cap=cap,
        timeout_s=timeout_s,
        kills=tuple(kills),
    )


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()[:160]
    except OSError:
        return "?"


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _text(path: Path, limit: int = 1 << 20) -> str:
    with open(path, "rb") as f:
        data = f.read(limit)
    return data.decode("utf-8", "backslashreplace")


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants, via /proc/<pid>/task/<tid>/children (CONFIG_PROC_CHILDREN);
    without it, every process of `pid`'s session (runs start a new session, so that is the run)."""
    if not os.path.exists(f"/proc/{pid}/task/{pid}/children"):
        return _session(pid)
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return found


def _session(pid: int) -> list[int]:
    found = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pid:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == pid:  # field 6 of stat: the session id
                found.append(int(entry))
        except (OSError, ValueError, IndexError):
            pass
    return found


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def crash_problems(o: Outcome) -> list[str]:
    """The ways a run broke the rules whatever was expected: a cap, a signal, a traceback."""
    if o.cap == "time":
        return [f"killed at the time cap ({o.timeout_s:g} s)"]
    if o.cap == "memory":
        return [f"killed at the memory cap (RSS > {RSS_CAP_MIB} MiB)"]
    if o.cap:
        return [f"killed: {o.cap}"]
    found = [f"a process was killed at the memory cap: {k}" for k in o.kills]
    if o.returncode is not None and o.returncode < 0:
        found.append(f"died of signal {signal.Signals(-o.returncode).name}")
    if "MemoryError" in o.stderr or "Cannot allocate memory" in o.stderr:
        found.append("ran out of memory under RLIMIT_AS")
    if "Traceback (most recent call last)" in o.stderr or any(_FRAME.match(x) for x in o.stderr.splitlines()):
        found.append("printed a traceback")
    if _BUG_LINE.search(o.stderr):  # the CLI's one line for an exception no reader raised on purpose
        found.append("hit an unexpected exception (the CLI's 'please report this bug' line)")
    return found


def judge(o: Outcome, expect: str) -> list[str]:
    """[] when the run meets `expect` ("ok": exit 0; "err": a one-line error; "any": either)."""
    found = crash_problems(o)
    if found:
        return found
    lines = [x for x in o.stderr.splitlines() if x.strip()]
    if o.returncode == 0:
        return ["exit 0, expected a one-line error"] if expect == "err" else []
    if expect == "ok":
        found.append(f"exit {o.returncode}, expected success")
    if len(lines) != 1:
        found.append(f"exit {o.returncode} with {len(lines)} stderr lines (want exactly one)")
    return found


def describe(o: Outcome, found: list[str]) -> str:
    """One message naming the run, what broke, and the first offending stderr lines."""
    lines = [x for x in o.stderr.splitlines() if x.strip()]
    shown = lines if len(lines) <= 5 else [*lines[:2], "...", *lines[-3:]]
    snippet = " | ".join(x.strip()[:240] for x in shown) or "(stderr empty)"
    return (
        f"{o.label}: {'; '.join(found)} [exit {o.returncode}, {o.seconds:g} s, "
        f"peak RSS {o.peak_rss_mib:g} MiB] stderr: {snippet}"
    )
