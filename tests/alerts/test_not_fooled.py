"""No call-based alert is fooled by Claude Code's non-call spans (issue 15).

Claude Code's beta traces hold ``claude_code.interaction`` spans (and ``tool`` / ``hook`` spans
when tools or hooks run) beside each ``llm_request``: none is a call. Once they were stored as
zero-token calls with no model, firing ``unpriced_model`` ("1 calls to (none) have no price")
and diluting ``max_tokens_rate``. The corpus (moved to now) is replayed into a real collector
with its alert engine on; the rules must see exactly the real requests.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.collector.claude_code_retime import retimed
from tests.collector.test_claude_code_ingest import api_request_events, replay
from tests.fixtures_collector import RunningCollector

RULES = """
[alerts]
evaluate_every_s = 0.5

[[alerts.rules]]
name = "truncation"
kind = "max_tokens_rate"
threshold = 0.5
min_calls = 1
window = "1h"

[[alerts.rules]]
name = "claude code per developer"
kind = "budget"
where = "source = 'claude-code'"
group_by = "user"
period = "day"
budget_usd = 0.01
"""


def _with_tool_and_hook(raw: bytes, stop_reason: str) -> bytes:
    """The real traces body plus a ``tool`` and a ``hook`` span (copies of its interaction span
    under Claude Code's names), with the llm_request's stop reason set to ``stop_reason``."""
    request = ExportTraceServiceRequest.FromString(raw)
    spans = request.resource_spans[0].scope_spans[0].spans
    interaction = next(s for s in spans if s.name == "claude_code.interaction")
    for name in ("tool", "hook"):
        span = spans.add()
        span.CopyFrom(interaction)
        span.name = f"claude_code.{name}"
        span.parent_span_id = interaction.span_id
        span.span_id = hashlib.sha256(interaction.span_id + name.encode()).digest()[:8]
        for kv in span.attributes:
            if kv.key == "span.type":
                kv.value.string_value = name
            if kv.key == "gen_ai.operation.name":
                kv.value.string_value = "execute_tool" if name == "tool" else "hook"
    for span in spans:
        for kv in span.attributes:
            if span.name == "claude_code.llm_request" and kv.key == "stop_reason":
                kv.value.string_value = stop_reason
            if span.name == "claude_code.llm_request" and kv.key == "gen_ai.response.finish_reasons":
                kv.value.array_value.values[0].string_value = stop_reason
    return request.SerializeToString()


def _alerts(c: RunningCollector, rule: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The firing events of ``rule``, waiting until there is one (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        fired = c.query(f"SELECT rule, summary FROM alert_events WHERE rule = '{rule}' AND state = 'firing'")
        if fired or time.monotonic() > deadline:
            return fired
        time.sleep(0.2)


def _fired_rules(c: RunningCollector) -> set[str]:
    return {r["rule"] for r in c.query("SELECT rule FROM alert_events WHERE state = 'firing'")}


def _replay_traces(c: RunningCollector, stop_reason: str, *, with_logs: bool) -> None:
    items = []
    for path, content_type, raw in retimed("traces"):
        if path == "/v1/traces":
            items.append((path, content_type, _with_tool_and_hook(raw, stop_reason)))
        elif with_logs:
            items.append((path, content_type, raw))
    replay(c, items)
    assert [r["operation"] for r in c.query("SELECT operation FROM calls")] == ["chat"]  # one real request


def test_a_truncated_request_is_one_of_one_not_one_of_four(collector_factory: Any) -> None:
    c = collector_factory(RULES, alerts=True)
    _replay_traces(c, "max_tokens", with_logs=False)
    (fired,) = _alerts(c, "truncation")
    assert "(1 of 1)" in fired["summary"], fired["summary"]
    time.sleep(1.5)  # three more evaluations
    assert "unpriced_model" not in _fired_rules(c)


def test_non_call_spans_fire_nothing_and_the_developer_budget_does(collector_factory: Any) -> None:
    c = collector_factory(RULES, alerts=True)
    _replay_traces(c, "end_turn", with_logs=True)
    # The per-developer Claude Code budget ($0.01 a day; the session spent $0.05) fires for its developer.
    (budget,) = _alerts(c, "claude code per developer")
    (event,) = api_request_events("traces").values()
    assert event["user.id"] in budget["summary"]
    time.sleep(1.5)  # three more evaluations
    fired = _fired_rules(c)
    assert "unpriced_model" not in fired and "truncation" not in fired and "max_tokens_rate" not in fired, fired
