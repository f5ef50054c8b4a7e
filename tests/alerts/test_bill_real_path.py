"""``bill_drift`` and ``spend_limit_headroom`` through the real path, as a user runs it: a
``claudescope collector`` subprocess with its alert engine, the bundled fake Admin API told what to
bill and which spend limit is set, ``claudescope reconcile`` (or the collector's own spend-limit
read), and the alert delivered to a webhook on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from claudescope.fakeapi.billing import BillingConfig
from tests.fixtures_alerts import WebhookSink, wait_for
from tests.fixtures_collector import RunningCollector, call_span

KEY = "sk-ant-admin01-bill-drift-alert-test-0123456789"
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()


def _config(hook: WebhookSink, extra: str = "") -> str:
    return f'[alerts]\nevaluate_every_s = 0.5\n\n[notify]\nurls = ["{hook.url}"]\n{extra}'


def _firing(hook: WebhookSink, rule: str) -> list[str]:
    return [line for m in hook.messages() for line in m["message"].splitlines()
            if line.startswith("FIRING") and f"] {rule}:" in line]


def test_reconcile_finding_untraced_spend_raises_bill_drift(
    tmp_path: Path, fake_api_server: Callable[..., str], collector_factory: Callable[..., RunningCollector],
    webhook_sink: WebhookSink,
) -> None:
    collector = collector_factory(_config(webhook_sink), alerts=True)
    # Traced: one sonnet-4-6 call yesterday. Billed: that much plus a service claudescope never saw.
    at = datetime.combine(YESTERDAY, datetime.min.time(), UTC) + timedelta(hours=9)
    assert collector.post_spans([call_span(model="claude-sonnet-4-6", input_tokens=50_000, output_tokens=8000,
                                           start=at)]).status_code == 200
    billing = BillingConfig.parse([f"{YESTERDAY}:claude-sonnet-4-6:input=100000,output=16000",
                                   f"{YESTERDAY}:claude-sonnet-4-6:input=50000,output=8000"])
    url = fake_api_server(billing=billing)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "ANTHROPIC_", "OTEL_"))}
    env |= {"ANTHROPIC_ADMIN_API_KEY": KEY, "CLAUDESCOPE_ADMIN_API_URL": url, "CLAUDESCOPE_PORT": str(collector.port),
            "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "claudescope", "reconcile", "--data", str(collector.data_dir),
                             "--since", str(YESTERDAY), "--until", str(YESTERDAY)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = collector.query("SELECT bill_usd, calls_usd, cause, explanation FROM reconciliation_latest")
    assert row["cause"] == "untraced", row
    lines = wait_for(lambda: _firing(webhook_sink, "bill_drift"), timeout=20)
    head = f'FIRING [warning] bill_drift: "claude-sonnet-4-6" on {YESTERDAY} (UTC): claudescope '
    assert lines[0].startswith(head), lines[0]
    assert "(drift 66.67%, alert above 0.10%); cause untraced: " in lines[0], lines[0]
    (event,) = collector.query("SELECT summary, CAST(details AS VARCHAR) AS details FROM alert_events "
                               "WHERE rule = 'bill_drift'")
    details = json.loads(event["details"])
    assert (details["day"], details["model"], details["cause"]) == (str(YESTERDAY), "claude-sonnet-4-6", "untraced")
    assert details["explanation"] == row["explanation"] and details["explanation"] in event["summary"]
    assert details["bill_usd"] == row["bill_usd"] and details["calls_usd"] == row["calls_usd"]
    assert KEY not in json.dumps(webhook_sink.messages()) and KEY not in collector.log()


def test_a_spend_limit_read_by_the_collector_raises_headroom(
    fake_api_server: Callable[..., str], collector_factory: Callable[..., RunningCollector], webhook_sink: WebhookSink,
) -> None:
    url = fake_api_server(billing=BillingConfig.parse([], [], ["organization:daily:0.50"]))
    collector = collector_factory(_config(webhook_sink, "\n[reconcile]\ndaily = false\n"), alerts=True,
                                  env={"ANTHROPIC_ADMIN_API_KEY": KEY, "CLAUDESCOPE_ADMIN_API_URL": url})
    # $0.45 of sonnet-4-5 input today ($3 / MTok): 10 % of the $0.50 daily cap left.
    assert collector.post_spans([call_span(model="claude-sonnet-4-5", input_tokens=150_000, output_tokens=0,
                                           start=datetime.now(UTC) - timedelta(minutes=1))]).status_code == 200
    lines = wait_for(lambda: _firing(webhook_sink, "spend_limit_headroom"), timeout=20)
    assert lines[0] == ("FIRING [warning] spend_limit_headroom: $0.4500 of the $0.5000 daily spend limit used (10% left, "
                        "alert below 20%) for the organisation; spend as claudescope traced it: calls it never saw "
                        "are not counted")
    assert KEY not in json.dumps(webhook_sink.messages()) and KEY not in collector.log()
