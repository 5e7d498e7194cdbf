"""The UI end to end (bench/ui_e2e.py): dagster dev on 127.0.0.1, the ingest group launched through
GraphQL and polled to SUCCESS, a screenshot where Chromium exists, the server's process group stopped."""

import importlib.util
import os
import socket
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "ui_e2e.py"


def _bench():
    spec = importlib.util.spec_from_file_location("ui_e2e", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _can_bind() -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_ui_materialises_ingest_and_stops_cleanly(tmp_path):
    if not _can_bind():
        pytest.skip("cannot bind a port on 127.0.0.1")
    bench = _bench()
    figures = bench.run_e2e(
        tmp_path, screenshot_path=tmp_path / "graph.png", ready_timeout=240, run_timeout=420
    )
    assert figures["status"] == "SUCCESS", (tmp_path / "dagster_dev.log").read_text()[-4000:]
    assert figures["server_stopped"]
    with pytest.raises(ProcessLookupError):
        os.killpg(figures["server_pid"], 0)  # no process of the server's group is left
    assert (tmp_path / "ingest" / "manifest.parquet").exists()
    assert "map_manifest" in figures["assets"] and "dataset_audit" in figures["assets"]
    shot = figures.get("screenshot", "")
    if not shot.startswith("skipped"):
        assert Path(shot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stop_server_kills_a_process_group_that_ignores_sigterm(tmp_path):
    """The teardown path: a child that traps SIGTERM is still gone after stop_server."""
    import subprocess
    import sys

    bench = _bench()
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        assert bench.stop_server(proc, grace=2.0)
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
