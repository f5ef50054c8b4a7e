"""An alias answering as a new snapshot mid-day raises the built-in ``model_changed`` alert once,
with per-feature metrics before and after the switch; a pinned model never raises it.

Real components: a ``claudescope collector`` subprocess with its alert engine (built-in rules
only), spans posted over OTLP/HTTP, alerts delivered to a loopback webhook.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.fixtures_alerts import WebhookSink, wait_for
from tests.fixtures_collector import call_span

ALIAS, OLD, NEW = "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20261117"
PINNED = "claude-haiku-4-5-20251001"


def _call(start: datetime, request: str, response: str | None, **fields: Any) -> dict[str, Any]:
    attrs = {"gen_ai.request.model": request, "gen_ai.response.model": response}
    fields.setdefault("input_tokens", 100)
    return call_span(start=start, attributes=attrs, **fields)


def _traffic(now: datetime) -> list[dict[str, Any]]:
    """Five hours of calls: the alias answers as OLD until two hours ago, then as NEW, which
    writes three times the output, truncates and refuses more, is slower and fails once."""
    spans = []
    for i in range(10):
        before, after = now - timedelta(hours=5) + timedelta(minutes=10 * i), now - timedelta(hours=2) + timedelta(minutes=10 * i)
        spans.append(_call(before, ALIAS, OLD, feature="support_chat", output_tokens=200, duration_ms=800.0))
        stop = "max_tokens" if i < 3 else "refusal" if i == 3 else "end_turn"
        spans.append(_call(after, ALIAS, NEW, feature="support_chat", output_tokens=600, duration_ms=2000.0,
                           stop_reason=stop))
        for at in (before, after):  # a pinned snapshot answers as itself all day
            spans.append(_call(at, PINNED, PINNED, feature="triage", output_tokens=50))
    spans.append(_call(now - timedelta(minutes=30), ALIAS, None, feature="support_chat", output_tokens=0,
                       input_tokens=0, stop_reason=None, error_type="api_error", http_status=500))
    return spans


def _firing(hook: WebhookSink) -> list[str]:
    return [m["message"] for m in hook.messages() if "model_changed" in m["message"]]


def test_alias_switch_fires_once_with_before_and_after(collector_factory: Any, webhook_sink: WebhookSink) -> None:
    running = collector_factory(f'[alerts]\nevaluate_every_s = 0.5\n\n[notify]\nurls = ["{webhook_sink.url}"]\n',
                                alerts=True)
    now = datetime.now(UTC).replace(microsecond=0)
    assert running.post_spans(_traffic(now)).status_code == 200
    (message,) = wait_for(lambda: _firing(webhook_sink), timeout=20)
    first = message.splitlines()
    assert first[0].startswith(f'FIRING [warning] model_changed: "{ALIAS}" now answers as "{NEW}" (was "{OLD}") '
                               f"since {(now - timedelta(hours=2)):%Y-%m-%d %H:%M} UTC: 11 calls since")
    feature_line = next(line for line in first if line.startswith('  feature "support_chat"'))
    assert "calls 10 -> 11" in feature_line and "output tokens 200 -> 600" in feature_line
    assert "max_tokens 0.0% -> 30.0%" in feature_line and "errors 0.0% -> 9.1%" in feature_line
    (event,) = running.query("SELECT rule, state, details FROM alert_events WHERE rule = 'model_changed'")
    details = json.loads(event["details"])
    assert (details["alias"], details["old_model"], details["new_model"]) == (ALIAS, OLD, NEW)
    (chat,) = [c for c in details["compare"] if c["feature"] == "support_chat"]
    before, after = chat["before"], chat["after"]
    # claude-sonnet-4-5: $3 / $15 per MTok; 100 in + 200 out before, 100 in + 600 out after (and one failed call at $0).
    assert Decimal(before["cost_per_call_usd"]) == Decimal("0.0033")
    assert Decimal(after["cost_per_call_usd"]) == (Decimal("0.0093") * 10 / 11).quantize(Decimal("0.000000001"))
    assert (before["output_tokens"], after["output_tokens"]) == (200, 600)
    assert (before["max_tokens_rate"], after["max_tokens_rate"]) == (0, 0.3)
    assert (before["refusal_rate"], after["refusal_rate"]) == (0, 0.1)
    assert (before["p95_latency_ms"], after["p95_latency_ms"]) == (800, 2000)
    assert (before["error_rate"], after["error_rate"]) == (0, 1 / 11)
    assert "triage" not in {c["feature"] for c in details["compare"]}  # another model's feature is not compared

    # More calls on the new snapshot: the stored numbers follow, nothing is sent again.
    later = [_call(now - timedelta(minutes=5), ALIAS, NEW, feature="support_chat", output_tokens=600) for _ in range(5)]
    assert running.post_spans(later).status_code == 200
    wait_for(lambda: json.loads(running.query(
        "SELECT details FROM alert_events WHERE rule = 'model_changed'")[0]["details"])["calls"] == 16, timeout=10)
    time.sleep(1.5)
    assert len(_firing(webhook_sink)) == 1
    keys = running.query("SELECT DISTINCT alert_key FROM alert_events WHERE rule = 'model_changed'")
    assert keys == [{"alert_key": f"model_changed|{ALIAS}"}]  # the pinned snapshot never fired


def test_pinned_models_and_a_steady_alias_never_fire(collector_factory: Any, webhook_sink: WebhookSink) -> None:
    running = collector_factory(f'[alerts]\nevaluate_every_s = 0.3\n\n[notify]\nurls = ["{webhook_sink.url}"]\n',
                                alerts=True)
    now = datetime.now(UTC)
    spans = [_call(now - timedelta(minutes=20 * i), model, answer, feature="f")
             for i in range(12) for model, answer in ((PINNED, PINNED), (ALIAS, OLD))]
    assert running.post_spans(spans).status_code == 200
    wait_for(lambda: running.query("SELECT count(*) AS n FROM calls")[0]["n"] == 24, timeout=10)
    time.sleep(2.0)  # several timer passes
    assert running.query("SELECT count(*) AS n FROM alert_events WHERE rule = 'model_changed'") == [{"n": 0}]
    assert _firing(webhook_sink) == []
