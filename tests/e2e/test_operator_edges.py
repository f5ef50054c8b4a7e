"""The operator's edges: each failure is one line naming the cause, exits non-zero, writes nothing.

Every command runs as a user runs it (``python -m claudescope ...``) against real processes on
free ports and tmp dirs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import version
from pathlib import Path

import grpc
import httpx
import pytest

from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import RunningCollector, call_span, encode_spans, start_collector


def cli(*args: str, cwd: Path, timeout: float = 120, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_"))}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "claudescope", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**env, "COLUMNS": "80"},
    )


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    text = r.stdout + r.stderr
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def test_version_is_the_installed_one(tmp_path: Path) -> None:
    r = cli("--version", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == f"claudescope {version('claudescope')}"


def test_collector_on_a_busy_port_names_the_port_and_option(tmp_path: Path) -> None:
    first = start_collector(tmp_path / "d1")
    try:
        r = cli("collector", "--data", str(tmp_path / "d2"), "--port", str(first.port), "--grpc-port", "0", cwd=tmp_path)
        assert r.returncode == 1
        line = one_line(r)
        assert f"port {first.port}" in line and "--port" in line
    finally:
        first.stop()


def test_a_busy_grpc_port_refuses_and_the_first_collector_keeps_all_traffic(tmp_path: Path) -> None:
    grpc_port = free_port()
    first = _collector_with_grpc(tmp_path / "d1", grpc_port)
    try:
        r = cli("collector", "--data", str(tmp_path / "d2"), "--port", str(free_port()), "--grpc-port", str(grpc_port), cwd=tmp_path)
        assert r.returncode == 1
        line = one_line(r)
        assert f"port {grpc_port}" in line and "--grpc-port" in line
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

        for _ in range(6):
            with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
                stub = trace_service_pb2_grpc.TraceServiceStub(channel)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(encode_spans([call_span()]))
                stub.Export(request, timeout=10)
        assert first.query("SELECT count(*) AS n FROM calls")[0]["n"] == 6
    finally:
        first.stop()


def _collector_with_grpc(data_dir: Path, grpc_port: int) -> RunningCollector:
    # start_collector passes --grpc-port 0 on the command line, which beats any config, so this
    # one is started by hand the same way.
    data_dir.mkdir(parents=True)
    port = free_port()
    log_path = data_dir.parent / f"collector-{port}.log"
    argv = [sys.executable, "-m", "claudescope", "collector", "--data", str(data_dir), "--port", str(port),
            "--grpc-port", str(grpc_port), "--no-alerts"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_"))}
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=data_dir.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
    running = RunningCollector(proc, f"http://127.0.0.1:{port}", port, data_dir, None, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, running.log()
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            time.sleep(0.1)
    running.kill()
    raise TimeoutError(running.log())


def test_grpc_server_refuses_a_port_another_grpc_server_shares(tmp_path: Path) -> None:
    # grpcio's default SO_REUSEPORT would let two servers split one port's traffic.
    from concurrent import futures

    from claudescope.collector.grpc_server import start_grpc
    from claudescope.collector.service import build_collector
    from claudescope.config import load_config

    port = free_port()
    other = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    assert other.add_insecure_port(f"127.0.0.1:{port}") == port
    other.start()
    collector = build_collector(load_config(None, env={}, overrides={"data_dir": tmp_path / "d"}))
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            start_grpc(collector, "127.0.0.1", port).stop(0)
    finally:
        collector.store.close()
        other.stop(0)


def test_up_on_busy_ports_or_a_served_store_refuses_before_starting_anything(tmp_path: Path) -> None:
    served = start_collector(tmp_path / "d1")
    try:
        log_before = served.log()
        files_before = sorted(p.name for p in served.data_dir.iterdir())
        busy = cli("up", "--detach", "--data", str(tmp_path / "d2"), "--port", str(served.port),
                   "--grpc-port", str(free_port()), "--dashboard-port", str(free_port()), cwd=tmp_path)
        assert busy.returncode == 1
        line = one_line(busy)
        assert f"port {served.port}" in line and "--port" in line and "claudescope is up" not in line
        assert not (tmp_path / "d2" / "up.json").exists() and not (tmp_path / "d2" / "collector.log").exists()
        locked = cli("up", "--detach", "--data", str(served.data_dir), "--port", str(free_port()),
                     "--grpc-port", str(free_port()), "--dashboard-port", str(free_port()), cwd=tmp_path)
        assert locked.returncode == 1
        line = one_line(locked)
        assert f"process {served.proc.pid}" in line and str(served.data_dir) in line
        # Nothing written into the running instance's data dir, nor its log.
        assert sorted(p.name for p in served.data_dir.iterdir()) == files_before
        assert not {"up.json", "collector.log", "dashboard.log"} & set(files_before)
        assert served.log() == log_before and served.proc.poll() is None
    finally:
        served.stop()


def test_read_only_data_dir_is_one_line(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() != 0:
        ro.chmod(0o555)
        prefix: list[str] = []
    else:  # root writes through permissions: mount a read-only tmpfs in a private namespace
        if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"]).returncode != 0:
            pytest.skip("needs unshare for a read-only mount as root")
        prefix = ["unshare", "-rm", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{ro}" && exec "$0" "$@"']
    data = ro / "data"
    r = cli("collector", "--data", str(data), "--port", str(free_port()), "--grpc-port", "0", cwd=tmp_path, prefix=prefix)
    assert r.returncode == 1
    line = one_line(r)
    assert str(data) in line and "--data" in line


def test_stop_with_a_stale_state_file_leaves_a_stranger_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        # The PID of an `up` child, since reused by a process that is not ours.
        for extra in ({"start_time": 1}, {}):
            child = {"name": "collector", "pid": stranger.pid, "url": "http://127.0.0.1:1", "health_url": "http://127.0.0.1:1/healthz", **extra}
            (data / "up.json").write_text(json.dumps({"children": [child]}))
            status = cli("status", "--data", str(data), cwd=tmp_path)
            assert status.returncode == 1 and "yes" not in status.stdout, status.stdout  # not alive: not ours
            r = cli("stop", "--data", str(data), cwd=tmp_path)
            assert r.returncode == 0 and "stale" in r.stdout + r.stderr, r.stdout + r.stderr
            time.sleep(0.3)
            assert stranger.poll() is None, "stop signalled a process that is not ours"
            assert not (data / "up.json").exists()
    finally:
        os.killpg(stranger.pid, signal.SIGKILL)
        stranger.wait()


class _Refusing(BaseHTTPRequestHandler):
    """A webhook endpoint that answers 503 to every notification."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_alerts_test_says_why_a_channel_failed_without_its_secret(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"json://127.0.0.1:{server.server_address[1]}/hook/tok3nS3CRET"
        (tmp_path / "claudescope.toml").write_text(f'[notify]\nurls = ["{url}"]\n')
        r = cli("alerts", "test", cwd=tmp_path)
        assert r.returncode == 1
        line = one_line(r)
        assert "503" in line and "tok3nS3CRET" not in line, line
    finally:
        server.shutdown()
        server.server_close()
