"""The collector as a user runs it: subprocess, CLI, clean stop, gRPC, `claudescope sql`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import httpx
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import call_span, encode_spans, start_collector


def test_subprocess_fixture_roundtrip_and_clean_stop(collector) -> None:
    spans = [call_span(feature="f", user_id=f"u{i}") for i in range(10)]
    assert collector.post_spans(spans).status_code == 200
    rows = collector.query("SELECT count(*) AS n, sum(cost_usd) AS usd FROM calls")
    assert rows[0]["n"] == 10 and rows[0]["usd"] == "0.006000000"
    assert "listening on http://127.0.0.1" in collector.log()
    assert collector.stop() == 0
    assert "collector stopped" in collector.log()


def test_data_survives_restart(collector_factory, tmp_path: Path) -> None:
    first = collector_factory(data_dir=tmp_path / "d")
    first.post_spans([call_span() for _ in range(7)])
    first.stop()
    second = collector_factory(data_dir=tmp_path / "d")
    assert second.query("SELECT count(*) AS n FROM calls")[0]["n"] == 7


def test_sql_cli_via_api_and_via_file(collector_factory, tmp_path: Path) -> None:
    running = collector_factory(data_dir=tmp_path / "d")
    running.post_spans([call_span(feature="cli")])
    cmd = [sys.executable, "-m", "claudescope", "sql", "SELECT feature, cost_usd FROM calls", "--format", "csv"]
    out = subprocess.run([*cmd, "--api", running.url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["feature,cost_usd", "cli,0.000600000"]
    running.stop()
    # Never the default collector URL (127.0.0.1:4318): a user's collector there is not ours.
    env = {**os.environ, "CLAUDESCOPE_PORT": str(free_port())}
    out = subprocess.run([*cmd, "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "cli,0.000600000"
    refused = subprocess.run([*cmd[:4], "DELETE FROM calls", "--data", str(tmp_path / "d")], capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert refused.returncode == 2 and "refused" in refused.stderr


def test_grpc_ingest(tmp_path: Path) -> None:
    grpc_port = free_port()
    proc_argv_port = free_port()
    running = start_collector(tmp_path / "d", port=proc_argv_port, env={"CLAUDESCOPE_GRPC_PORT": str(grpc_port)})
    try:
        # --grpc-port 0 on the command line wins over the environment: gRPC stays off.
        assert "OTLP/gRPC" not in running.log()
    finally:
        running.stop()
    argv = [sys.executable, "-m", "claudescope", "collector", "--data", str(tmp_path / "g"), "--port", str(proc_argv_port), "--grpc-port", str(grpc_port), "--no-alerts"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=20)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        request = ExportTraceServiceRequest.FromString(encode_spans([call_span(feature="grpc"), call_span(trace_id="0" * 32)]))
        response = stub.Export(request, timeout=20)
        assert response.partial_success.rejected_spans == 1
        for _ in range(100):
            try:
                r = httpx.post(f"http://127.0.0.1:{proc_argv_port}/api/v1/query", json={"sql": "SELECT feature FROM calls"}, timeout=5)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
        assert r.json()["rows"] == [["grpc"]]
        channel.close()
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
