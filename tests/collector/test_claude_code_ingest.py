"""Claude Code's real telemetry (the corpus) replayed into a real collector: exact call rows.

Each mode's bodies are posted exactly as the real ``claude`` CLI sent them (same paths, content
types, order) to a ``claudescope collector`` subprocess; the rows are then compared with what the
fake API answered (manifest.json) and with an independent price calculation.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable, Usage
from tests.collector.test_claude_code_corpus import FIXTURES, MANIFEST, log_records
from tests.fixtures_collector import RunningCollector, free_port

ROW_SQL = (
    "SELECT request_id, response_id, source, operation, status, error_type, http_status, retries, request_model,"
    " input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, cost_usd,"
    " user_id, feature, ttft_ms, duration_ms, speed, attributes FROM calls ORDER BY start_time"
)
GRPC_METHODS = {
    "/v1/logs": "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    "/v1/metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    "/v1/traces": "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
}


def bodies(mode: str) -> list[tuple[str, str, bytes]]:
    """(path, content type, raw body) of one mode, in the order Claude Code sent them."""
    return [
        (b["path"], b["content_type"], (FIXTURES / "corpus" / b["file"]).read_bytes())
        for b in MANIFEST["modes"][mode]["bodies"]
    ]


def replay(c: RunningCollector, items: list[tuple[str, str, bytes]]) -> None:
    for path, content_type, raw in items:
        r = httpx.post(c.url + path, content=raw, headers={"Content-Type": content_type}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)


def expected_cost(model: str, r: dict[str, Any]) -> Decimal:
    """The price of one answered request, computed apart from the collector."""
    usage = Usage(
        input_tokens=r["input_tokens"], cache_read_tokens=r["cache_read_tokens"],
        cache_write_5m_tokens=r["cache_write_5m_tokens"], cache_write_1h_tokens=r["cache_write_1h_tokens"],
        output_tokens=r["output_tokens"],
    )
    cost = PriceTable.load(PricingConfig()).price(model, usage)
    assert cost is not None, f"{model} has no price"
    return cost.total_usd


def api_request_events(mode: str) -> dict[str, dict[str, Any]]:
    """Claude Code's api_request event attributes by request id."""
    out = {}
    for name, attrs, _ in log_records(mode):
        if name == "claude_code.api_request":
            plain = {k: next(iter(v.values())) for k, v in attrs.items()}
            out[plain["request_id"]] = plain
    return out


def check_rows(rows: list[dict[str, Any]], mode: str) -> None:
    """One row per request the fake answered with 200, exactly as answered and priced."""
    answered = [r for r in MANIFEST["modes"][mode]["requests"] if r["http_status"] == 200]
    events = api_request_events(mode)
    assert sorted(row["request_id"] for row in rows) == sorted(r["request_id"] for r in answered)
    by_id = {row["request_id"]: row for row in rows}
    for r in answered:
        row = by_id[r["request_id"]]
        assert row["source"] == "claude-code" and row["operation"] == "chat" and row["status"] == "ok"
        assert row["response_id"] is None  # a req_ id is never a response id
        assert row["request_model"] == r["model"]
        got = [row[k] for k in ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")]
        want = [r[k] for k in ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens")]
        assert got == want
        assert Decimal(row["cost_usd"]) == expected_cost(r["model"], r)
        event = events[r["request_id"]]
        attributes = json.loads(row["attributes"])
        assert row["user_id"] == event.get("user.email", event["user.id"])
        assert attributes["session.id"] == event["session.id"]
        assert attributes["terminal.type"] == event["terminal.type"]
        assert row["feature"] == event["query_source"]
        assert row["ttft_ms"] == float(event["ttft_ms"])
        if MANIFEST["modes"][mode]["traces"]:  # merged with the llm_request span: the longer wall time
            assert row["duration_ms"] >= float(event["duration_ms"])
        else:
            assert row["duration_ms"] == float(event["duration_ms"])
        # Claude Code's own price, kept beside ours: they agree on the corpus.
        assert Decimal(str(attributes["cost_usd"])) == Decimal(row["cost_usd"])


@pytest.mark.parametrize("mode", ("protobuf", "json", "traces", "retry"))
def test_one_exact_row_per_answered_request(collector: RunningCollector, mode: str) -> None:
    replay(collector, bodies(mode))
    check_rows(collector.query(ROW_SQL), mode)


def test_a_resend_stores_no_duplicate(collector: RunningCollector) -> None:
    replay(collector, bodies("protobuf"))
    replay(collector, bodies("json"))  # a different run: its own rows
    replay(collector, bodies("protobuf"))  # the same bodies again
    rows = collector.query(ROW_SQL)
    assert len(rows) == 2
    check_rows([r for r in rows if r["request_id"] == MANIFEST["modes"]["protobuf"]["requests"][0]["request_id"]], "protobuf")
    assert collector.query("SELECT count(*) AS n FROM call_spans")[0]["n"] == 2


@pytest.mark.parametrize("logs_first", (False, True))
def test_beta_span_and_event_of_one_request_are_one_row(collector: RunningCollector, logs_first: bool) -> None:
    items = bodies("traces")
    items.sort(key=lambda item: (item[0] != "/v1/logs") if logs_first else (item[0] != "/v1/traces"))
    replay(collector, items)
    check_rows(collector.query(ROW_SQL), "traces")  # the event's row, with the 5m/1h split, wins
    stored = collector.query("SELECT operation, source, superseded, request_id, response_id FROM call_spans ORDER BY superseded")
    # The llm_request span is kept (superseded) and the interaction span is no row at all.
    assert [(s["operation"], s["superseded"]) for s in stored] == [("chat", False), ("chat", True)]
    assert all(s["request_id"] and s["response_id"] is None for s in stored)


def test_beta_traces_alone_give_one_row_per_request(collector: RunningCollector) -> None:
    """Without the events: the llm_request span is the call (the interaction span is none)."""
    replay(collector, [b for b in bodies("traces") if b[0] == "/v1/traces"])
    rows = collector.query(ROW_SQL)
    answered = [r for r in MANIFEST["modes"]["traces"]["requests"] if r["http_status"] == 200]
    assert [row["request_id"] for row in rows] == [r["request_id"] for r in answered]
    row, r = rows[0], answered[0]
    assert row["response_id"] is None and row["input_tokens"] == r["input_tokens"]
    assert row["cache_read_tokens"] == r["cache_read_tokens"] and row["ttft_ms"] is not None
    # No 5m/1h split in a span: all writes taken as 5m, and the row says it is an estimate.
    writes = r["cache_write_5m_tokens"] + r["cache_write_1h_tokens"]
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (writes, 0)
    assert json.loads(row["attributes"])["claudescope.cache_split_estimated"] is True


def test_retries_exhausted_is_one_failed_row(collector: RunningCollector) -> None:
    replay(collector, bodies("exhausted"))
    rows = collector.query(ROW_SQL)
    attempts = len(MANIFEST["modes"]["exhausted"]["requests"])
    assert len(rows) == 1
    row = rows[0]
    assert (row["status"], row["error_type"], row["http_status"], row["retries"]) == ("error", "overloaded_error", 529, attempts - 1)
    assert Decimal(row["cost_usd"]) == 0 and row["source"] == "claude-code"


def test_grpc_logs_service(tmp_path: Path) -> None:
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
        check_rows(running.query(ROW_SQL), "grpc")
    finally:
        running.stop()


def _wait_healthy(running: RunningCollector, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert running.proc.poll() is None, "collector exited"
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("collector not healthy")


def test_bad_logs_bodies_get_clear_answers_and_lose_nothing(collector_factory: Any) -> None:
    c = collector_factory("[limits]\nmax_body_bytes = 4096\n")
    url = c.url + "/v1/logs"
    r = httpx.post(url, content=b"\xff\x00garbage", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    r = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    r = httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = httpx.post(url, content=b"\0" * 5000, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 413
    _, content_type, raw = next(b for b in bodies("protobuf") if b[0] == "/v1/logs" and b"api_request" in b[2])
    r = httpx.post(url, content=gzip.compress(raw), headers={"Content-Type": content_type, "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    check_rows(c.query(ROW_SQL), "protobuf")  # still serving, and the good body is stored


def test_email_wins_over_the_install_id_and_organization_is_kept(collector: RunningCollector) -> None:
    """A Claude account login adds ``user.email`` and ``organization.id`` to every event."""
    _, content_type, raw = next(b for b in bodies("protobuf") if b[0] == "/v1/logs" and b"api_request" in b[2])
    request = ExportLogsServiceRequest.FromString(raw)
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for record in sl.log_records:
                for key, value in (("user.email", "dev@example.com"), ("organization.id", "org-1234")):
                    kv = record.attributes.add()
                    kv.key, kv.value.string_value = key, value
    replay(collector, [("/v1/logs", content_type, request.SerializeToString())])
    rows = collector.query(ROW_SQL)
    assert len(rows) == 1
    assert rows[0]["user_id"] == "dev@example.com"
    assert json.loads(rows[0]["attributes"])["organization.id"] == "org-1234"
