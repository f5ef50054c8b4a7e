"""Claude Code's cost and token metrics: kept as a cross-check against the event rows, never calls.

The corpus' metrics bodies (what the real ``claude`` 2.1.332 sent, delta temporality) are replayed
into a real collector; ``claude_code_metric_sums`` must equal, per session and model, what the
``api_request`` events' rows say. Cumulative temporality is built from the same real body.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from tests.collector.test_claude_code_ingest import GRPC_METHODS, _wait_healthy, bodies, replay
from tests.fixtures_collector import RunningCollector, free_port

SUMS = ("SELECT session_id, model, user_id, cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens"
        " FROM claude_code_metric_sums ORDER BY session_id")
EVENT_SUMS = (
    "SELECT json_extract_string(attributes, '$.\"session.id\"') AS session_id, request_model AS model, user_id,"
    " sum(CAST(json_extract(attributes, '$.cost_usd') AS DECIMAL(18,9))) AS cost_usd,"
    " sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens,"
    " sum(cache_write_5m_tokens + cache_write_1h_tokens) AS cache_write_tokens"
    " FROM calls WHERE source = 'claude-code' GROUP BY ALL ORDER BY session_id"
)


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: Decimal(v) if k == "cost_usd" else (int(v) if k.endswith("tokens") else v) for k, v in r.items()} for r in rows]


def test_metric_sums_match_the_event_rows(collector: RunningCollector) -> None:
    replay(collector, bodies("protobuf") + bodies("json") + bodies("traces"))
    sums = _plain(collector.query(SUMS))
    assert len(sums) == 3 and all(s["cost_usd"] > 0 and s["cache_write_tokens"] == 7000 for s in sums)
    assert sums == _plain(collector.query(EVENT_SUMS))
    # Never calls: one row per answered request, as without metrics.
    assert collector.query("SELECT count(*) AS n FROM calls")[0]["n"] == 3


def test_a_resent_metrics_body_counts_once(collector: RunningCollector) -> None:
    metrics = [b for b in bodies("protobuf") if b[0] == "/v1/metrics"]
    replay(collector, metrics + metrics)
    (row,) = collector.query(SUMS)
    assert Decimal(row["cost_usd"]) == Decimal("0.05308") and row["input_tokens"] == 120


def _cumulative(values: list[tuple[int, int, float]]) -> bytes:
    """The real cost metric, made cumulative, with one point per (start ns, time ns, running total)."""
    _, _, raw = next(b for b in bodies("protobuf") if b[0] == "/v1/metrics")
    request = ExportMetricsServiceRequest.FromString(raw)
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            keep = [m for m in sm.metrics if m.name == "claude_code.cost.usage"]
            del sm.metrics[:]
            sm.metrics.extend(keep)
            metric = sm.metrics[0]
            metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
            template = metric.sum.data_points[0]
            points = []
            for start, time, value in values:
                point = type(template)()
                point.CopyFrom(template)
                point.start_time_unix_nano, point.time_unix_nano, point.as_double = start, time, value
                points.append(point)
            del metric.sum.data_points[:]
            metric.sum.data_points.extend(points)
    return request.SerializeToString()


def test_cumulative_series_count_their_last_value(collector: RunningCollector) -> None:
    t0, s = 1_796_232_449_000_000_000, 1  # a nanosecond apart: still distinct points
    # Running totals 0.01 -> 0.03, then the exporter restarts (new start time) and reaches 0.005.
    body = _cumulative([(t0, t0 + s, 0.01), (t0, t0 + 2 * s, 0.03), (t0 + 5 * s, t0 + 6 * s, 0.005)])
    replay(collector, [("/v1/metrics", "application/x-protobuf", body)])
    (row,) = collector.query(SUMS)
    assert Decimal(row["cost_usd"]) == Decimal("0.035")


def test_retention_drops_old_metric_points_with_the_calls(inproc) -> None:
    day = 86_400 * 10**9
    old, recent = time.time_ns() - 40 * day, time.time_ns() - day
    body = _cumulative([(old, old + 1, 0.01), (recent, recent + 1, 0.02)])
    replay(inproc, [("/v1/metrics", "application/x-protobuf", body)])
    assert Decimal(inproc.query(SUMS)[0]["cost_usd"]) == Decimal("0.03")
    inproc.c.store.delete_older_than(datetime.now(UTC) - timedelta(days=30))
    (row,) = inproc.query(SUMS)
    assert Decimal(row["cost_usd"]) == Decimal("0.02")


def test_grpc_metrics_service_keeps_the_points(tmp_path: Path) -> None:
    port, grpc_port = free_port(), free_port()
    data = tmp_path / "data"
    data.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "collector", "--data", str(data), "--port", str(port),
         "--grpc-port", str(grpc_port), "--no-alerts"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    running = RunningCollector(proc, f"http://127.0.0.1:{port}", port, data, None, tmp_path / "none.log")
    try:
        _wait_healthy(running)
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            for path, _, raw in bodies("grpc"):
                channel.unary_unary(GRPC_METHODS[path])(raw, timeout=30)
        assert _plain(running.query(SUMS)) == _plain(running.query(EVENT_SUMS))
    finally:
        running.stop()


def test_bad_metrics_bodies_get_clear_answers(collector: RunningCollector) -> None:
    url = collector.url + "/v1/metrics"
    r = httpx.post(url, content=b"\xff\x00garbage", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    r = httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    _, content_type, raw = next(b for b in bodies("json") if b[0] == "/v1/metrics")
    r = httpx.post(url, content=raw, headers={"Content-Type": content_type})
    assert r.status_code == 200 and json.loads(r.text) == {}
    assert len(collector.query(SUMS)) == 1  # still serving, and the good body is kept
