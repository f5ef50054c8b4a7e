"""Each rule kind against a real Store holding known calls rows (in-process, fast)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claudescope.config import RuleConfig
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import call_row, insert_calls


NOON = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _fired(engine: Any) -> dict[str, Any]:
    return {(e.rule, e.details.get("key")): e for e in engine.evaluate() if e.state == "firing"}


def test_budget_levels_escalate_per_group(alert_store: Any) -> None:
    rule = RuleConfig(name="team budget", kind="budget", threshold=10.0, params={"group_by": "feature"})
    clock = Clock(NOON)
    engine = make_engine(alert_store, rule, clock=clock)

    def spend(feature: str, usd: str) -> dict[str, Any]:
        return call_row(feature=feature, cost_usd=Decimal(usd), start_time=clock.now - timedelta(minutes=1))

    insert_calls(alert_store, [spend("search", "5.5"), spend("chat", "1")])
    fired = _fired(engine)
    assert list(fired) == [("team budget", "search")]
    event = fired[("team budget", "search")]
    assert event.details["crossed"] == 0.5 and event.details["spent_usd"] == "5.500000000"
    assert "$5.50 is 55% of the $10.00 daily budget, crossed 50%" in event.summary
    assert event.details["top"]["feature"][0]["value"] == "search"
    assert _fired(engine) == {}  # same level: no repeat
    insert_calls(alert_store, [spend("search", "3")])
    fired = _fired(engine)
    assert fired[("team budget", "search")].details["crossed"] == 0.8
    insert_calls(alert_store, [spend("search", "2")])
    fired = _fired(engine)
    assert fired[("team budget", "search")].details["crossed"] == 1.0


def test_builtin_monthly_budget_counts_this_month_only(alert_store: Any) -> None:
    clock = Clock(NOON)
    engine = make_engine(alert_store, builtins=True, monthly="2", clock=clock)
    old = clock.now - timedelta(days=40)
    insert_calls(alert_store, [call_row(start_time=old, cost_usd=Decimal("100"))])  # a previous month
    assert "budget_monthly" not in {e.rule for e in engine.evaluate()}
    insert_calls(alert_store, [call_row(cost_usd=Decimal("1.7"), start_time=clock.now - timedelta(minutes=1))])
    fired = {e.rule: e for e in engine.evaluate()}
    assert fired["budget_monthly"].details["crossed"] == 0.8


def test_burn_rate_needs_every_window_burning(alert_store: Any) -> None:
    rule = RuleConfig(name="burn", kind="burn_rate", params={"budget_usd": 24, "period": "day", "windows": ["5m", "1h"]})
    clock = Clock(NOON)
    engine = make_engine(alert_store, rule, clock=clock)
    # $20 spent 50 min ago: the 1h window burns, the 5m window is quiet, so no alert.
    insert_calls(alert_store, [call_row(start_time=clock.now - timedelta(minutes=50), cost_usd=Decimal("20"))])
    assert engine.evaluate() == []
    insert_calls(alert_store, [call_row(start_time=clock.now - timedelta(minutes=1), cost_usd=Decimal("0.5"))])
    (fired,) = engine.evaluate()
    # 5m pace: $0.5 per 5 min over the 12 h left = $72 more; 1h pace: $20.5/h.
    assert fired.rule == "burn" and fired.details["projected_usd"] == ["92.500000000", "266.500000000"]
    assert "spend will reach $92.50 by the end of the day, over the $24.00 budget" in fired.summary


def test_max_tokens_rate_per_feature_and_critical_feature(alert_store: Any) -> None:
    rules = (
        RuleConfig(name="truncation", kind="max_tokens_rate", threshold=0.2, window="15m",
                   params={"group_by": "feature", "min_calls": 5}),
        RuleConfig(name="critical truncation", kind="max_tokens_rate", threshold=0.9,
                   params={"critical_features": ["checkout"]}),
    )
    engine = make_engine(alert_store, *rules)
    rows = [call_row(feature="support", stop_reason="max_tokens") for _ in range(2)]
    rows += [call_row(feature="support") for _ in range(6)]
    rows += [call_row(feature="checkout", stop_reason="max_tokens")] + [call_row(feature="checkout") for _ in range(30)]
    rows += [call_row(feature="support", stop_reason="max_tokens", start_time=call_row()["start_time"] - timedelta(hours=1))]
    insert_calls(alert_store, rows)
    fired = _fired(engine)
    assert set(fired) == {("truncation", "support"), ("critical truncation", "checkout")}
    assert "25.0% of calls (2 of 8) stopped at max_tokens" in fired[("truncation", "support")].summary
    assert "critical feature" in fired[("critical truncation", "checkout")].summary


def test_refusal_and_context_window_kinds(alert_store: Any) -> None:
    rules = (RuleConfig(name="refusals", kind="refusal", threshold=0.1),
             RuleConfig(name="ctx", kind="model_context_window_exceeded", threshold=0.1),
             RuleConfig(name="pauses", kind="stop_reason_rate", threshold=0.5, params={"stop_reason": "pause_turn"}))
    engine = make_engine(alert_store, *rules)
    insert_calls(alert_store, [call_row(stop_reason="refusal"), call_row(), call_row(), call_row(stop_reason="pause_turn")])
    fired = _fired(engine)
    assert set(fired) == {("refusals", "all")}
    insert_calls(alert_store, [call_row(stop_reason="model_context_window_exceeded")])
    assert set(_fired(engine)) == {("ctx", "all")}


def test_error_rate_classes_are_separate(alert_store: Any) -> None:
    rules = [RuleConfig(name=f"e{c}", kind="error_rate", threshold=0.2, params={"error": c}) for c in ("429", "529", "5xx", "timeout")]
    engine = make_engine(alert_store, *rules)
    ok = [call_row() for _ in range(6)]
    insert_calls(alert_store, ok + [call_row(status="error", http_status=529, error_type="overloaded_error") for _ in range(2)])
    assert set(_fired(engine)) == {("e529", "all")}
    insert_calls(alert_store, [call_row(status="error", http_status=None, error_type="timeout") for _ in range(3)])
    assert set(_fired(engine)) == {("etimeout", "all")}
    insert_calls(alert_store, [call_row(status="error", http_status=503, error_type="api_error") for _ in range(4)])
    assert set(_fired(engine)) == {("e5xx", "all")}


def test_latency_and_ttft_p95_per_model(alert_store: Any) -> None:
    rules = (RuleConfig(name="slow", kind="latency_p95", threshold=5000, params={"min_calls": 3}),
             RuleConfig(name="ttft", kind="ttft_p95", threshold=2000, params={"min_calls": 3}))
    engine = make_engine(alert_store, *rules)
    insert_calls(alert_store, [call_row(response_model="claude-opus-4-5", duration_ms=9000.0, ttft_ms=3000.0, stream=True) for _ in range(3)]
                 + [call_row(response_model="claude-haiku-4-5", duration_ms=800.0, ttft_ms=100.0) for _ in range(5)])
    fired = _fired(engine)
    assert set(fired) == {("slow", "claude-opus-4-5"), ("ttft", "claude-opus-4-5")}
    assert "p95 latency 9.00 s" in fired[("slow", "claude-opus-4-5")].summary


def test_cache_hit_rate_drop_against_own_baseline(alert_store: Any) -> None:
    rule = RuleConfig(name="cache", kind="cache_hit_rate", threshold=0.5, window="1h",
                      params={"group_by": "feature", "min_tokens": 1000})
    clock = Clock()
    engine = make_engine(alert_store, rule, clock=clock)
    day_ago = clock.now - timedelta(days=1)
    insert_calls(alert_store, [call_row(feature="rag", start_time=day_ago, input_tokens=100, cache_read_tokens=9000) for _ in range(3)])
    insert_calls(alert_store, [call_row(feature="rag", input_tokens=900, cache_read_tokens=1000) for _ in range(3)])
    assert _fired(engine) == {}  # 52.6% now against 98.9%: not yet below half
    insert_calls(alert_store, [call_row(feature="rag", input_tokens=9000, cache_read_tokens=0) for _ in range(3)])
    fired = _fired(engine)
    assert set(fired) == {("cache", "rag")}
    assert fired[("cache", "rag")].details["baseline"] > 0.98


def test_rate_limit_headroom_from_span_attributes(alert_store: Any) -> None:
    rule = RuleConfig(name="headroom", kind="rate_limit_headroom", threshold=0.2, params={"resource": "tokens"})
    engine = make_engine(alert_store, rule)
    attrs = {"claudescope.ratelimit.tokens.limit": 100000, "claudescope.ratelimit.tokens.remaining": 50000}
    insert_calls(alert_store, [call_row(attributes=attrs)])
    assert _fired(engine) == {}
    later = call_row()["start_time"] + timedelta(seconds=30)
    insert_calls(alert_store, [call_row(start_time=later, attributes={**attrs, "claudescope.ratelimit.tokens.remaining": 4000})])
    fired = _fired(engine)
    assert "4,000 of 100,000 tokens left" in fired[("headroom", "claude-sonnet-4-5")].summary


def test_unpriced_model_and_resolve_when_it_ages_out(alert_store: Any) -> None:
    clock = Clock()
    engine = make_engine(alert_store, RuleConfig(name="unpriced", kind="unpriced_model", window="15m"), clock=clock)
    insert_calls(alert_store, [call_row(response_model="claude-future-9", cost_usd=None), call_row()])
    fired = _fired(engine)
    assert set(fired) == {("unpriced", "claude-future-9")}
    clock.advance(minutes=20)
    resolved = engine.evaluate()
    assert [(e.rule, e.state) for e in resolved] == [("unpriced", "resolved")]
    assert [r["state"] for r in events(alert_store)] == ["firing", "resolved"]


def test_cost_anomaly_against_own_history(alert_store: Any) -> None:
    rule = RuleConfig(name="anomaly", kind="cost_anomaly", threshold=3.0, window="1h", params={"min_usd": 0.5})
    clock = Clock()
    engine = make_engine(alert_store, rule, clock=clock)
    history = [call_row(feature="search", start_time=clock.now - timedelta(hours=h), cost_usd=Decimal("0.2")) for h in range(2, 26)]
    insert_calls(alert_store, history + [call_row(feature="search", cost_usd=Decimal("0.3"))])
    assert _fired(engine) == {}
    insert_calls(alert_store, [call_row(feature="search", cost_usd=Decimal("2"))])
    fired = _fired(engine)
    assert "is 11.5x its usual" in fired[("anomaly", "search")].summary


def test_where_filter_limits_the_rule(alert_store: Any) -> None:
    rule = RuleConfig(name="support only", kind="max_tokens_rate", threshold=0.5, where="feature = 'support' AND user_id <> 'bot'")
    engine = make_engine(alert_store, rule)
    insert_calls(alert_store, [call_row(feature="other", stop_reason="max_tokens"), call_row(feature="support", user_id="bot", stop_reason="max_tokens")])
    assert _fired(engine) == {}
    insert_calls(alert_store, [call_row(feature="support", stop_reason="max_tokens")])
    assert set(_fired(engine)) == {("support only", "all")}


def test_events_record_details_as_json(alert_store: Any) -> None:
    engine = make_engine(alert_store, RuleConfig(name="refusals", kind="refusal", threshold=0.1, severity="critical"))
    insert_calls(alert_store, [call_row(stop_reason="refusal")])
    engine.evaluate()
    (row,) = events(alert_store)
    assert row["severity"] == "critical" and row["state"] == "firing" and row["delivered"] is False
    details = json.loads(row["details"])
    assert details["hits"] == 1 and details["top"]["model"][0]["value"] == "claude-sonnet-4-5"


def test_daily_budget_day_starts_in_the_budget_timezone(alert_store: Any) -> None:
    clock = Clock(NOON)  # 07:00 in New York, whose day began at 05:00 UTC
    engine = make_engine(alert_store, builtins=True, daily="1", clock=clock, timezone="America/New_York")
    insert_calls(alert_store, [call_row(start_time=NOON.replace(hour=4), cost_usd=Decimal("5"))])  # yesterday there
    assert "budget_daily" not in {e.rule for e in engine.evaluate()}
    insert_calls(alert_store, [call_row(start_time=NOON.replace(hour=6), cost_usd=Decimal("0.6"))])
    fired = {e.rule: e for e in engine.evaluate()}
    assert fired["budget_daily"].details["spent_usd"] == "0.600000000"
