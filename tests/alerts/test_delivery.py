"""Delivery through apprise to a real SMTP server and a real webhook: outbox, retries, restarts,
resolves, cooldown, grouping, routing and ``alerts test``."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from claudescope.alerts.delivery import send_test
from claudescope.collector.store import Store
from claudescope.config import Config, ConfigError, NotifyConfig, RuleConfig
from tests.alerts.helpers import Clock, events, make_engine
from tests.fixtures_alerts import SmtpSink, WebhookSink, call_row, insert_calls, wait_for

REFUSALS = RuleConfig(name="refusals", kind="refusal", threshold=0.1, window="15m", params={"group_by": "feature"})


def _deliveries(store: Any) -> list[dict[str, Any]]:
    return store.read_arrow("SELECT * FROM alert_deliveries ORDER BY time").to_pylist()


def test_firing_reaches_email_and_webhook_with_details(alert_store: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    engine = make_engine(alert_store, REFUSALS, urls=(smtp_sink.url, webhook_sink.url))
    insert_calls(alert_store, [call_row(feature="support", user_id="u-9", stop_reason="refusal"), call_row(feature="support")])
    engine.evaluate()
    assert engine.deliver() is None
    (hook,) = webhook_sink.messages()
    (mail,) = smtp_sink.messages()
    assert hook["title"] == "[FIRING] refusals (warning)" and mail["subject"] == hook["title"]
    for body in (hook["message"], mail["body"]):
        assert "50.0% of calls (1 of 2) were refused in the last 15m" in body
        assert 'top users: "u-9" ($0.0010, 1 call)' in body
        assert "dashboard: http://127.0.0.1:8501/?range=1h&alert=refusals&feature=support" in body
    assert mail["to"] == ["oncall@example.com"]
    (event,) = events(alert_store)
    assert event["delivered"] is True
    assert sorted(event["channels"].split(", ")) == sorted([f"mailto://127.0.0.1:{smtp_sink.port}/oncall%40example.com", f"json://127.0.0.1:{webhook_sink.port}/hook"])


def test_failed_delivery_is_retried_with_backoff_and_nothing_lost(alert_store: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    clock = Clock()
    engine = make_engine(alert_store, REFUSALS, urls=(smtp_sink.url, webhook_sink.url), clock=clock)
    webhook_sink.fail_next(2)
    insert_calls(alert_store, [call_row(feature="a", stop_reason="refusal")])
    engine.evaluate()
    wait = engine.deliver()
    assert wait == pytest.approx(1.0) and webhook_sink.attempts == 1 and webhook_sink.messages() == []
    assert engine.deliver() == pytest.approx(1.0) and webhook_sink.attempts == 1  # backoff: not yet
    clock.advance(seconds=1)
    assert engine.deliver() == pytest.approx(2.0) and webhook_sink.attempts == 2  # second failure doubles it
    insert_calls(alert_store, [call_row(feature="b", stop_reason="refusal")])  # a new alert meanwhile
    engine.evaluate()
    clock.advance(seconds=2)
    assert engine.deliver() is None
    (hook,) = webhook_sink.messages()  # the retry carries both alerts, once each
    assert '[feature="a"]' in hook["message"] and '[feature="b"]' in hook["message"]
    assert len(smtp_sink.messages()) == 2  # email was never held back by the webhook's failures
    assert all(e["delivered"] for e in events(alert_store))
    attempts = [(d["channel_name"].split(":")[0], d["ok"]) for d in _deliveries(alert_store)]
    assert attempts.count(("json", False)) == 2 and attempts.count(("json", True)) == 2 and attempts.count(("mailto", True)) == 2


def test_restart_while_firing_sends_no_duplicate(tmp_path: Path, webhook_sink: WebhookSink) -> None:
    path = tmp_path / "claudescope.duckdb"
    store = Store.open(path)
    engine = make_engine(store, REFUSALS, urls=(webhook_sink.url,))
    insert_calls(store, [call_row(feature="a", stop_reason="refusal")])
    engine.evaluate()
    engine.deliver()
    store.close()
    store = Store.open(path)  # a new process would see exactly this
    try:
        engine = make_engine(store, REFUSALS, urls=(webhook_sink.url,))
        insert_calls(store, [call_row(feature="a", stop_reason="refusal")])
        assert engine.evaluate() == []
        assert engine.deliver() is None
        assert len(webhook_sink.messages()) == 1
    finally:
        store.close()


def test_restart_delivers_what_was_pending(tmp_path: Path, webhook_sink: WebhookSink) -> None:
    path = tmp_path / "claudescope.duckdb"
    store = Store.open(path)
    engine = make_engine(store, REFUSALS, urls=(webhook_sink.url,))
    webhook_sink.fail_next(1)
    insert_calls(store, [call_row(feature="a", stop_reason="refusal")])
    engine.evaluate()
    engine.deliver()  # fails; then the process "dies" before the retry
    store.close()
    store = Store.open(path)
    engine = make_engine(store, REFUSALS, urls=(webhook_sink.url,))
    try:
        engine.start()
        wait_for(webhook_sink.messages, timeout=10)
        assert engine.evaluate() == []  # still firing, known from alert_events
    finally:
        engine.stop()
        store.close()
    assert len(webhook_sink.messages()) == 1


def test_resolve_is_notified(alert_store: Any, webhook_sink: WebhookSink) -> None:
    clock = Clock()
    engine = make_engine(alert_store, REFUSALS, urls=(webhook_sink.url,), clock=clock)
    insert_calls(alert_store, [call_row(feature="a", stop_reason="refusal")])
    engine.evaluate()
    engine.deliver()
    clock.advance(minutes=16)
    (resolved,) = engine.evaluate()
    assert resolved.state == "resolved"
    engine.deliver()
    first, second = webhook_sink.messages()
    assert first["type"] == "warning" and second["type"] == "success"
    assert second["title"] == "[RESOLVED] refusals (warning)" and 'resolved: refusals [feature="a"]' in second["message"]


def test_cooldown_suppresses_a_quick_refire(alert_store: Any, webhook_sink: WebhookSink) -> None:
    rule = RuleConfig(name="refusals", kind="refusal", threshold=0.1, window="5m", cooldown="30m")
    clock = Clock()
    engine = make_engine(alert_store, rule, urls=(webhook_sink.url,), clock=clock)
    insert_calls(alert_store, [call_row(stop_reason="refusal", start_time=clock.now)])
    assert [e.state for e in engine.evaluate()] == ["firing"]
    clock.advance(minutes=6)
    assert [e.state for e in engine.evaluate()] == ["resolved"]
    insert_calls(alert_store, [call_row(stop_reason="refusal", start_time=clock.now)])
    assert engine.evaluate() == []  # 6 min after firing: still cooling down
    clock.advance(minutes=4)
    insert_calls(alert_store, [call_row(stop_reason="refusal", start_time=clock.now)])
    assert engine.evaluate() == []
    clock.advance(minutes=21)
    insert_calls(alert_store, [call_row(stop_reason="refusal", start_time=clock.now)])
    assert [e.state for e in engine.evaluate()] == ["firing"]


def test_a_burst_of_alerts_is_one_message(alert_store: Any, webhook_sink: WebhookSink, smtp_sink: SmtpSink) -> None:
    rules = (REFUSALS, RuleConfig(name="truncation", kind="max_tokens_rate", threshold=0.1),
             RuleConfig(name="overloaded", kind="error_rate", threshold=0.1, severity="critical", params={"error": "529"}))
    clock = Clock()
    engine = make_engine(alert_store, *rules, urls=(webhook_sink.url, smtp_sink.url), clock=clock, group_wait_s=1.0)
    insert_calls(alert_store, [call_row(feature="a", stop_reason="refusal"), call_row(feature="b", stop_reason="refusal")])
    engine.evaluate()
    insert_calls(alert_store, [call_row(stop_reason="max_tokens"), call_row(status="error", http_status=529, error_type="overloaded_error")])
    clock.advance(seconds=0.5)
    assert engine.deliver() == pytest.approx(0.5)  # held: related alerts may follow
    engine.evaluate()  # a second pass inside the grouping wait joins the same message
    clock.advance(seconds=1)
    assert engine.deliver() is None
    (hook,) = webhook_sink.messages()
    assert len(smtp_sink.messages()) == 1
    assert hook["title"] == "[claudescope] 4 alerts: 4 firing" and hook["type"] == "failure"
    assert hook["message"].count("FIRING [") == 4


def test_routing_by_tag(alert_store: Any, webhook_sink: WebhookSink, smtp_sink: SmtpSink) -> None:
    rules = (RuleConfig(name="minor", kind="refusal", threshold=0.1, severity="info"),
             RuleConfig(name="major", kind="max_tokens_rate", threshold=0.1, severity="critical"),
             RuleConfig(name="finance", kind="unpriced_model", tags=("money",)))
    urls = (f"critical,money={webhook_sink.url}", smtp_sink.url)
    engine = make_engine(alert_store, *rules, urls=urls)
    insert_calls(alert_store, [call_row(stop_reason="refusal"), call_row(stop_reason="max_tokens"), call_row(cost_usd=None)])
    engine.evaluate()
    engine.deliver()
    (hook,) = webhook_sink.messages()
    (mail,) = smtp_sink.messages()
    assert "major" in hook["message"] and "finance" in hook["message"] and "minor" not in hook["message"]
    assert all(name in mail["body"] for name in ("minor", "major", "finance"))


def test_bad_notify_url_names_its_key(alert_store: Any, webhook_sink: WebhookSink) -> None:
    with pytest.raises(ConfigError) as info:
        make_engine(alert_store, urls=(webhook_sink.url, "slack://notvalid"))
    assert info.value.key == "notify.urls[1]"


def test_where_that_does_not_bind_is_a_config_error(alert_store: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_engine(alert_store, RuleConfig(name="x", kind="refusal", where="duration_ms LIKE 5 AND lower(1, 2)"))
    assert info.value.key == "alerts.rules[0].where"


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_send_test_reports_each_channel(smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    out = io.StringIO()
    config = Config(notify=NotifyConfig(urls=(smtp_sink.url, webhook_sink.url)))
    assert send_test(config, out=Console(file=out, width=200)) == 0
    assert len(smtp_sink.messages()) == 1 and webhook_sink.messages()[0]["title"] == "[claudescope] test notification"
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["ok", "ok"]
    out = io.StringIO()
    config = Config(notify=NotifyConfig(urls=(webhook_sink.url, f"json://127.0.0.1:{_dead_port()}/x")))
    assert send_test(config, out=Console(file=out, width=200)) == 1
    assert [line.split()[0] for line in out.getvalue().splitlines()] == ["ok", "failed"]
    assert send_test(Config(), out=Console(file=io.StringIO())) == 1


def test_threads_deliver_on_ingest_within_seconds(alert_store: Any, webhook_sink: WebhookSink) -> None:
    engine = make_engine(alert_store, REFUSALS, urls=(webhook_sink.url,))
    alert_store.subscribe(engine.on_commit)
    engine.start()
    try:
        import time

        started = time.monotonic()
        insert_calls(alert_store, [call_row(feature="live", stop_reason="refusal")])
        wait_for(webhook_sink.messages, timeout=5)
        assert time.monotonic() - started < 5
    finally:
        engine.stop()
    assert json.loads(events(alert_store)[0]["details"])["key"] == "live"


def test_unknown_budget_timezone_is_a_config_error(alert_store: Any) -> None:
    with pytest.raises(ConfigError) as info:
        make_engine(alert_store, builtins=True, daily="5", timezone="Mars/Olympus_Mons")
    assert info.value.key == "budget.timezone"


def test_cli_alerts_test_command(tmp_path: Path, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    import subprocess
    import sys

    config = tmp_path / "claudescope.toml"
    config.write_text(f'[notify]\nurls = ["{smtp_sink.url}", "ops={webhook_sink.url}"]\n')
    done = subprocess.run([sys.executable, "-m", "claudescope", "alerts", "test", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(tags: ops)" in done.stdout and len(smtp_sink.messages()) == 1 and len(webhook_sink.messages()) == 1
    config.write_text('[notify]\nurls = ["nosuchscheme://x"]\n')
    done = subprocess.run([sys.executable, "-m", "claudescope", "alerts", "test", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "[notify] urls[0]" in done.stdout + done.stderr
