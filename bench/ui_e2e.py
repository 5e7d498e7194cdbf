"""End to end through the web UI's API: start `dagster dev` on 127.0.0.1, materialise the ingest
group through GraphQL, poll the run to success, screenshot the asset graph (when Chromium is
installed), stop the server by its process group. Prints the figures.

    .venv/bin/python bench/ui_e2e.py [--home DIR] [--screenshot out.png] [--json]

The server runs in its own session (start_new_session, the Python form of `set -m`), so a
SIGTERM to its process group reaches the webserver, the daemon and the code server, and nothing
is left behind even when a step here fails.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}

REPOS_QUERY = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
ASSETS_QUERY = """query($group: AssetGroupSelector!) {
  assetNodes(group: $group) { assetKey { path } isMaterializable isObservable }
}"""
LAUNCH = """mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}"""
RUN_QUERY = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"


class E2EError(RuntimeError):
    """A step of the end-to-end check failed; the message says which."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (raises OSError when nothing can bind there)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30.0) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"http://{HOST}:{port}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = json.loads(response.read())
    if payload.get("errors"):
        raise E2EError(f"GraphQL error: {payload['errors'][0].get('message')}")
    return payload["data"]


def prepare_home(home: Path) -> None:
    """A small demo corpus in <home>/raw and the repo's dagster.yaml in <home>/dagster_home."""
    (home / "dagster_home").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster_home" / "dagster.yaml")
    if not any((home / "raw").glob("*.zip")):
        sys.path.insert(0, str(REPO))
        from automapper_ml.synth import DemoConfig, generate_demo_corpus

        generate_demo_corpus(home, DemoConfig(n_songs=2, n_reference=1, include_broken=False))


def start_server(home: Path, port: int, log_path: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "AUTOMAPPER_HOME": str(home),
        "DAGSTER_HOME": str(home / "dagster_home"),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        sys.executable,
        "-m",
        "dagster",
        "dev",
        "-h",
        HOST,
        "-p",
        str(port),
        "-m",
        "automapper_assets.definitions",
    ]
    log = open(log_path, "wb")  # noqa: SIM115 - the child keeps it; closed with the process
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop_server(proc: subprocess.Popen, grace: float = 30.0) -> bool:
    """SIGTERM the server's process group, SIGKILL after `grace` s; True when the group is gone."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:  # children (daemon, code server) may outlive the parent briefly
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(1.0)
    try:
        os.killpg(proc.pid, 0)
        return False
    except ProcessLookupError:
        return True


def wait_ready(port: int, proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise E2EError(f"dagster dev exited with {proc.returncode} before serving")
        try:
            nodes = graphql(port, REPOS_QUERY, timeout=5)["repositoriesOrError"].get("nodes") or []
            if nodes:
                return nodes[0]
        except (urllib.error.URLError, ConnectionError, TimeoutError, E2EError):
            pass
        time.sleep(1.0)
    raise E2EError(f"the web server did not answer within {timeout:.0f} s")


def screenshot(port: int, location: str, out: Path) -> Path | None:
    """Headless Chromium screenshot of the ingest asset graph; None when no Chromium is installed."""
    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        return None
    url = f"http://{HOST}:{port}/locations/{location}/asset-groups/ingest"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
             "--window-size=1400,900", "--virtual-time-budget=20000", f"--screenshot={out}", url],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
    return out if out.exists() and out.stat().st_size > 10_000 else None


def run_e2e(
    home: Path, screenshot_path: Path | None = None, ready_timeout: float = 180, run_timeout: float = 300
) -> dict:
    """Everything the module docstring lists; returns the figures. Always stops the server."""
    home = Path(home).resolve()
    prepare_home(home)
    port = free_port()
    figures: dict = {"port": port, "home": str(home)}
    started = time.monotonic()
    proc = start_server(home, port, home / "dagster_dev.log")
    figures["server_pid"] = proc.pid
    try:
        repo = wait_ready(port, proc, ready_timeout)
        figures["server_ready_s"] = round(time.monotonic() - started, 1)
        selector = {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"]}
        nodes = graphql(port, ASSETS_QUERY, {"group": {**selector, "groupName": "ingest"}})["assetNodes"]
        keys = [{"path": n["assetKey"]["path"]} for n in nodes if n["isMaterializable"]]
        if not keys:
            raise E2EError("the ingest group has no materialisable asset")
        params = {
            "selector": {**selector, "jobName": "__ASSET_JOB", "assetSelection": keys},
            "runConfigData": {},
        }
        launch_started = time.monotonic()
        launched = graphql(port, LAUNCH, {"params": params})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise E2EError(f"launchRun: {launched}")
        run_id = launched["run"]["runId"]
        status, deadline = "QUEUED", time.monotonic() + run_timeout
        while status not in FINISHED and time.monotonic() < deadline:
            time.sleep(2.0)
            status = graphql(port, RUN_QUERY, {"id": run_id})["runOrError"].get("status", status)
        figures.update(
            run_id=run_id,
            status=status,
            assets=["/".join(k["path"]) for k in keys],
            run_s=round(time.monotonic() - launch_started, 1),
        )
        if screenshot_path is not None:
            shot = screenshot(port, repo["location"]["name"], Path(screenshot_path))
            figures["screenshot"] = str(shot) if shot else "skipped (no Chromium, or an empty page)"
    finally:
        figures["server_stopped"] = stop_server(proc)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", help="data root (default: a new temporary folder)")
    parser.add_argument("--screenshot", help="PNG path for the asset graph screenshot")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="automapper-e2e-"))
    try:
        figures = run_e2e(home, Path(args.screenshot) if args.screenshot else None)
    except (E2EError, OSError) as exc:
        print(f"ui_e2e: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=None if args.json else 2))
    return 0 if figures.get("status") == "SUCCESS" and figures["server_stopped"] else 1


if __name__ == "__main__":
    sys.exit(main())
