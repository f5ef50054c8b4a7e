"""The Coding agents page and the source filter, against a real collector holding Claude Code's
real telemetry (the corpus, moved to now) beside an application's own calls."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from claudescope.config import PricingConfig
from claudescope.dashboard import formatting as fmt
from claudescope.pricing import PriceTable, Usage
from tests.collector.claude_code_retime import retimed
from tests.collector.test_claude_code_ingest import MANIFEST, api_request_events, expected_cost, replay
from tests.dashboard.test_browser import CHROMIUM_ARGS
from tests.dashboard.test_pages import go, metrics, open_app
from tests.fixtures_collector import RunningCollector, call_span, free_port

MODES = ("protobuf", "retry", "traces")  # three real sessions, one answered request each
APP_MODEL = "claude-sonnet-4-5"


def _claude_code_cost(mode: str) -> Decimal:
    (answered,) = [r for r in MANIFEST["modes"][mode]["requests"] if r["http_status"] == 200]
    return expected_cost(answered["model"], answered)


def _app_cost() -> Decimal:
    cost = PriceTable.load(PricingConfig()).price(APP_MODEL, Usage(input_tokens=100_000, output_tokens=10_000))
    assert cost is not None
    return cost.total_usd


@pytest.fixture
def loaded(collector_factory: Any) -> RunningCollector:
    c = collector_factory()
    now = datetime.now(UTC)
    for minutes, mode in enumerate(MODES, start=2):
        replay(c, retimed(mode, now - timedelta(minutes=minutes)))
    app = call_span(model=APP_MODEL, input_tokens=100_000, output_tokens=10_000, start=now - timedelta(minutes=6))
    assert c.post_spans([app]).status_code == 200
    return c


def _session_of(mode: str) -> tuple[str, str]:
    (event,) = api_request_events(mode).values()
    return event["session.id"], event["user.id"]


def test_coding_agents_page_shows_spend_by_developer_and_session(loaded: RunningCollector, monkeypatch: Any) -> None:
    at = go(open_app(monkeypatch, loaded.url), "coding_agents")
    shown = metrics(at)
    total = sum((_claude_code_cost(m) for m in MODES), Decimal(0))
    assert shown["Claude Code spend"] == fmt.money(total)
    assert shown["Applications' spend"] == fmt.money(_app_cost())
    assert shown["Sessions · developers"] == "3 · 3"
    assert shown["Cost per session"] == fmt.unit_money(total / 3)
    assert shown["Cache hit rate"] == fmt.pct(3000 / (120 + 3000 + 7000))
    tables = [d.value for d in at.dataframe]
    developers = next(t for t in tables if "Developer" in t.columns).set_index("Developer")
    sessions = next(t for t in tables if "Session" in t.columns).set_index("Session")
    for mode in MODES:
        session, user = _session_of(mode)
        cost = _claude_code_cost(mode)
        assert developers.loc[user, "spend"] == fmt.money(cost)
        assert sessions.loc[session, "spend"] == fmt.money(cost)
        assert sessions.loc[session, "cost per session"] == fmt.unit_money(cost)
        assert sessions.loc[session, "Claude Code's own price"] == fmt.money(cost)
    agents = next(t for t in tables if "Agent / skill / query source" in t.columns)
    assert agents["Agent / skill / query source"].tolist() == ["sdk"]
    models = next(t for t in tables if "Model" in t.columns)
    assert models["Model"].tolist() == ["claude-opus-5-5"]  # the application's model is not a coding agent's
    assert any("agree with the stored calls" in c.value for c in at.caption)
    assert not at.warning


def test_metrics_that_disagree_with_the_events_are_shown(loaded: RunningCollector, monkeypatch: Any) -> None:
    # The protobuf session's metrics reported once more, a second later: as if events were lost.
    _, _, raw = next(b for b in retimed("protobuf", datetime.now(UTC) - timedelta(minutes=2)) if b[0] == "/v1/metrics")
    request = ExportMetricsServiceRequest.FromString(raw)
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for point in metric.sum.data_points:
                    point.start_time_unix_nano += 10**9
                    point.time_unix_nano += 10**9
    replay(loaded, [("/v1/metrics", "application/x-protobuf", request.SerializeToString())])
    at = go(open_app(monkeypatch, loaded.url), "coding_agents")
    assert any("metrics disagree with its call events for 1 session" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if "metrics' cost" in d.value.columns)
    session, _ = _session_of("protobuf")
    row = table.iloc[0]
    assert fmt.plain(row["session"]) == session or session in str(row["session"])
    cost = _claude_code_cost("protobuf")
    assert (row["metrics' cost"], row["events' cost"]) == (fmt.unit_money(2 * cost), fmt.unit_money(cost))


@pytest.mark.parametrize(("source", "want"), [("claude-code", "cc"), ("(apps)", "app"), ("claudescope", "app")])
def test_source_filter_splits_app_and_claude_code(loaded: RunningCollector, monkeypatch: Any, source: str, want: str) -> None:
    at = open_app(monkeypatch, loaded.url, params={"source": source})
    total = sum((_claude_code_cost(m) for m in MODES), Decimal(0))
    expected = {"cc": (fmt.money(total), "3"), "app": (fmt.money(_app_cost()), "1")}[want]
    shown = metrics(at)
    assert (shown["Spend"], shown["Calls"]) == expected
    assert at.query_params["source"] == source


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_coding_agents_page_in_a_real_browser(loaded: RunningCollector, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "dashboard", "--api", loaded.url, "--port", str(port)],
                            env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url + "/_stcore/health")
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(f"{url}/coding-agents")
                page.get_by_role("heading", name="Coding agents", exact=True).first.wait_for(timeout=30_000)
                page.wait_for_selector('[data-testid="stMetricValue"]', timeout=30_000)
                page.wait_for_timeout(1500)
                assert page.locator('[data-testid="stException"]').count() == 0
                values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
                shot = tmp_path / "coding-agents.png"
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(20)
    total = sum((_claude_code_cost(m) for m in MODES), Decimal(0))
    assert values[:4] == [fmt.money(total), fmt.money(_app_cost()), "3 · 3", fmt.unit_money(total / 3)]
    assert shot.stat().st_size > 10_000


def _wait_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("dashboard did not start")


def test_claude_codes_own_price_is_shown_where_it_differs(collector_factory: Any, monkeypatch: Any) -> None:
    """A price change Claude Code knows and claudescope does not (or the reverse): both are shown."""
    c = collector_factory()
    items = []
    for path, content_type, raw in retimed("protobuf", datetime.now(UTC) - timedelta(minutes=2)):
        if path == "/v1/logs":
            request = ExportLogsServiceRequest.FromString(raw)
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        for kv in record.attributes:
                            if kv.key == "cost_usd":
                                kv.value.double_value = 0.07
            raw = request.SerializeToString()
        items.append((path, content_type, raw))
    replay(c, items)
    at = go(open_app(monkeypatch, c.url), "coding_agents")
    assert any("1 Claude Code calls are priced differently" in w.value for w in at.warning)
    table = next(d.value for d in at.dataframe if "Claude Code" in d.value.columns and "claudescope" in d.value.columns)
    assert table[["claudescope", "Claude Code"]].values.tolist() == [[fmt.unit_money(_claude_code_cost("protobuf")), "$0.0700"]]
    # The metrics still say 0.05308, the events now 0.07: the cross-check shows that too.
    assert any("metrics disagree with its call events for 1 session" in w.value for w in at.warning)
