"""A spend cap (429 with ``error.details.error_code = enforced_spend_limit_reached``) is its own
error type end to end, and has its own critical built-in alert; rate-limit rules ignore it.

Real components: the real ``anthropic`` SDK, instrumented, against the bundled fake API scripted
to answer that 429; spans exported over OTLP/HTTP to a ``claudescope collector`` subprocess with
its alert engine; alerts delivered to a loopback webhook.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import claudescope.instrument as cs
from claudescope.alerts.rules import compile_rules
from claudescope.config import ConfigError, load_config
from tests.fixtures_alerts import WebhookSink, wait_for
from tests.fixtures_collector import call_span

WORKSPACE = "wrkspc_01SpendCapped"


def _config(hook: WebhookSink) -> str:
    return f'[alerts]\nevaluate_every_s = 0.5\n\n[notify]\nurls = ["{hook.url}"]\n'


def _firing(hook: WebhookSink) -> list[str]:
    return [line for m in hook.messages() for line in m["message"].splitlines() if line.startswith("FIRING")]


@pytest.fixture
def alerting(collector_factory: Any, webhook_sink: WebhookSink) -> Any:
    return collector_factory(_config(webhook_sink), alerts=True)


@pytest.fixture
def exporting(alerting: Any) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "spend-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=alerting.url + "/v1/traces")))
    cs.instrument(tracer_provider=provider)
    try:
        yield provider
    finally:
        cs.uninstrument()
        provider.shutdown()


def test_sdk_spend_limit_429_is_its_own_error_type_and_fires_its_alert(
    fake_api: str, alerting: Any, exporting: TracerProvider, webhook_sink: WebhookSink,
) -> None:
    client = anthropic.Anthropic(base_url=fake_api, api_key="test-key", max_retries=2)
    with cs.attributes(feature="nightly_report", user_id="u-7"), pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                               extra_headers={"x-fake-script": "spend_limit", "x-fake-workspace": WORKSPACE})
    assert info.value.error_code == "enforced_spend_limit_reached"  # the SDK saw the fake's envelope
    exporting.force_flush()
    rows = wait_for(lambda: alerting.query(
        "SELECT status, error_type, http_status, retries, feature, cost_usd, attributes FROM calls"), timeout=15)
    (row,) = rows
    assert (row["status"], row["error_type"], row["http_status"]) == ("error", "enforced_spend_limit_reached", 429)
    assert row["retries"] == 2  # the SDK did retry it twice: stored as it happened
    assert row["feature"] == "nightly_report" and Decimal(row["cost_usd"]) == 0  # a refused call bills nothing
    assert json.loads(row["attributes"])["anthropic.workspace.id"] == WORKSPACE
    lines = wait_for(lambda: [ln for ln in _firing(webhook_sink) if "spend_limit_reached" in ln], timeout=15)
    assert lines[0].startswith("FIRING [critical] spend_limit_reached: 1 call refused by a spend limit "
                               "(enforced_spend_limit_reached)")
    assert 'latest model "claude-haiku-4-5", feature "nightly_report"' in lines[0]
    assert f'[workspace="{WORKSPACE}"]' in lines[0]
    # Nothing calls a spend cap a rate limit.
    assert not [ln for ln in _firing(webhook_sink) if "error_rate_429" in ln or "rate_limit_headroom" in ln]


def test_rate_limit_rules_do_not_count_spend_limits(alerting: Any, webhook_sink: WebhookSink) -> None:
    # Twelve capped calls, each reporting no token headroom left, from producers naming the error
    # by envelope code and by the SDK's exception class; then one real rate limit as a control.
    drained = {"claudescope.ratelimit.tokens.limit": 400000, "claudescope.ratelimit.tokens.remaining": 0,
               "anthropic.workspace.id": WORKSPACE}
    spans = [call_span(feature="batch_jobs", http_status=429, output_tokens=0, input_tokens=0, stop_reason=None,
                       error_type="enforced_spend_limit_reached" if i % 2 else "EnforcedSpendLimitReachedError",
                       attributes=drained) for i in range(12)]
    assert alerting.post_spans(spans).status_code == 200
    lines = wait_for(lambda: [ln for ln in _firing(webhook_sink) if "spend_limit_reached" in ln], timeout=15)
    assert "12 calls refused by a spend limit" in lines[0]
    stored = alerting.query("SELECT DISTINCT error_type FROM calls")
    assert stored == [{"error_type": "enforced_spend_limit_reached"}]
    time.sleep(2.0)  # several evaluation passes
    rate_rules = [ln for ln in _firing(webhook_sink) if "error_rate_429" in ln or "rate_limit_headroom" in ln]
    assert rate_rules == []
    # Control: the same numbers as a real rate limit do fire the rate-limit rules.
    limited = [call_span(feature="batch_jobs", http_status=429, error_type="rate_limit_error", output_tokens=0,
                         input_tokens=0, stop_reason=None, attributes=drained) for _ in range(12)]
    assert alerting.post_spans(limited).status_code == 200
    wait_for(lambda: [ln for ln in _firing(webhook_sink) if "error_rate_429" in ln], timeout=15)
    wait_for(lambda: [ln for ln in _firing(webhook_sink) if "rate_limit_headroom:" in ln], timeout=15)


def test_config_accepts_the_new_kinds_and_names_bad_keys(tmp_path: Path) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text('[[alerts.rules]]\nname = "caps"\nkind = "spend_limit_reached"\ngroup_by = "feature"\n'
                    'window = "6h"\n[[alerts.rules]]\nname = "aliases"\nkind = "model_changed"\n'
                    'window = "12h"\nbaseline = "14d"\nmin_calls = 20\n')
    rules = {r.name: r for r in compile_rules(load_config(path))}
    assert rules["caps"].kind == "spend_limit_reached" and rules["caps"].group_by == "feature"
    assert rules["aliases"].params["min_calls"] == 20 and rules["aliases"].group_by == "request_model"
    assert rules["spend_limit_reached"].severity == "critical" and rules["spend_limit_reached"].builtin
    assert rules["model_changed"].builtin
    for body, key in (
        ('kind = "model_changed"\nbaseline = "fortnight"\n', "alerts.rules[0].baseline"),
        ('kind = "model_changed"\nmin_calls = -3\n', "alerts.rules[0].min_calls"),
        ('kind = "model_changed"\ngroup_by = "feature"\n', "alerts.rules[0].group_by"),
        ('kind = "spend_limit_reached"\ngroup_by = "tenant"\n', "alerts.rules[0].group_by"),
        ('kind = "spend_limit_reached"\nthreshold = -1\n', "alerts.rules[0].threshold"),
    ):
        path.write_text(f'[[alerts.rules]]\nname = "bad"\n{body}')
        with pytest.raises(ConfigError) as info:
            compile_rules(load_config(path))
        assert info.value.key == key, (body, info.value)
        assert str(path) in str(info.value) or "claudescope.toml" in str(info.value)


def test_span_values_in_the_summary_are_quoted_and_inert(alert_store: Any, webhook_sink: WebhookSink) -> None:
    """The model, feature and workspace a spend-limit summary names come from spans: each is quoted,
    kept to one line and bounded in the message, and stored as sent."""
    from claudescope.config import RuleConfig
    from tests.alerts.helpers import make_engine
    from tests.fixtures_alerts import call_row, insert_calls

    forged = "x\nFIRING [critical] forged line\u202e"
    engine = make_engine(alert_store, RuleConfig(name="caps", kind="spend_limit_reached"), urls=(webhook_sink.url,))
    insert_calls(alert_store, [call_row(status="error", http_status=429, error_type="enforced_spend_limit_reached",
                                        feature=forged, response_model=None, request_model="m\n@everyone",
                                        attributes={"anthropic.workspace.id": forged})])
    assert [e.state for e in engine.evaluate()] == ["firing"]
    assert engine.deliver() is None
    (hook,) = webhook_sink.messages()
    first = hook["message"].splitlines()[0]
    shown = '"x\\nFIRING [critical] forged line\\u202e"'
    assert first == (f'FIRING [warning] caps: 1 call refused by a spend limit (enforced_spend_limit_reached) in the '
                     f'last 1h, latest model "m\\n@everyone", feature {shown}; retrying cannot help: raise the limit '
                     f'in the Console [workspace={shown}]')
    assert sum(line.startswith("FIRING") for line in hook["message"].splitlines()) == 1
    stored = alert_store.read_arrow("SELECT summary FROM alert_events").to_pylist()[0]["summary"]
    assert forged in stored


def test_each_attempt_says_which_429_it_got(fake_api: str) -> None:
    """Retry accounting stays honest: a rate-limited attempt, then a capped one, each under its own type."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    cs.instrument(tracer_provider=provider)
    try:
        client = anthropic.Anthropic(base_url=fake_api, api_key="test-key", max_retries=1)
        with pytest.raises(anthropic.RateLimitError):
            client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}],
                                   extra_headers={"x-fake-script": "429,spend_limit", "x-fake-workspace": WORKSPACE})
    finally:
        cs.uninstrument()
    (span,) = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "claudescope.instrument"]
    assert span.attributes["error.type"] == "enforced_spend_limit_reached"
    assert span.attributes["http.request.resend_count"] == 1
    assert span.attributes["anthropic.workspace.id"] == WORKSPACE
    attempts = [(e.attributes["claudescope.attempt.error_type"], "claudescope.attempt.retry_after_s" in e.attributes)
                for e in span.events if e.name == "claudescope.attempt"]
    assert attempts == [("rate_limit_error", True), ("enforced_spend_limit_reached", False)]
