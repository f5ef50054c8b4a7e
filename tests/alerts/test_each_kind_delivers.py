"""Every rule kind, end to end in-process: known rows -> firing -> one email and one webhook each."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from claudescope.config import RuleConfig
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import SmtpSink, WebhookSink, call_row, insert_calls

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _at(minutes_ago: float = 1, **fields: Any) -> dict[str, Any]:
    return call_row(start_time=NOW - timedelta(minutes=minutes_ago), **fields)


Rows = Callable[[], list[dict[str, Any]]]
CASES: dict[str, tuple[RuleConfig, Rows, str]] = {
    "budget": (RuleConfig(name="r", kind="budget", threshold=1.0),
               lambda: [_at(cost_usd=Decimal("0.9"))], "crossed 80%"),
    "burn_rate": (RuleConfig(name="r", kind="burn_rate", params={"budget_usd": 2.5}),
                  lambda: [_at(cost_usd=Decimal("1"))], "spend will reach"),
    "max_tokens_rate": (RuleConfig(name="r", kind="max_tokens_rate"),
                        lambda: [_at(stop_reason="max_tokens")], "stopped at max_tokens"),
    "refusal": (RuleConfig(name="r", kind="refusal"), lambda: [_at(stop_reason="refusal")], "were refused"),
    "model_context_window_exceeded": (RuleConfig(name="r", kind="model_context_window_exceeded"),
                                      lambda: [_at(stop_reason="model_context_window_exceeded")], "context window"),
    "error_rate": (RuleConfig(name="r", kind="error_rate", params={"error": "429"}),
                   lambda: [_at(status="error", http_status=429, error_type="rate_limit_error")], "failed with 429"),
    "latency_p95": (RuleConfig(name="r", kind="latency_p95", threshold=1000),
                    lambda: [_at(duration_ms=4000.0)], "p95 latency 4.00 s"),
    "ttft_p95": (RuleConfig(name="r", kind="ttft_p95", threshold=500),
                 lambda: [_at(ttft_ms=900.0, stream=True)], "p95 time to first token 0.90 s"),
    "cache_hit_rate": (RuleConfig(name="r", kind="cache_hit_rate", params={"min_tokens": 100}),
                       lambda: [_at(minutes_ago=300, cache_read_tokens=900, input_tokens=100), _at(cache_read_tokens=0, input_tokens=1000)],
                       "cache hit rate 0.0%"),
    "rate_limit_headroom": (RuleConfig(name="r", kind="rate_limit_headroom", params={"resource": "requests"}),
                            lambda: [_at(attributes={"claudescope.ratelimit.requests.limit": 50, "claudescope.ratelimit.requests.remaining": 2})],
                            "2 of 50 requests left"),
    "unpriced_model": (RuleConfig(name="r", kind="unpriced_model"),
                       lambda: [_at(request_model="claude-x", response_model="claude-x", cost_usd=None)], '"claude-x" have no price'),
    "cost_anomaly": (RuleConfig(name="r", kind="cost_anomaly", params={"min_usd": 0.1}),
                     lambda: [_at(minutes_ago=60 * h, cost_usd=Decimal("0.01")) for h in range(2, 12)] + [_at(cost_usd=Decimal("1"))],
                     "its usual"),
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_fires_and_is_delivered_once_per_channel(kind: str, alert_store: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    rule, rows, phrase = CASES[kind]
    engine = make_engine(alert_store, rule, urls=(smtp_sink.url, webhook_sink.url), clock=Clock(NOW))
    insert_calls(alert_store, rows())
    fired = engine.evaluate()
    assert [e.state for e in fired] == ["firing"], [e.summary for e in fired]
    assert engine.deliver() is None
    assert engine.evaluate() == [] and engine.deliver() is None  # still firing: nothing new
    (hook,), (mail,) = webhook_sink.messages(), smtp_sink.messages()
    assert phrase in hook["message"] and phrase in mail["body"]
    assert [e["delivered"] for e in events(alert_store)] == [True]
