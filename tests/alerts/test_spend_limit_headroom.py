"""The ``spend_limit_headroom`` kind: each enabled spend limit (as last read from the Admin API)
against what traced calls spent in its current UTC period, through the real engine and store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claudescope.config import RuleConfig
from tests.alerts.bill_rows import set_limits
from tests.alerts.helpers import Clock, make_engine
from tests.fixtures_alerts import WebhookSink, call_row, insert_calls

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday: the ISO week began Monday 2026-11-30
WS = "wrkspc_01Capped"
RULE = RuleConfig(name="caps", kind="spend_limit_headroom")


def _spend(store: Any, at: datetime, usd: str, workspace: str | None = None, **fields: Any) -> None:
    attributes = {"anthropic.workspace.id": workspace} if workspace else {}
    insert_calls(store, [call_row(start_time=at, cost_usd=Decimal(usd), attributes=attributes, **fields)])


def _levels(store: Any, at: datetime = NOW, rule: RuleConfig = RULE) -> dict[str, tuple[str, float, str]]:
    engine = make_engine(store, rule, clock=Clock(at))
    return {e.details["key"]: (e.severity, e.details["value"], e.details["spent_usd"])
            for e in engine.evaluate() if e.state == "firing"}


def test_warning_then_critical_as_the_cap_nears(alert_store: Any, webhook_sink: WebhookSink) -> None:
    set_limits(alert_store, [{"period": "monthly", "amount_usd": "100"}])
    clock = Clock(NOW)
    engine = make_engine(alert_store, RULE, clock=clock, urls=(webhook_sink.url,))
    _spend(alert_store, NOW - timedelta(hours=1), "80")  # exactly 20 % left: not below the threshold
    assert engine.evaluate() == []
    _spend(alert_store, NOW - timedelta(minutes=50), "5")  # 15 % left: warning
    (warn,) = engine.evaluate()
    assert (warn.severity, warn.details["key"], warn.details["spent_usd"]) == ("warning", "organization|monthly",
                                                                               "85.000000000")
    assert warn.summary == ("caps: $85.00 of the $100.00 monthly spend limit used (15% left, alert below 20%) for the "
                            "organisation; spend as claudescope traced it: calls it never saw are not counted")
    assert engine.deliver() is None
    _spend(alert_store, NOW - timedelta(minutes=40), "6")  # 9 % left: below half the threshold, critical
    clock.advance(minutes=1)
    (crit,) = engine.evaluate()
    assert (crit.state, crit.severity) == ("firing", "critical")
    assert engine.evaluate() == []  # still critical: nothing new
    assert engine.deliver() is None
    titles = [m["title"] for m in webhook_sink.messages()]
    assert titles == ["[FIRING] caps (warning)", "[FIRING] caps (critical)"]
    # The cap is raised in the Console: resolved, at the severity it fired with (routes follow it).
    set_limits(alert_store, [{"period": "monthly", "amount_usd": "1000"}])
    (resolved,) = engine.evaluate()
    assert (resolved.state, resolved.severity) == ("resolved", "critical")
    assert resolved.summary.startswith("resolved: caps: $91.00 of the $1,000.00 monthly spend limit used (91% left")


def test_at_the_cap_is_critical_even_with_a_zero_threshold(alert_store: Any) -> None:
    set_limits(alert_store, [{"period": "daily", "amount_usd": "10"}])
    _spend(alert_store, NOW - timedelta(hours=1), "10")
    zero = RuleConfig(name="zero", kind="spend_limit_headroom", threshold=0.0)
    assert _levels(alert_store, rule=zero) == {"organization|daily": ("critical", 0.0, "10.000000000")}


def test_a_workspace_limit_counts_only_that_workspaces_calls(alert_store: Any) -> None:
    set_limits(alert_store, [{"scope_type": "workspace", "workspace_id": WS, "period": "daily", "amount_usd": "10"},
                             {"period": "daily", "amount_usd": "1000"}])
    _spend(alert_store, NOW - timedelta(hours=1), "8.5", WS)
    _spend(alert_store, NOW - timedelta(hours=1), "50", "wrkspc_other")
    _spend(alert_store, NOW - timedelta(hours=1), "50")  # no workspace named: not this workspace's
    assert _levels(alert_store) == {f"{WS}|daily": ("warning", 0.15, "8.500000000")}


def test_periods_start_at_utc_midnight_monday_and_the_first(alert_store: Any) -> None:
    set_limits(alert_store, [{"period": p, "amount_usd": "10"} for p in ("daily", "weekly", "monthly")])
    midnight = datetime(2026, 12, 2, tzinfo=UTC)
    _spend(alert_store, midnight - timedelta(microseconds=1), "4")  # Tuesday 23:59:59.999999: not today
    _spend(alert_store, midnight, "8.5")  # today, this week, this month
    _spend(alert_store, datetime(2026, 11, 30, tzinfo=UTC), "1")  # Monday 00:00: this week, last month
    _spend(alert_store, datetime(2026, 11, 30, tzinfo=UTC) - timedelta(microseconds=1), "100")  # last week
    assert _levels(alert_store) == {
        "organization|daily": ("warning", 0.15, "8.500000000"),
        "organization|weekly": ("critical", -0.35, "13.500000000"),
        "organization|monthly": ("critical", -0.25, "12.500000000"),
    }
    # At the next midnight the day starts again; the month too on the 1st.
    assert "organization|daily" not in _levels(alert_store, midnight + timedelta(days=1), RuleConfig(
        name="next_day", kind="spend_limit_headroom"))
    january = _levels(alert_store, datetime(2027, 1, 1, tzinfo=UTC), RuleConfig(name="jan", kind="spend_limit_headroom"))
    assert january == {}


def test_disabled_uncapped_superseded_and_other_currencies_do_not_count(alert_store: Any) -> None:
    set_limits(alert_store, [{"period": "daily", "amount_usd": "10", "is_enabled": False},
                             {"period": "weekly", "amount_usd": None},
                             {"period": "monthly", "amount_usd": "10", "currency": "EUR"},
                             {"scope_type": "workspace", "workspace_id": WS, "period": "daily", "amount_usd": "10"}])
    _spend(alert_store, NOW - timedelta(hours=1), "20")
    _spend(alert_store, NOW - timedelta(hours=1), "9", WS, superseded=True)  # replaced by a better record
    _spend(alert_store, NOW - timedelta(hours=1), "1", WS)
    assert _levels(alert_store) == {}


def test_builtin_is_silent_without_limits(alert_store: Any) -> None:
    _spend(alert_store, NOW - timedelta(hours=1), "1000")
    engine = make_engine(alert_store, builtins=True, clock=Clock(NOW))
    assert "spend_limit_headroom" in {r.name for r in engine.rules}
    assert [e.rule for e in engine.evaluate() if "spend_limit" in e.rule] == []
    set_limits(alert_store, [{"period": "monthly", "amount_usd": "1000"}])
    assert [(e.rule, e.severity) for e in engine.evaluate()] == [("spend_limit_headroom", "critical")]
