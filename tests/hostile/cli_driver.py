"""`python -m tests.hostile.cli_driver JOBS.json RESULTS.jsonl`: run CLI commands, each in its own
forked process under the caps, at most two at a time.

Starting `python -m automapper_ml.cli` costs ~1.1 s of imports (scipy via the demo command) before a
command even starts, and the corpus has a few hundred runs; so this driver imports the CLI once and
forks one child per run. The child is the command as a user runs it: its own process and process
group, stdout/stderr on files (stdout strict UTF-8, set by the driver's PYTHONIOENCODING), stdin
/dev/null, `automapper_ml.cli.main(argv)`, an uncaught exception printed as a traceback with exit
status 1, RLIMIT_AS from the job (`caps.ADDRESS_CAP_LIGHT` or `ADDRESS_CAP_TORCH`). The driver polls
each child's (and its descendants') VmRSS and its clock, kills its group at a cap (a peak RSS over
the cap that came and went between polls, seen in the child's rusage, counts as a cap too), and appends one
JSON line (caps.Outcome fields) per finished run to RESULTS.jsonl.

A job: {"label", "argv" (str, surrogate-escaped bytes allowed), "cwd", "workdir", "timeout_s",
"address_cap"}.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import time
import traceback

from tests.hostile.caps import POLL_SECONDS, RSS_CAP_MIB, process_tree, rss_mib

PARALLEL = 2


def _child(job: dict) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.setsid()
        cap = int(job["address_cap"])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(job["cwd"])
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(os.path.join(job["workdir"], "stdout.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        err = os.open(os.path.join(job["workdir"], "stderr.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        for fd, target in ((null, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
        sys.argv = ["automapper", *job["argv"]]
        from automapper_ml.cli import main

        try:
            code = int(main(job["argv"]) or 0)
        except SystemExit as exc:  # argparse and friends
            if isinstance(exc.code, int) or exc.code is None:
                code = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        try:
            sys.stdout.flush()
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stderr.flush()
    finally:
        os._exit(code)


def _start(job: dict) -> int:
    os.makedirs(job["workdir"], exist_ok=True)
    os.makedirs(job["cwd"], exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(job)
    return pid


def _read(path: str, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(limit).decode("utf-8", "backslashreplace")
    except OSError:
        return ""


def run_jobs(jobs: list[dict], results_path: str) -> None:
    pending = list(jobs)
    running: dict[int, dict] = {}  # pid -> state
    with open(results_path, "a") as results:
        while pending or running:
            while pending and len(running) < PARALLEL:
                job = pending.pop(0)
                running[_start(job)] = {"job": job, "started": time.monotonic(), "peak": 0.0, "cap": ""}
            time.sleep(POLL_SECONDS)
            for pid, state in list(running.items()):
                done, status, usage = os.wait4(pid, os.WNOHANG)
                if not done:
                    state["peak"] = max(state["peak"], *(rss_mib(p) for p in process_tree(pid)))
                    if state["peak"] > RSS_CAP_MIB:
                        state["cap"] = "memory"
                    elif time.monotonic() - state["started"] > state["job"]["timeout_s"]:
                        state["cap"] = "time"
                    if not state["cap"]:
                        continue
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    _, status, usage = os.wait4(pid, 0)
                # ru_maxrss (KiB) also sees a spike that came and went between two polls
                state["peak"] = max(state["peak"], usage.ru_maxrss / 1024)
                if state["peak"] > RSS_CAP_MIB and not state["cap"]:
                    state["cap"] = "memory"
                job = state["job"]
                record = {
                    "label": job["label"],
                    "returncode": None if state["cap"] else os.waitstatus_to_exitcode(status),
                    "stdout": _read(os.path.join(job["workdir"], "stdout.txt")),
                    "stderr": _read(os.path.join(job["workdir"], "stderr.txt")),
                    "seconds": round(time.monotonic() - state["started"], 2),
                    "peak_rss_mib": round(state["peak"], 1),
                    "cap": state["cap"],
                    "timeout_s": job["timeout_s"],
                }
                results.write(json.dumps(record) + "\n")
                results.flush()
                del running[pid]


def main(argv: list[str]) -> int:
    jobs_path, results_path = argv
    with open(jobs_path) as f:
        jobs = json.load(f)
    from automapper_ml.cli import build_parser

    build_parser()  # import every command module once, before the first fork
    run_jobs(jobs, results_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
