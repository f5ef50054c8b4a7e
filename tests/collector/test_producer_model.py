"""The producer model and stacking across producers (issue 14), against a real collector process.

Spans are shaped as each producer sends them (docs/producers.md); the Node.js corpus
(test_node_corpus.py) holds what the real npm producers emitted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from claudescope import semconv as sc
from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable, Usage
from tests.fixtures_collector import RunningCollector, call_span

PLATFORM = Path(__file__).resolve().parent.parent / "fixtures" / "producers" / "claude_platform" / "server_spans.json"
MODEL = "claude-sonnet-4-5-20250929"
# call_span's claudescope defaults, removed so a span carries only its producer's names
_BARE = {k: None for k in (
    sc.CS_OPERATION, sc.CS_UNCACHED_INPUT_TOKENS, sc.ANTHROPIC_STOP_REASON, sc.GEN_AI_RESPONSE_ID,
    sc.ANTHROPIC_REQUEST_ID, sc.HTTP_RESPONSE_STATUS_CODE,
)}


def price(input_tokens: int, read: int, w5m: int, w1h: int, output: int) -> Decimal:
    usage = Usage(input_tokens=input_tokens, cache_read_tokens=read, cache_write_5m_tokens=w5m, cache_write_1h_tokens=w1h, output_tokens=output)
    cost = PriceTable.load(PricingConfig()).price(MODEL, usage)
    assert cost is not None
    return cost.total_usd


def producer_span(scope: str, attributes: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A call span with only ``attributes`` (plus provider, operation, models, max_tokens)."""
    attrs = {**_BARE, sc.GEN_AI_RESPONSE_MODEL: MODEL, sc.GEN_AI_RESPONSE_ID: fields.pop("response_id", None), **attributes}
    return call_span(scope=scope, attributes=attrs, **fields)


def sdk_ts(output: int, **fields: Any) -> dict[str, Any]:
    """The TypeScript SDK's own span of a call (input is a total; the split in anthropic.*)."""
    return producer_span("com.anthropic.sdk.typescript", {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1320, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 1200, sc.ANTHROPIC_CACHE_WRITE_5M: 400, sc.ANTHROPIC_CACHE_WRITE_1H: 800,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: output, sc.ANTHROPIC_STOP_REASON: "end_turn",
    }, name="anthropic.messages.create", **fields)


def openllmetry_js(output: int, **fields: Any) -> dict[str, Any]:
    """OpenLLMetry-JS's span of the same call (input UNCACHED, writes as one sum, no ids)."""
    return producer_span("@traceloop/instrumentation-anthropic", {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 120, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 0,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 1200, sc.GEN_AI_USAGE_OUTPUT_TOKENS: output,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"], "traceloop.association.properties.feature": "support_chat",
    }, **fields)


def test_two_identical_calls_in_one_trace_stay_two_rows(collector: RunningCollector) -> None:
    """Two identical calls one after the other under one parent, each traced by the SDK tracer and
    OpenLLMetry-JS as siblings (no shared id): two rows, each the merge of its own two copies."""
    trace, parent = "7a" * 16, "a" * 16
    start = datetime.now(UTC) - timedelta(minutes=1)
    later = start + timedelta(seconds=2)
    spans = [
        openllmetry_js(20, trace_id=trace, parent_span_id=parent, start=start, duration_ms=900),
        sdk_ts(20, trace_id=trace, parent_span_id=parent, start=start + timedelta(milliseconds=5), duration_ms=880, response_id="msg_first"),
        openllmetry_js(20, trace_id=trace, parent_span_id=parent, start=later, duration_ms=900),
        sdk_ts(20, trace_id=trace, parent_span_id=parent, start=later + timedelta(milliseconds=5), duration_ms=880, response_id="msg_second"),
    ]
    assert collector.post_spans(spans).status_code == 200
    rows = collector.query(f"SELECT * FROM calls WHERE trace_id = '{trace}' ORDER BY start_time")
    assert [r["response_id"] for r in rows] == ["msg_first", "msg_second"]
    for row in rows:
        assert row["source"] == "anthropic-sdk-typescript" and row["feature"] == "support_chat"
        assert (row["input_tokens"], row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (120, 400, 800)
        assert Decimal(row["cost_usd"]) == price(120, 0, 400, 800, 20)
        assert json.loads(row["attributes"])["claudescope.sources"] == ["anthropic-sdk-typescript", "openllmetry-js"]
    # One producer's two identical, overlapping calls are never one call.
    twin_trace = "7b" * 16
    same = [call_span(trace_id=twin_trace, parent_span_id=parent, response_id=None, start=start) for _ in range(2)]
    assert collector.post_spans(same).status_code == 200
    assert len(collector.query(f"SELECT * FROM calls WHERE trace_id = '{twin_trace}'")) == 2


def test_copies_in_different_exports_merge_field_by_field(collector: RunningCollector) -> None:
    """OpenLLMetry-JS first (estimated split, attribution), the SDK tracer's child span in a later
    export (exact split, ids): one row with both, priced exactly, no longer marked estimated."""
    trace, outer = "7c" * 16, "c" * 16
    first = openllmetry_js(33, trace_id=trace, span_id=outer)
    assert collector.post_spans([first]).status_code == 200
    alone = collector.query(f"SELECT * FROM calls WHERE trace_id = '{trace}'")
    assert len(alone) == 1 and alone[0]["stop_reason"] is None  # "stop" is end_turn or stop_sequence: unknown
    attributes = json.loads(alone[0]["attributes"])
    assert attributes["claudescope.cache_split_estimated"] is True
    low, high = price(120, 0, 1200, 0, 33), price(120, 0, 0, 1200, 33)
    assert (Decimal(attributes["claudescope.cost_low_usd"]), Decimal(attributes["claudescope.cost_high_usd"])) == (low, high)
    assert Decimal(alone[0]["cost_usd"]) == low and alone[0]["stream"] is None and alone[0]["retries"] is None
    assert collector.post_spans([sdk_ts(33, trace_id=trace, parent_span_id=outer, response_id="msg_later")]).status_code == 200
    rows = collector.query(f"SELECT * FROM calls WHERE trace_id = '{trace}'")
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["feature"], row["response_id"], row["stop_reason"], row["stream"], row["retries"]) == ("support_chat", "msg_later", "end_turn", False, 0)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (400, 800)
    assert Decimal(row["cost_usd"]) == price(120, 0, 400, 800, 33)
    assert "claudescope.cache_split_estimated" not in json.loads(row["attributes"])
    spans = collector.query(f"SELECT count(*) AS n, sum(CASE WHEN superseded THEN 0 ELSE 1 END) AS shown FROM call_spans WHERE trace_id = '{trace}'")
    assert spans == [{"n": 2, "shown": 1}]


def test_unknown_producer_on_genai_v0_1_names(collector: RunningCollector) -> None:
    """A producer claudescope does not know, on the GenAI conventions v0.1.0 names: a correct row
    named by its scope; Strands' and Sentry's cache names read the same."""
    names = {
        "acme.genai.tracer": (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS),
        "strands.telemetry.tracer": ("gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_write_input_tokens"),
        "sentry.opentelemetry": ("gen_ai.usage.input_tokens.cached", "gen_ai.usage.input_tokens.cache_write"),
    }
    for scope, (read, write) in names.items():
        span = producer_span(scope, {
            sc.GEN_AI_USAGE_INPUT_TOKENS: 4320, read: 3000, write: 1200, sc.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
            sc.GEN_AI_RESPONSE_FINISH_REASONS: ["length"], sc.GEN_AI_OPERATION_NAME: None,
        }, name="gen_ai.client.inference")
        assert collector.post_spans([span]).status_code == 200
        row = collector.query(f"SELECT * FROM calls WHERE trace_id = '{span['trace_id']}'")[0]
        assert row["source"] == {"acme.genai.tracer": "acme.genai.tracer", "strands.telemetry.tracer": "strands", "sentry.opentelemetry": "sentry"}[scope]
        assert (row["operation"], row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == ("chat", 120, 3000, 1200)
        assert row["stop_reason"] == "max_tokens"
        assert json.loads(row["attributes"])["claudescope.cache_split_estimated"] is True


def test_claude_platform_server_spans(collector: RunningCollector) -> None:
    """The API's server span fills the client span's gaps (one row); alone it is a row of its own."""
    r = httpx.post(collector.url + "/v1/traces", content=PLATFORM.read_bytes(), headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    joined = collector.query(f"SELECT * FROM calls WHERE trace_id = '{'c1a0' * 8}'")
    assert len(joined) == 1, joined
    row = joined[0]
    assert row["source"] == "openllmetry-js" and row["feature"] == "support_chat"
    assert (row["response_id"], row["request_id"]) == ("msg_01PlatformJoined0000000", "req_01PlatformJoined0000000")
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (120, 3000, 400, 800)
    assert (row["stream"], row["stop_reason"]) == (True, "end_turn")
    assert Decimal(row["cost_usd"]) == price(120, 3000, 400, 800, 20)
    assert json.loads(row["attributes"])["claudescope.sources"] == ["openllmetry-js", "claude-platform"]
    alone = collector.query(f"SELECT * FROM calls WHERE trace_id = '{'c1a1' * 8}'")
    assert [(a["source"], a["service_name"], a["input_tokens"], a["cache_write_1h_tokens"]) for a in alone] == [("claude-platform", "claude-platform", 120, 800)]
    assert Decimal(alone[0]["cost_usd"]) == price(120, 3000, 400, 800, 20)


def test_merged_attributes_stay_under_the_row_limit(collector: RunningCollector) -> None:
    """Two copies whose attributes together pass 1 MiB: the row keeps the preferred copy's own
    (plus the producers list), never more than a stored row may hold."""
    trace, outer = "7d" * 16, "d" * 16
    big = {f"big.{i}": chr(97 + i) * 60_000 for i in range(10)}
    other = {f"other.{i}": chr(97 + i) * 60_000 for i in range(10)}
    spans = [
        openllmetry_js(40, trace_id=trace, span_id=outer),
        sdk_ts(40, trace_id=trace, parent_span_id=outer, response_id="msg_big"),
    ]
    spans[0]["attributes"].update(other)
    spans[1]["attributes"].update(big)
    assert collector.post_spans(spans).status_code == 200
    rows = collector.query(f"SELECT attributes FROM calls WHERE trace_id = '{trace}'")
    assert len(rows) == 1
    attributes = json.loads(rows[0]["attributes"])
    assert len(rows[0]["attributes"].encode()) < 1024 * 1024
    assert set(big) <= set(attributes) and not set(other) & set(attributes)
    assert attributes["claudescope.sources"] == ["anthropic-sdk-typescript", "openllmetry-js"]
