"""Walking skeleton, end to end: the real SDK -> fake API, instrumented -> stock OTLP/HTTP
exporter -> `claudescope collector` subprocess -> DuckDB -> POST /api/v1/query.

Costs are checked to the 1e-9 dollar against prices written out in this file (from Anthropic's
pricing page, per million tokens), not against claudescope's own price table.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import claudescope.instrument as cs

# USD per million tokens: input, output, 5m cache write, 1h cache write, cache read.
PRICES = {
    "claude-sonnet-4-5": (Decimal("3"), Decimal("15"), Decimal("3.75"), Decimal("6"), Decimal("0.30")),
    "claude-haiku-4-5": (Decimal("1"), Decimal("5"), Decimal("1.25"), Decimal("2"), Decimal("0.10")),
    "claude-opus-4-6": (Decimal("5"), Decimal("25"), Decimal("6.25"), Decimal("10"), Decimal("0.50")),
}
NANO = Decimal("0.000000001")


def expected_cost(model: str, inp: int, out: int, cw5: int, cw1h: int, cr: int, *, batch: bool = False) -> Decimal:
    p_in, p_out, p_w5, p_w1h, p_r = PRICES[model]
    total = (inp * p_in + out * p_out + cw5 * p_w5 + cw1h * p_w1h + cr * p_r) / Decimal(1_000_000)
    if batch:
        total /= 2
    return total.quantize(NANO)


def usage_header(inp: int, out: int, cw5: int = 0, cw1h: int = 0, cr: int = 0) -> str:
    return f"input={inp},output={out},cache_write_5m={cw5},cache_write_1h={cw1h},cache_read={cr}"


@pytest.fixture
def exporting(collector: Any) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=collector.url + "/v1/traces")))
    cs.instrument(tracer_provider=provider)
    try:
        yield provider
    finally:
        cs.uninstrument()
        provider.shutdown()


def wait_rows(collector: Any, sql: str, count: int, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        rows = collector.query(sql)
        if len(rows) >= count:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {count} rows, got {len(rows)}: {rows}")


COLUMNS = (
    "request_model, response_model, stream, status, error_type, http_status, retries, stop_reason, "
    "max_tokens, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "
    "output_tokens, user_id, feature, prompt_version, cost_usd, cost_input_usd, cost_output_usd, "
    "cost_cache_read_usd, cost_cache_write_usd, cost_other_usd, price_version, response_id, "
    "request_id, source, service_name, operation, ttft_ms, duration_ms, attributes"
)


def test_sync_and_stream_calls_arrive_priced_and_attributed(
    fake_api: str, collector: Any, exporting: TracerProvider
) -> None:
    client = anthropic.Anthropic(base_url=fake_api, api_key="sk-ant-test-key", max_retries=2)
    with cs.attributes(user_id="u-42", feature="support_chat", prompt_version="v2.1", tenant="acme"):
        sync_msg = client.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=512,
            messages=[{"role": "user", "content": "Where is my order?"}],
            extra_headers={"x-fake-usage": usage_header(120, 257, cw1h=800, cr=3000), "x-fake-stop": "end_turn"},
        )
    with cs.attributes(feature="summarize", prompt_version="v1"):
        stream = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            stream=True,
            metadata={"user_id": "meta-user-7"},
            messages=[{"role": "user", "content": "Summarise this long thread"}],
            extra_headers={"x-fake-usage": usage_header(50, 64, cw5=1000), "x-fake-stop": "max_tokens"},
        )
        events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    exporting.force_flush()

    rows = wait_rows(collector, f"SELECT {COLUMNS} FROM calls ORDER BY start_time", 2)
    assert len(rows) == 2
    sync_row, stream_row = rows

    assert sync_row["response_id"] == sync_msg.id
    assert sync_row["request_id"] == sync_msg._request_id
    assert (sync_row["request_model"], sync_row["response_model"]) == ("claude-sonnet-4-5", sync_msg.model)
    assert (sync_row["input_tokens"], sync_row["output_tokens"]) == (120, 257)
    assert (sync_row["cache_read_tokens"], sync_row["cache_write_5m_tokens"], sync_row["cache_write_1h_tokens"]) == (3000, 0, 800)
    assert (sync_row["stop_reason"], sync_row["max_tokens"], sync_row["stream"]) == ("end_turn", 512, False)
    assert (sync_row["user_id"], sync_row["feature"], sync_row["prompt_version"]) == ("u-42", "support_chat", "v2.1")
    assert json.loads(sync_row["attributes"])["tenant"] == "acme"
    assert (sync_row["status"], sync_row["retries"], sync_row["http_status"]) == ("ok", 0, 200)
    assert (sync_row["service_name"], sync_row["operation"], sync_row["source"]) == ("e2e-app", "chat", "claudescope")
    assert Decimal(sync_row["cost_usd"]) == expected_cost("claude-sonnet-4-5", 120, 257, 0, 800, 3000)
    assert Decimal(sync_row["cost_usd"]) == Decimal("0.009915000")  # 360 + 3855 + 4800 + 900 micro-dollars
    assert Decimal(sync_row["cost_cache_write_usd"]) == Decimal("0.004800000")
    assert Decimal(sync_row["cost_cache_read_usd"]) == Decimal("0.000900000")
    assert Decimal(sync_row["cost_other_usd"]) == 0
    assert sync_row["price_version"]
    assert sync_row["ttft_ms"] is None

    assert (stream_row["stream"], stream_row["stop_reason"], stream_row["max_tokens"]) == (True, "max_tokens", 64)
    assert (stream_row["input_tokens"], stream_row["output_tokens"], stream_row["cache_write_5m_tokens"]) == (50, 64, 1000)
    assert stream_row["user_id"] == "meta-user-7"  # from the request's metadata.user_id
    assert (stream_row["feature"], stream_row["prompt_version"]) == ("summarize", "v1")
    assert Decimal(stream_row["cost_usd"]) == expected_cost("claude-haiku-4-5", 50, 64, 1000, 0, 0)
    assert Decimal(stream_row["cost_usd"]) == Decimal("0.001620000")
    assert stream_row["ttft_ms"] is not None and 0 <= stream_row["ttft_ms"] <= stream_row["duration_ms"]


def test_retries_errors_and_unknown_models(fake_api: str, collector: Any, exporting: TracerProvider) -> None:
    client = anthropic.Anthropic(base_url=fake_api, api_key="sk-ant-test-key", max_retries=2)
    with cs.attributes(feature="retry"):
        client.messages.create(
            model="claude-opus-4-6",
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-script": "429,529,ok", "x-fake-usage": usage_header(10, 20)},
        )
    with cs.attributes(feature="bad"), pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="claude-opus-4-6", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-script": "400"},
        )
    with cs.attributes(feature="unknown"):
        client.messages.create(
            model="claude-nonexistent-9", max_tokens=100, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-usage": usage_header(10, 20)},
        )
    exporting.force_flush()

    rows = {r["feature"]: r for r in wait_rows(collector, f"SELECT {COLUMNS} FROM calls", 3)}
    retried = rows["retry"]
    assert (retried["status"], retried["retries"], retried["http_status"]) == ("ok", 2, 200)
    assert Decimal(retried["cost_usd"]) == expected_cost("claude-opus-4-6", 10, 20, 0, 0, 0)
    failed = rows["bad"]
    assert (failed["status"], failed["error_type"], failed["http_status"]) == ("error", "invalid_request_error", 400)
    assert Decimal(failed["cost_usd"]) == 0
    assert rows["unknown"]["cost_usd"] is None
    assert rows["unknown"]["status"] == "ok"
