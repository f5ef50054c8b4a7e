"""Engine-level lifecycle: `for`, budget period rollover, and message rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claudescope.alerts.messages import Event, dashboard_link, render
from claudescope.config import RuleConfig
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import call_row, insert_calls

NOON = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)


def test_for_holds_the_alert_until_the_condition_lasted(alert_store: Any) -> None:
    clock = Clock(NOON)
    engine = make_engine(alert_store, RuleConfig(name="slow", kind="latency_p95", threshold=1000, window="1h", for_="5m"), clock=clock)
    insert_calls(alert_store, [call_row(start_time=NOON - timedelta(minutes=1), duration_ms=5000.0)])
    assert engine.evaluate() == []  # pending
    clock.advance(minutes=3)
    assert engine.evaluate() == []
    clock.advance(minutes=2)
    assert [e.state for e in engine.evaluate()] == ["firing"]


def test_daily_budget_resolves_when_the_day_rolls_over(alert_store: Any) -> None:
    clock = Clock(NOON)
    engine = make_engine(alert_store, builtins=True, daily="1", clock=clock)
    insert_calls(alert_store, [call_row(start_time=NOON - timedelta(minutes=1), cost_usd=Decimal("2"))])
    assert "budget_daily" in {e.rule for e in engine.evaluate() if e.state == "firing"}
    clock.advance(hours=13)  # 01:00 the next day: nothing spent yet today
    resolved = {e.rule for e in engine.evaluate() if e.state == "resolved"}
    assert "budget_daily" in resolved
    assert [r["state"] for r in events(alert_store) if r["rule"] == "budget_daily"] == ["firing", "resolved"]


def _event(**kw: Any) -> Event:
    base = {"id": "e1", "time": NOON, "rule": "truncation", "severity": "critical", "state": "firing",
            "summary": "truncation: 12.0% of calls (6 of 50) stopped at max_tokens", "details": {
                "group_by": "feature", "key": "support chat", "window": "15m",
                "top": {"user_id": [{"value": "u-1", "n": 4, "cost": "0.012"}, {"value": None, "n": 2, "cost": None}]}}}
    base.update(kw)
    return Event(**base)


def test_render_single_and_grouped_messages() -> None:
    title, body, kind = render([_event()], "https://dash.example.com/")
    assert title == "[FIRING] truncation (critical)" and kind == "failure"
    assert 'top users: "u-1" ($0.0120, 4 calls), (none) (2 calls)' in body
    assert "dashboard: https://dash.example.com/?range=1h&alert=truncation&feature=support+chat" in body
    title, body, kind = render([_event(), _event(id="e2", rule="cost", severity="info", state="resolved", summary="resolved: cost")], None)
    assert title == "[claudescope] 2 alerts: 1 firing, 1 resolved" and kind == "failure"
    assert body.index("FIRING") < body.index("RESOLVED") and "dashboard:" not in body
    assert render([_event(state="resolved")], None)[2] == "success"


def test_dashboard_link_keeps_existing_query_and_maps_dimensions() -> None:
    link = dashboard_link(_event(details={"group_by": "user_id", "key": "u-7", "period": "month"}), "http://d/?token=x")
    assert link == "http://d/?token=x&range=30d&alert=truncation&user=u-7"
