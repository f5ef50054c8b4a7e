"""`claudescope up`: starts collector + dashboard as a user does, reports where, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures_collector import call_span, post_spans
from claudescope.fakeapi.server import free_port


def cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claudescope", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def wait_dead(pids: list[int], timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if alive(p)], "children outlived claudescope up"


def child_pids(parent: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.fixture
def ports() -> list[str]:
    return ["--port", str(free_port()), "--grpc-port", str(free_port()), "--dashboard-port", str(free_port())]


@pytest.fixture
def detached_cleanup(tmp_path: Path) -> Iterator[None]:
    yield
    cli("stop", cwd=tmp_path)  # a no-op when the test stopped it already


def test_detached_up_status_ingest_stop(tmp_path: Path, ports: list[str], detached_cleanup: None) -> None:
    started = cli("up", "--detach", *ports, cwd=tmp_path)
    assert started.returncode == 0, started.stdout + started.stderr
    port = ports[1]
    assert f"http://127.0.0.1:{port}" in started.stderr and "claudescope is up" in started.stderr

    status = cli("status", cwd=tmp_path)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count("yes") == 4  # two processes, alive and healthy

    url = f"http://127.0.0.1:{port}"
    assert post_spans(url, [call_span(feature="via-up")]).status_code == 200
    rows = httpx.post(url + "/api/v1/query", json={"sql": "SELECT feature FROM calls"}).json()["rows"]
    assert rows == [["via-up"]]
    dashboard = f"http://127.0.0.1:{ports[5]}/_stcore/health"
    assert httpx.get(dashboard).status_code == 200

    state = json.loads((tmp_path / "claudescope-data" / "up.json").read_text(encoding="utf-8"))
    pids = [child["pid"] for child in state["children"]]
    assert len(pids) == 2 and all(str(pid) in status.stdout for pid in pids)
    stopped = cli("stop", cwd=tmp_path)
    assert stopped.returncode == 0
    wait_dead(pids)
    assert cli("status", cwd=tmp_path).returncode == 3
    # The store survives a stop: a second start sees the same row.
    assert (tmp_path / "claudescope-data" / "claudescope.duckdb").exists()


def test_foreground_up_stops_children_on_ctrl_c(tmp_path: Path, ports: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "up", *ports], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        url = f"http://127.0.0.1:{ports[1]}/healthz"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{ports[5]}/_stcore/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert httpx.get(url).status_code == 200
        children = child_pids(proc.pid)
        assert len(children) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        wait_dead(children)
        assert "stopped" in (proc.stdout.read() if proc.stdout else "")
    finally:
        if proc.poll() is None:
            proc.kill()


def test_status_and_stop_find_a_foreground_up(tmp_path: Path, ports: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "up", *ports], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = cli("status", cwd=tmp_path)
        while status.returncode != 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
            status = cli("status", cwd=tmp_path)
        assert status.returncode == 0, status.stdout
        assert f"running in the foreground (pid {proc.pid})" in status.stdout
        assert status.stdout.count("yes") == 4  # two processes, alive and healthy
        children = child_pids(proc.pid)
        assert len(children) == 2
        stopped = cli("stop", cwd=tmp_path)
        assert stopped.returncode == 0
        said = stopped.stderr.replace("\n", " ")
        assert f"stopped claudescope up (pid {proc.pid}) and its collector (" in said and "dashboard (" in said
        assert "stale" not in said
        assert proc.wait(timeout=30) == 0  # it stopped its children in order, as on Ctrl-C
        wait_dead(children)
        assert "stopped" in (proc.stdout.read() if proc.stdout else "")
        assert not (tmp_path / "claudescope-data" / "up.json").exists()
        assert cli("status", cwd=tmp_path).returncode == 3
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killed_supervisor_leaves_no_orphans(tmp_path: Path, ports: list[str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "up", *ports], cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    children: list[int] = []
    while time.monotonic() < deadline and len(children) < 2:
        children = child_pids(proc.pid)
        time.sleep(0.2)
    assert len(children) == 2
    proc.kill()
    proc.wait()
    wait_dead(children, timeout_s=20)
    status = cli("status", cwd=tmp_path)
    assert status.returncode == 3  # nothing runs, whether or not it had written up.json


def test_status_after_a_killed_foreground_up_says_not_running(tmp_path: Path, ports: list[str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "up", *ports], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "claudescope-data" / "up.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        children = child_pids(proc.pid)
        assert len(children) == 2
    finally:
        proc.kill()
        proc.wait()
    wait_dead(children, timeout_s=20)
    status = cli("status", cwd=tmp_path)
    assert status.returncode == 3 and "was killed" in status.stdout.replace("\n", " ")


def test_up_reports_a_config_error_naming_key_and_file(tmp_path: Path, ports: list[str]) -> None:
    (tmp_path / "claudescope.toml").write_text("[budget]\ndaily_usd = 'a lot'\n", encoding="utf-8")
    result = cli("up", *ports, cwd=tmp_path)
    assert result.returncode == 2
    assert "claudescope.toml: [budget] daily_usd" in result.stderr
