"""A firing alert's stored text follows its numbers while it fires, without a second notification."""

from __future__ import annotations

import json
from typing import Any

from claudescope.config import RuleConfig
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import WebhookSink, call_row, insert_calls

UNPRICED = RuleConfig(name="unpriced", kind="unpriced_model", severity="info", window="1h")


def _unpriced(n: int) -> list[dict[str, Any]]:
    return [call_row(response_model="claude-future-9", cost_usd=None) for _ in range(n)]


def test_unpriced_summary_follows_the_count_and_is_delivered_once(alert_store: Any, webhook_sink: WebhookSink) -> None:
    clock = Clock()
    engine = make_engine(alert_store, UNPRICED, urls=(webhook_sink.url,), clock=clock)
    insert_calls(alert_store, _unpriced(1))
    (fired,) = engine.evaluate()
    assert "1 calls to claude-future-9" in fired.summary
    assert engine.deliver() is None
    insert_calls(alert_store, _unpriced(40))
    clock.advance(seconds=30)
    assert engine.evaluate() == []  # the same alert: no new event
    assert engine.deliver() is None
    (row,) = events(alert_store)
    assert "41 calls to claude-future-9" in row["summary"]
    assert json.loads(row["details"])["value"] == 41
    assert row["state"] == "firing" and row["delivered"] is True and row["severity"] == "info"
    assert len(webhook_sink.messages()) == 1  # the refresh sent nothing


def test_a_restarted_engine_keeps_refreshing_the_same_event(alert_store: Any) -> None:
    clock = Clock()
    make_engine(alert_store, UNPRICED, clock=clock).evaluate()  # nothing yet
    insert_calls(alert_store, _unpriced(2))
    assert len(make_engine(alert_store, UNPRICED, clock=clock).evaluate()) == 1
    insert_calls(alert_store, _unpriced(3))
    assert make_engine(alert_store, UNPRICED, clock=clock).evaluate() == []  # a restart, state from the store
    (row,) = events(alert_store)
    assert "5 calls to claude-future-9" in row["summary"]


def test_small_moves_of_a_rate_do_not_rewrite_the_event(alert_store: Any) -> None:
    engine = make_engine(alert_store, RuleConfig(name="refusals", kind="refusal", threshold=0.1))
    insert_calls(alert_store, [call_row(stop_reason="refusal") for _ in range(2)] + [call_row() for _ in range(8)])
    (fired,) = engine.evaluate()
    assert "20.0% of calls (2 of 10)" in fired.summary
    insert_calls(alert_store, [call_row()])  # 18.2%: within a tenth of 20%
    assert engine.evaluate() == []
    assert "20.0% of calls (2 of 10)" in events(alert_store)[0]["summary"]
    insert_calls(alert_store, [call_row(), call_row()])  # 15.4%: moved more than a tenth
    assert engine.evaluate() == []
    assert "15.4% of calls (2 of 13)" in events(alert_store)[0]["summary"]
