"""OTLP/HTTP ingest answers exactly per SPEC §3 and stores one row per call."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import httpx
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.fixtures_collector import call_span, encode_spans, post_spans


def test_protobuf_ingest_stores_priced_rows(inproc) -> None:
    span = call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100, feature="chat", user_id="u-1")
    r = post_spans(inproc.url, [span])
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-protobuf")
    assert r.content == b""  # full success: partial_success unset
    rows = inproc.query("SELECT * FROM calls")
    assert len(rows) == 1
    row = rows[0]
    assert row["trace_id"] == span["trace_id"] and row["span_id"] == span["span_id"]
    assert row["feature"] == "chat" and row["user_id"] == "u-1" and row["source"] == "claudescope"
    # sonnet 4.5: $3/MTok in, $15/MTok out -> 0.003 + 0.0015
    assert row["cost_usd"] == "0.004500000"
    assert row["cost_input_usd"] == "0.003000000"
    assert row["start_time"].endswith("Z")


def test_visible_to_queries_immediately_after_200(inproc) -> None:
    for _ in range(5):
        assert post_spans(inproc.url, [call_span() for _ in range(20)]).status_code == 200
    assert inproc.count() == 100


def test_json_and_gzip(inproc) -> None:
    spans = [call_span(feature="json") for _ in range(3)]
    r = post_spans(inproc.url, spans, json=True, gzip=True)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {}
    rows = inproc.query("SELECT trace_id, span_id FROM calls WHERE feature = 'json' ORDER BY span_id")
    assert {(s["trace_id"], s["span_id"]) for s in spans} == {(r["trace_id"], r["span_id"]) for r in rows}


def test_json_accepts_int64_strings_and_ignores_unknown_fields(inproc) -> None:
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "unknownField": 1,
            "scopeSpans": [{
                "scope": {"name": "claudescope.instrument"},
                "spans": [{
                    "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
                    "name": "chat", "kind": 3, "startTimeUnixNano": "1763776800000000000",
                    "endTimeUnixNano": "1763776801000000000", "somethingNew": {"x": 1},
                    "attributes": [
                        {"key": "gen_ai.provider.name", "value": {"stringValue": "anthropic"}},
                        {"key": "gen_ai.request.model", "value": {"stringValue": "claude-haiku-4-5"}},
                        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "7"}},
                    ],
                }],
            }],
        }]
    }
    r = httpx.post(inproc.url + "/v1/traces", json=body)
    assert r.status_code == 200, r.text
    row = inproc.query("SELECT * FROM calls")[0]
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["output_tokens"] == 7 and row["service_name"] == "svc"
    assert row["start_time"] == "2025-11-22T02:00:00Z" and row["duration_ms"] == 1000.0


def test_resend_stores_no_duplicate_first_copy_wins(inproc) -> None:
    span = call_span(feature="first")
    assert post_spans(inproc.url, [span]).status_code == 200
    again = dict(span, attributes={**span["attributes"], "claudescope.feature": "second"})
    assert post_spans(inproc.url, [again, span]).status_code == 200
    rows = inproc.query("SELECT feature FROM calls")
    assert rows == [{"feature": "first"}]


def test_partial_success_names_the_reason(inproc) -> None:
    good = call_span()
    zero = call_span(trace_id="0" * 32)
    ancient = call_span(start=datetime(1990, 1, 1, tzinfo=UTC))
    backwards = call_span(duration_ms=-5)
    r = post_spans(inproc.url, [good, zero, ancient, backwards])
    assert r.status_code == 200
    resp = ExportTraceServiceResponse.FromString(r.content)
    assert resp.partial_success.rejected_spans == 3
    msg = resp.partial_success.error_message
    assert "trace_id" in msg and "2000-2100" in msg and "end time before start" in msg
    assert inproc.count() == 1


def test_non_genai_spans_are_ignored(inproc) -> None:
    span = call_span(attributes={"gen_ai.provider.name": None, "gen_ai.operation.name": None, "claudescope.operation": None, "http.method": "GET"})
    span["scope"] = "opentelemetry.instrumentation.requests"
    assert post_spans(inproc.url, [span]).status_code == 200
    assert inproc.count() == 0


def test_wrong_content_type_is_415(inproc) -> None:
    r = httpx.post(inproc.url + "/v1/traces", content=b"x", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_garbage_protobuf_is_400_with_status_body(inproc) -> None:
    r = httpx.post(inproc.url + "/v1/traces", content=b"\xff\xff\xff\xff", headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400
    assert Status.FromString(r.content).message


def test_oversize_is_413_after_decompression(inproc_factory) -> None:
    from claudescope.config import Limits

    small = inproc_factory(limits=Limits(max_body_bytes=10_000))
    body = encode_spans([call_span(attributes={"claudescope.attr.pad": "x" * 20_000})])
    packed = gzip.compress(body)
    assert len(packed) < 10_000
    r = httpx.post(small.url + "/v1/traces", content=packed, headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
    assert r.status_code == 413
    r = httpx.post(small.url + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 413
    assert small.count() == 0


def test_metrics_and_logs_endpoints_accept(inproc) -> None:
    for path in ("/v1/metrics", "/v1/logs"):
        r = httpx.post(inproc.url + path, content=b"", headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200


def test_bearer_token_required_except_healthz(inproc_factory) -> None:
    secured = inproc_factory(token="s3cret")
    assert httpx.get(secured.url + "/healthz").status_code == 200
    assert post_spans(secured.url, [call_span()]).status_code == 401
    assert post_spans(secured.url, [call_span()], token="wrong").status_code == 401
    assert httpx.post(secured.url + "/api/v1/query", json={"sql": "SELECT 1"}).status_code == 401
    assert httpx.get(secured.url + "/metrics").status_code == 401
    assert post_spans(secured.url, [call_span()], token="s3cret").status_code == 200
    assert secured.count() == 1


def test_metrics_text(inproc) -> None:
    post_spans(inproc.url, [call_span(model="claude-nonexistent-1"), call_span(trace_id="0" * 32)])
    text = httpx.get(inproc.url + "/metrics").text
    assert "claudescope_calls_stored_total 1" in text
    assert "claudescope_unpriced_calls_total 1" in text
    assert 'claudescope_spans_rejected_total{reason="invalid trace_id' in text
    assert "claudescope_queue_depth" in text and "claudescope_spend_today_usd" in text


def test_failed_call_and_count_tokens_cost_zero(inproc) -> None:
    failed = call_span(error_type="rate_limit_error", http_status=429, output_tokens=0)
    counted = call_span(operation="count_tokens")
    assert post_spans(inproc.url, [failed, counted]).status_code == 200
    rows = {r["operation"] + r["status"]: r for r in inproc.query("SELECT operation, status, error_type, cost_usd FROM calls")}
    assert rows["chaterror"]["cost_usd"] == "0.000000000"
    assert rows["chaterror"]["error_type"] == "rate_limit_error"
    assert rows["count_tokensok"]["cost_usd"] == "0.000000000"


def test_batch_bookkeeping_is_free_and_not_unpriced(inproc) -> None:
    bookkeeping = [
        call_span(operation=op, model=None, input_tokens=None, output_tokens=None, stop_reason=None)
        for op in ("batch_create", "batch_retrieve", "batch_results")
    ]
    result = call_span(operation="batch_result", model="claude-haiku-4-5", input_tokens=1000, output_tokens=200,
                       attributes={"anthropic.response.service_tier": "batch"})
    assert post_spans(inproc.url, [*bookkeeping, result]).status_code == 200
    rows = {r["operation"]: r["cost_usd"] for r in inproc.query("SELECT operation, cost_usd FROM calls")}
    assert rows == {
        "batch_create": "0.000000000", "batch_retrieve": "0.000000000", "batch_results": "0.000000000",
        "batch_result": "0.001000000",  # (1000 x $1 + 200 x $5) per million, halved for batch
    }
    assert "claudescope_unpriced_calls_total 0" in httpx.get(inproc.url + "/metrics").text


def test_queue_full_is_429_with_retry_after(inproc_factory) -> None:
    import threading
    import time

    from claudescope.config import Limits

    slow = inproc_factory(limits=Limits(max_queue_spans=5, commit_interval_ms=1500))
    first: list[int] = []
    t = threading.Thread(target=lambda: first.append(post_spans(slow.url, [call_span() for _ in range(4)]).status_code))
    t.start()
    deadline = time.monotonic() + 10
    while slow.c.writer.queue_depth == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the first request's rows wait in the queue for the slow group commit
    r = post_spans(slow.url, [call_span() for _ in range(4)])
    t.join()
    assert r.status_code == 429 and r.headers["Retry-After"]
    assert first == [200]
    assert slow.count() == 4


def test_store_failure_is_503_and_unhealthy(inproc) -> None:
    assert post_spans(inproc.url, [call_span()]).status_code == 200
    inproc.c.store.close()  # stands in for a failed disk: every write now raises
    r = post_spans(inproc.url, [call_span()])
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert httpx.get(inproc.url + "/healthz").status_code == 503
    r = post_spans(inproc.url, [call_span()])
    assert r.status_code == 503
