"""Walking skeleton: a real ``claudescope collector`` subprocess with the alert engine, a real SMTP
server and a real webhook; spans blow the daily budget and hit max_tokens."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.fixtures_alerts import SmtpSink, WebhookSink, wait_for
from tests.fixtures_collector import call_span


def _config(smtp: SmtpSink, hook: WebhookSink, extra: str = "") -> str:
    return (f'[budget]\ndaily_usd = 0.01\n\n[alerts]\nevaluate_every_s = 0.5\n\n'
            f'[notify]\nurls = ["{smtp.url}", "{hook.url}"]\ndashboard_url = "http://127.0.0.1:8501/"\n{extra}')


def _truncated_spend(count: int) -> list[dict[str, Any]]:
    # claude-sonnet-4-5 at $15 per million output tokens: 1000 tokens = $0.015 each.
    # The rate-limit headers say 5% of the token budget is left (claudescope.ratelimit.* attributes).
    headroom = {"claudescope.ratelimit.tokens.limit": 400000, "claudescope.ratelimit.tokens.remaining": 20000}
    return [call_span(feature="support_chat", user_id=f"u-{i}", stop_reason="max_tokens", output_tokens=1000,
                      attributes=headroom) for i in range(count)]


def _settled(hook: WebhookSink, smtp: SmtpSink, quiet_s: float = 2.0) -> tuple[int, int]:
    """Message counts once nothing new has arrived for ``quiet_s`` (a burst may span passes)."""
    counts, since = (-1, -1), time.monotonic()
    while time.monotonic() - since < quiet_s:
        now = (len(hook.messages()), len(smtp.messages()))
        if now != counts:
            counts, since = now, time.monotonic()
        time.sleep(0.05)
    return counts


def _alert_names(body: str) -> list[str]:
    return [line.split("] ", 1)[1].split(":", 1)[0] for line in body.splitlines() if line.startswith("FIRING [")]


def test_budget_and_max_tokens_reach_each_channel_exactly_once(collector_factory: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    config = _config(smtp_sink, webhook_sink)
    running = collector_factory(config, alerts=True)
    posted = time.monotonic()
    assert running.post_spans(_truncated_spend(5)).status_code == 200
    wait_for(lambda: webhook_sink.messages() and smtp_sink.messages(), timeout=5)
    latency = time.monotonic() - posted
    time.sleep(1.5)  # several timer evaluations: nothing may repeat
    assert running.post_spans(_truncated_spend(2)).status_code == 200
    time.sleep(1.5)
    hooks, mails = webhook_sink.messages(), smtp_sink.messages()
    hook_alerts = sorted(a for m in hooks for a in _alert_names(m["message"]))
    mail_alerts = sorted(a for m in mails for a in _alert_names(m["body"]))
    assert hook_alerts == mail_alerts
    assert len(hook_alerts) == len(set(hook_alerts))  # exactly one delivery per channel per alert
    assert {"budget_daily", "max_tokens_rate", "rate_limit_headroom"} <= set(hook_alerts)
    body = "\n".join(m["message"] for m in hooks)
    # The first POST may be committed in more than one batch, so the spend seen can be lower.
    assert re.search(r"budget_daily: spend \$0\.0\d+ is \d+% of the \$0\.0100 daily budget, crossed 100%", body), body
    assert 'top features: "support_chat"' in body and "dashboard: http://127.0.0.1:8501/?range=" in body
    events = running.query("SELECT rule, state, delivered, channels FROM alert_events ORDER BY rule")
    assert {e["rule"] for e in events} == set(hook_alerts)
    assert all(e["delivered"] and e["state"] == "firing" and "json://" in e["channels"] and "mailto://" in e["channels"] for e in events)
    assert latency < 5


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restart_while_firing_does_not_resend(how: str, collector_factory: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink, tmp_path: Any) -> None:
    config = _config(smtp_sink, webhook_sink)
    data = tmp_path / "shared-data"
    running = collector_factory(config, alerts=True, data_dir=data)
    running.post_spans(_truncated_spend(5))
    wait_for(lambda: webhook_sink.messages() and smtp_sink.messages(), timeout=5)
    before = _settled(webhook_sink, smtp_sink)
    if how == "sigkill":
        running.kill()  # a crash: the events were committed before delivery, so nothing is lost
    else:
        assert running.stop() == 0
    running = collector_factory(config, alerts=True, data_dir=data)
    running.post_spans(_truncated_spend(3))
    time.sleep(2.5)  # ingest evaluation plus timer evaluations after the restart
    assert (len(webhook_sink.messages()), len(smtp_sink.messages())) == before, [m["message"] for m in webhook_sink.messages()]


def test_unusable_notify_url_stops_the_collector_with_exit_2(collector_factory: Any, smtp_sink: SmtpSink, webhook_sink: WebhookSink) -> None:
    config = (f'[notify]\nurls = ["{webhook_sink.url}", "slack://notvalid"]\n')
    with pytest.raises(RuntimeError, match=r"exited with 2[\s\S]*\[notify\] urls\[1\]"):
        collector_factory(config, alerts=True)


def test_bad_where_stops_the_collector_with_exit_2(collector_factory: Any) -> None:
    config = '[[alerts.rules]]\nname = "x"\nkind = "max_tokens_rate"\nwhere = "feature = 1; DROP TABLE call_spans"\n'
    with pytest.raises(RuntimeError, match=r"exited with 2[\s\S]*\[alerts\.rules\[0\]\] where"):
        collector_factory(config, alerts=True)


def test_crash_with_a_failing_channel_loses_nothing_and_resends_nothing(collector_factory: Any, smtp_sink: SmtpSink,
                                                                       webhook_sink: WebhookSink, tmp_path: Any) -> None:
    config = _config(smtp_sink, webhook_sink)
    data = tmp_path / "crash-data"
    webhook_sink.fail_next(1000)  # the webhook is down
    running = collector_factory(config, alerts=True, data_dir=data)
    running.post_spans(_truncated_spend(5))
    wait_for(lambda: smtp_sink.messages() and webhook_sink.attempts >= 2, timeout=10)  # email sent, webhook retried
    mails = _settled(webhook_sink, smtp_sink)[1]
    running.kill()
    with webhook_sink.lock:
        webhook_sink.statuses.clear()  # the webhook is back
    collector_factory(config, alerts=True, data_dir=data)
    wait_for(webhook_sink.messages, timeout=10)
    hooks, mails_after = _settled(webhook_sink, smtp_sink)
    assert mails_after == mails  # email took everything before the crash: not sent again
    delivered = sorted(a for m in webhook_sink.messages() for a in _alert_names(m["message"]))
    emailed = sorted(a for m in smtp_sink.messages() for a in _alert_names(m["body"]))
    assert delivered == emailed and len(delivered) == len(set(delivered))
