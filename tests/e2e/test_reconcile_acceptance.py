"""Issue 17 acceptance: `claudescope reconcile` against the bundled fake Admin API after a demo day.

Everything runs as a user runs it: the fake (`python -m claudescope.fakeapi`), a collector with
its alert engine, `claudescope demo --fake-api` (the real SDK, instrumented), a second service
traced through `claudescope run`, and `claudescope reconcile`. With everything traced every
day x model row agrees with the bill within 0.01 %; once the fake is told to bill usage nobody
traced (one day, one model) and to bill one model at another price (a model only traced
today), exactly those two rows differ, with causes `untraced` and `price_table`, and the
built-in `bill_drift` alert fires for each of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import RunningCollector

KEY = "sk-ant-admin01-acceptance-0123456789abcdefghijklmnop"
UNPRICED = "claude-nimbus-preview"  # the demo's model without a price: both sides are told one
PROBE_MODEL = "claude-sonnet-5-5"  # a model the demo does not call: traced by the probe only, today
PROBE = """
import anthropic, os
client = anthropic.Anthropic(base_url=os.environ["FAKE_URL"], api_key="sk-ant-api03-probe")
for n in range(6):
    client.messages.create(model="claude-sonnet-5-5", max_tokens=2000, extra_headers={"x-fake-usage": "input=2000,output=1500"},
                           messages=[{"role": "user", "content": f"[{n}] price this sentence, please. " * 30}])
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "ANTHROPIC_", "OTEL_"))}
    return {**env, "COLUMNS": "200", **extra}


@pytest.fixture
def fake_url(tmp_path: Path) -> Iterator[str]:
    """`python -m claudescope.fakeapi` on a free port, billing the unpriced demo model at $1 / $5."""
    port = free_port()
    log = (tmp_path / "fake.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "claudescope.fakeapi", "--port", str(port),
                             "--bill-price", f"{UNPRICED}:input=1,output=5"], stdout=log, stderr=subprocess.STDOUT, env=_env())
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "fake.log").read_text()
            try:
                httpx.get(url + "/v1/fake/billing", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _cli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claudescope", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _reconcile(collector: RunningCollector, fake_url: str, since: date, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = _env(ANTHROPIC_ADMIN_API_KEY=KEY, CLAUDESCOPE_ADMIN_API_URL=fake_url, CLAUDESCOPE_PORT=str(collector.port))
    result = _cli("reconcile", "--data", str(collector.data_dir), "--since", str(since), env=env, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert KEY not in result.stdout + result.stderr
    return result


def _latest(collector: RunningCollector) -> list[dict[str, Any]]:
    return collector.query("SELECT day, model, workspace_id, bill_usd, calls_usd, diff_usd, drift, matches, cause, explanation "
                           "FROM reconciliation_latest ORDER BY day, model")


def _bill_drift_events(collector: RunningCollector, want: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = collector.query("SELECT details FROM alert_events WHERE rule = 'bill_drift' AND state = 'firing'")
        events = [json.loads(r["details"]) for r in rows]
        if len(events) >= want or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def test_reconcile_finds_an_untraced_service_and_a_wrong_price(
    tmp_path: Path, fake_url: str, collector_factory: Callable[..., RunningCollector],
) -> None:
    config = f'[alerts]\nevaluate_every_s = 0.5\n\n[prices]\n"{UNPRICED}" = {{ input = 1.0, output = 5.0 }}\n'
    collector = collector_factory(config, alerts=True)
    demo = _cli("demo", "--endpoint", collector.url, "--fake-api", fake_url, "--calls", "200", env=_env(), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr[-2000:]
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    run = subprocess.run([sys.executable, "-m", "claudescope", "run", "--endpoint", collector.url, "--service-name", "pricing-probe",
                          "--", sys.executable, str(probe)], cwd=tmp_path, env=_env(FAKE_URL=fake_url), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    today = datetime.now(UTC).date()
    since = today - timedelta(days=2)

    # 1. Everything traced: every day x model row agrees with the bill within 0.01 %.
    _reconcile(collector, fake_url, since, tmp_path)
    first = _latest(collector)
    models = {r["model"] for r in first}
    assert len(first) >= 5 and any(r["model"].startswith(PROBE_MODEL) for r in first), first
    for row in first:
        assert row["matches"] and row["cause"] == "match", row
        assert Decimal(row["bill_usd"]) > 0 and abs(Decimal(row["drift"])) <= Decimal("0.0001"), row

    # 2. The fake bills usage nobody traced (yesterday, one model the demo called that day) and
    #    bills the probe's model at $12 instead of $10 per million output tokens (9,000 of them:
    #    $0.018, above bill_drift's one-cent floor).
    yesterday = today - timedelta(days=1)
    untraced_model = next(r["model"] for r in first if r["day"] == str(yesterday) and not r["model"].startswith(PROBE_MODEL))
    injection = {"untraced": [f"{yesterday}:{untraced_model}:input=40000,output=6000"], "prices": [f"{PROBE_MODEL}:output=12"]}
    assert httpx.post(fake_url + "/v1/fake/billing", json=injection, timeout=30).status_code == 200
    result = _reconcile(collector, fake_url, since, tmp_path)
    assert f"{len(first) - 2} of {len(first)} day x model rows match the bill within 0.1 %" in result.stdout

    second = {(r["day"], r["model"]): r for r in _latest(collector)}
    wrong = {k: r for k, r in second.items() if not r["matches"]}
    probe_row = next(k for k in second if k[0] == str(today) and k[1].startswith(PROBE_MODEL))
    assert set(wrong) == {(str(yesterday), untraced_model), probe_row}, wrong
    untraced = wrong[(str(yesterday), untraced_model)]
    assert untraced["cause"] == "untraced"
    assert "46,000 more tokens" in untraced["explanation"] and "Services that did report" in untraced["explanation"]
    priced = wrong[probe_row]
    assert priced["cause"] == "price_table" and Decimal(priced["diff_usd"]) == Decimal("-0.018")
    assert "output tokens at $12/MTok where claudescope's price table has $10/MTok" in priced["explanation"]
    assert {r["model"] for r in second.values()} == models

    # 3. The built-in bill_drift alert fires for exactly those two day x model pairs.
    events = _bill_drift_events(collector, want=2)
    assert sorted((e["day"], e["model"], e["cause"]) for e in events) == sorted(
        [(str(yesterday), untraced_model, "untraced"), (str(today), probe_row[1], "price_table")]), events
    assert KEY not in collector.log()
