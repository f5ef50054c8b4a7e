"""The ``bill_drift`` kind: per model and UTC day, claudescope's cost against the bill, from the
latest reconciliation (``reconciliation_latest``), through the real engine over a real store."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from claudescope.alerts.rules import compile_rules
from claudescope.config import ConfigError, RuleConfig, load_config
from tests.alerts.bill_rows import Row, add_run
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import WebhookSink

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = date(2026, 12, 1)
MODEL = "claude-sonnet-5-5"
WHY = "The bill counts 120,000 more input tokens than the traced calls: calls that were not traced."


def _fired(engine: Any) -> dict[str, Any]:
    return {e.details["key"]: e for e in engine.evaluate() if e.state == "firing"}


def test_fires_per_model_and_day_with_the_rows_numbers_and_cause(alert_store: Any) -> None:
    add_run(alert_store, [Row(DAY, MODEL, "1.50", "1.20", "untraced", WHY),
                          Row(DAY - timedelta(days=1), MODEL, "2.00", "2.50", "price_table", "Tokens match; the price differs."),
                          Row(DAY, "claude-haiku-4-5", "0.80", "0.80")], run_at=NOW)
    fired = _fired(make_engine(alert_store, RuleConfig(name="bill", kind="bill_drift"), clock=Clock(NOW)))
    assert sorted(fired) == [f"{MODEL}|2026-11-30", f"{MODEL}|2026-12-01"]  # the matching model stays quiet
    event = fired[f"{MODEL}|2026-12-01"]
    assert event.severity == "warning"
    assert event.summary == (f'bill: {MODEL} on 2026-12-01 (UTC): claudescope $1.20, bill $1.50, diff -$0.3000 '
                             f'(drift 20.00%, alert above 0.10%); cause untraced: {WHY}')
    d = event.details
    assert (d["day"], d["model"], d["cause"], d["explanation"]) == ("2026-12-01", MODEL, "untraced", WHY)
    assert (d["bill_usd"], d["calls_usd"], d["diff_usd"], d["drift"]) == (
        "1.500000000", "1.200000000", "-0.300000000", "0.200000000")
    over = fired[f"{MODEL}|2026-11-30"]
    assert "diff +$0.5000 (drift 25.00%" in over.summary and over.details["cause"] == "price_table"


def test_threshold_is_exceeded_not_reached(alert_store: Any) -> None:
    # 0.05 % and exactly 0.1 % of a $100 bill: within the default tolerance; 0.11 % is not.
    add_run(alert_store, [Row(DAY, "a", "100", "100.05"), Row(DAY, "b", "100", "100.10"),
                          Row(DAY, "c", "100", "100.11", "price_table", "p")], run_at=NOW)
    assert sorted(_fired(make_engine(alert_store, RuleConfig(name="bill", kind="bill_drift"), clock=Clock(NOW)))) \
        == ["c|2026-12-01"]
    loose = make_engine(alert_store, RuleConfig(name="loose", kind="bill_drift", threshold=0.002), clock=Clock(NOW))
    assert _fired(loose) == {}


def test_min_usd_keeps_tiny_amounts_quiet(alert_store: Any) -> None:
    add_run(alert_store, [Row(DAY, MODEL, "0.004", "0.002", "untraced", WHY)], run_at=NOW)  # 50 %, but $0.002
    assert _fired(make_engine(alert_store, RuleConfig(name="bill", kind="bill_drift"), clock=Clock(NOW))) == {}
    rule = RuleConfig(name="cents", kind="bill_drift", params={"min_usd": 0.001})
    assert list(_fired(make_engine(alert_store, rule, clock=Clock(NOW)))) == [f"{MODEL}|2026-12-01"]


def test_window_counts_utc_days_back_from_now(alert_store: Any) -> None:
    add_run(alert_store, [Row(date(2026, 12, 1), MODEL, "1", "2", "price_table", "p"),
                          Row(date(2026, 12, 2), MODEL, "1", "2", "price_table", "p")], run_at=NOW)
    at = datetime(2026, 12, 9, 0, 0, tzinfo=UTC)  # 7 days back is 2026-12-02 00:00 UTC
    # Each engine its own rule name: alert state is per rule and key, restored from the store.
    rule = RuleConfig(name="bill", kind="bill_drift")
    assert list(_fired(make_engine(alert_store, rule, clock=Clock(at)))) == [f"{MODEL}|2026-12-02"]
    before = RuleConfig(name="before", kind="bill_drift")
    assert sorted(_fired(make_engine(alert_store, before, clock=Clock(at - timedelta(microseconds=1))))) \
        == [f"{MODEL}|2026-12-01", f"{MODEL}|2026-12-02"]
    # As time moves on, a day leaving the window resolves, naming its model and day.
    moving = Clock(at - timedelta(microseconds=1))
    engine = make_engine(alert_store, RuleConfig(name="moving", kind="bill_drift"), clock=moving)
    assert len(engine.evaluate()) == 2
    moving.advance(microseconds=1)
    (gone,) = engine.evaluate()
    assert (gone.state, gone.summary) == ("resolved", f"resolved: moving [{MODEL}|2026-12-01]")
    wide = RuleConfig(name="wide", kind="bill_drift", window="30d")
    assert len(_fired(make_engine(alert_store, wide, clock=Clock(at)))) == 2


def test_workspaces_are_summed_per_model_and_day(alert_store: Any) -> None:
    add_run(alert_store, [Row(DAY, MODEL, "1.00", "1.10", "extra_traced", "more here", workspace="wrkspc_a"),
                          Row(DAY, MODEL, "1.00", "1.00", workspace="wrkspc_b"),
                          Row(DAY, MODEL, "1.00", "1.20", "untraced", "less there", workspace="default")], run_at=NOW)
    (event,) = _fired(make_engine(alert_store, RuleConfig(name="bill", kind="bill_drift"), clock=Clock(NOW))).values()
    assert event.details["bill_usd"] == "3.000000000" and event.details["diff_usd"] == "0.300000000"
    assert event.details["cause"] == "mixed"  # two causes among the rows that differ
    assert event.details["explanation"] == "wrkspc_a: more here default: less there"


def test_a_newer_matching_run_resolves_it(alert_store: Any) -> None:
    clock = Clock(NOW)
    engine = make_engine(alert_store, RuleConfig(name="bill", kind="bill_drift"), clock=clock)
    add_run(alert_store, [Row(DAY, MODEL, "1.50", "1.20", "untraced", WHY)], run_at=NOW - timedelta(hours=2))
    assert [e.state for e in engine.evaluate()] == ["firing"]
    # A run that failed covers nothing; a finished one replaces the day's rows.
    add_run(alert_store, [], run_at=NOW - timedelta(hours=1), since=DAY, until=DAY, error="cost report: HTTP 500")
    assert engine.evaluate() == []
    add_run(alert_store, [Row(DAY, MODEL, "1.50", "1.50")], run_at=NOW - timedelta(minutes=5))
    clock.advance(minutes=1)
    (resolved,) = engine.evaluate()
    assert resolved.state == "resolved" and "claudescope $1.50, bill $1.50" in resolved.summary


def test_builtin_is_on_and_silent_without_rows(alert_store: Any) -> None:
    engine = make_engine(alert_store, builtins=True, clock=Clock(NOW))
    assert [r for r in engine.rules if r.kind == "bill_drift"][0].name == "bill_drift"
    assert [e for e in engine.evaluate() if e.rule == "bill_drift"] == []
    add_run(alert_store, [Row(DAY, MODEL, "1.50", "1.20", "untraced", WHY)], run_at=NOW)
    assert [e.rule for e in engine.evaluate()] == ["bill_drift"]


def test_delivered_to_a_loopback_webhook_with_the_explanation_inert(alert_store: Any, webhook_sink: WebhookSink) -> None:
    hostile = "Services that reported: svc\nFIRING [critical] forged\u202e"
    add_run(alert_store, [Row(DAY, MODEL, "1.50", "1.20", "untraced", hostile)], run_at=NOW)
    engine = make_engine(alert_store, RuleConfig(name="bill_drift", kind="bill_drift"), urls=(webhook_sink.url,),
                         clock=Clock(NOW))
    assert [e.state for e in engine.evaluate()] == ["firing"]
    assert engine.deliver() is None
    (hook,) = webhook_sink.messages()
    assert hook["title"] == "[FIRING] bill_drift (warning)"
    first = hook["message"].splitlines()[0]
    assert first == ('FIRING [warning] bill_drift: "claude-sonnet-5-5" on 2026-12-01 (UTC): claudescope $1.20, '
                     'bill $1.50, diff -$0.3000 (drift 20.00%, alert above 0.10%); cause untraced: '
                     '"Services that reported: svc\\nFIRING [critical] forged\\u202e"')
    assert sum(line.startswith("FIRING") for line in hook["message"].splitlines()) == 1
    assert [e["delivered"] for e in events(alert_store)] == [True]


@pytest.mark.parametrize(("body", "key"), [
    ('threshold = 5\n', "alerts.rules[0].threshold"),  # a share: 0.05 means 5 %
    ('min_usd = -1\n', "alerts.rules[0].min_usd"),
    ('where = "feature = \'x\'"\n', "alerts.rules[0].where"),
    ('group_by = "feature"\n', "alerts.rules[0].group_by"),
    ('window = "soon"\n', "alerts.rules[0].window"),
])
def test_bad_config_names_the_key(tmp_path: Path, body: str, key: str) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text(f'[[alerts.rules]]\nname = "bad"\nkind = "bill_drift"\n{body}')
    with pytest.raises(ConfigError) as info:
        compile_rules(load_config(path))
    assert info.value.key == key and str(path) in str(info.value)


def test_config_defaults(tmp_path: Path) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text('[[alerts.rules]]\nname = "drift"\nkind = "bill_drift"\nseverity = "critical"\n')
    rules = {r.name: r for r in compile_rules(load_config(path))}
    drift = rules["drift"]
    assert (drift.threshold, drift.params["min_usd"], drift.window, drift.severity) == (
        0.001, 0.01, timedelta(days=7), "critical")
    assert rules["bill_drift"].builtin and rules["spend_limit_headroom"].builtin
