"""Issue 12 in a real browser: what a web page the user opens can do to claudescope on loopback.

Headless Chromium resolves ``evil.example`` to 127.0.0.1 (``--host-resolver-rules``), exactly
what a DNS-rebinding attacker arranges. A tiny loopback HTTP server plays the attacker's site.
The collector and the dashboard are the real processes a user starts (``claudescope collector``,
``claudescope dashboard``), on free ports, with no token (the default).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from claudescope.fakeapi.server import free_port
from claudescope.dashboard import formatting as fmt
from tests.fixtures_collector import RunningCollector, call_span, start_collector

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (bash .ci/run installs it)"),
]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-features=HttpsUpgrades",
                 "--host-resolver-rules=MAP evil.example 127.0.0.1"]
ZERO_PRICES = {"pricing": {"overrides": {"claude-sonnet-4-5": {
    "input": "0", "output": "0", "cache_write_5m": "0", "cache_write_1h": "0", "cache_read": "0"}}}}
SONNET_CALL = Decimal("0.0045")  # 1000 in * $3/MTok + 100 out * $15/MTok
# Resolves "open" when the websocket upgrade succeeds, something else when it is refused.
OPEN_WEBSOCKET = """url => new Promise(resolve => {
    const ws = new WebSocket(url);
    ws.onopen = () => { ws.close(); resolve("open"); };
    ws.onerror = () => resolve("refused");
    setTimeout(() => resolve("timeout"), 10000);
})"""
NO_CORS_POST = """([url, body]) => fetch(url, {method: "POST", mode: "no-cors", body,
    headers: {"Content-Type": "text/plain"}}).then(() => "sent", e => "error: " + e)"""
SAME_ORIGIN_QUERY = """sql => fetch("/api/v1/query", {method: "POST", body: JSON.stringify({sql}),
    headers: {"Content-Type": "application/json"}}).then(async r => ({status: r.status, text: await r.text()}))"""


class _EvilSite(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = b"<!doctype html><title>evil</title><p>nothing to see</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Stack:
    collector: RunningCollector
    dashboard_port: int
    evil_port: int

    @property
    def evil(self) -> str:
        return f"http://evil.example:{self.evil_port}"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}


def _wait_ok(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} never answered:\n{log.read_text()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Collector with 4 priced calls, `claudescope dashboard` on it, and the attacker's site."""
    root = tmp_path_factory.mktemp("websec")
    collector = start_collector(root / "data")
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _EvilSite)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    port = free_port()
    log = root / "dashboard.log"
    with log.open("wb") as out:
        dashboard = subprocess.Popen([sys.executable, "-m", "claudescope", "dashboard", "--api", collector.url,
                                      "--port", str(port)], env=_clean_env(), cwd=root, stdout=out, stderr=out)
    try:
        spans = [call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100) for _ in range(4)]
        assert collector.post_spans(spans).status_code == 200
        _wait_ok(f"http://127.0.0.1:{port}/_stcore/health", dashboard, log)
        yield Stack(collector, port, evil.server_address[1])
    finally:
        dashboard.terminate()
        dashboard.wait(20)
        evil.shutdown()
        collector.stop()


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def _spend(collector: RunningCollector) -> Decimal:
    return Decimal(collector.query("SELECT sum(cost_usd) AS s FROM calls")[0]["s"])


# --- cross-site requests ---------------------------------------------------------------------
def test_cross_site_page_can_neither_reprice_nor_query(stack: Stack, page: Any) -> None:
    collector = stack.collector
    before = _spend(collector)
    statuses: dict[str, int] = {}
    page.on("response", lambda r: statuses.__setitem__(r.url.rsplit("/", 1)[-1], r.status))
    page.goto(stack.evil + "/")
    reprice = [collector.url + "/api/v1/admin/reprice", json.dumps(ZERO_PRICES)]
    query = [collector.url + "/api/v1/query", json.dumps({"sql": "SELECT count(*) FROM calls"})]
    assert page.evaluate(NO_CORS_POST, reprice) == "sent"
    assert page.evaluate(NO_CORS_POST, query) == "sent"
    page.wait_for_timeout(500)
    # What the collector answered Chromium (invisible to the page itself, which gets an opaque response).
    assert statuses.get("reprice") == 403 and statuses.get("query") == 403, statuses
    assert _spend(collector) == before and before > 0
    span = call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100)
    assert collector.post_spans([span]).status_code == 200
    row = collector.query(f"SELECT cost_usd FROM calls WHERE span_id = '{span['span_id']}'")[0]
    assert Decimal(row["cost_usd"]) == SONNET_CALL  # ingest was not repriced to zero either


# --- DNS rebinding: the collector ------------------------------------------------------------
def test_rebound_name_reads_nothing_from_the_collector(stack: Stack, page: Any) -> None:
    rebound = f"http://evil.example:{stack.collector.port}"
    response = page.goto(rebound + "/metrics")
    assert response.status == 421
    assert "claudescope_spend" not in page.content()
    # From the rebound origin, a same-origin JSON query is no cross-site request: the Host stops it.
    answer = page.evaluate(SAME_ORIGIN_QUERY, "SELECT count(*) AS n, sum(cost_usd) AS s FROM calls")
    assert answer["status"] == 421 and "rows" not in answer["text"]
    response = page.goto(rebound + "/api/v1/query")
    assert response.status == 421 and "rows" not in page.content()


# --- the dashboard ---------------------------------------------------------------------------
def test_rebound_name_gets_no_dashboard_and_no_websocket(stack: Stack, page: Any) -> None:
    rebound = f"http://evil.example:{stack.dashboard_port}"
    response = page.goto(rebound + "/")
    assert response.status == 421
    page.wait_for_timeout(3000)  # what a live dashboard would need to draw its first numbers
    assert page.locator('[data-testid="stMetricValue"]').count() == 0
    assert "Spend" not in page.content()
    assert page.evaluate(OPEN_WEBSOCKET, f"ws://evil.example:{stack.dashboard_port}/_stcore/stream") != "open"


def test_other_sites_cannot_open_the_dashboard_websocket(stack: Stack, page: Any) -> None:
    page.goto(stack.evil + "/")
    for host in ("127.0.0.1", "localhost"):
        assert page.evaluate(OPEN_WEBSOCKET, f"ws://{host}:{stack.dashboard_port}/_stcore/stream") != "open", host
    # Same host, other port (another local web app) is another origin too.
    page.goto(f"http://127.0.0.1:{stack.evil_port}/")
    assert page.evaluate(OPEN_WEBSOCKET, f"ws://127.0.0.1:{stack.dashboard_port}/_stcore/stream") != "open"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_own_dashboard_still_shows_the_numbers(stack: Stack, page: Any, host: str) -> None:
    page.goto(f"http://{host}:{stack.dashboard_port}/")
    page.wait_for_selector('[data-testid="stMetricValue"]', timeout=60_000)
    expected = fmt.money(_spend(stack.collector))
    deadline = time.monotonic() + 30  # the page renders its metrics one by one: wait for all of them
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    while expected not in values and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert expected in values
    assert page.evaluate(OPEN_WEBSOCKET, f"ws://{host}:{stack.dashboard_port}/_stcore/stream") == "open"


def test_every_page_renders_through_the_guarded_app(stack: Stack, page: Any) -> None:
    """`claudescope dashboard` now runs app.py inside serve.py's st.App: every page still works."""
    for path, heading in [("", "Overview"), ("cost", "Cost"), ("caching", "Caching"),
                          ("latency", "Latency & reliability"), ("stop-reasons", "Stop reasons"),
                          ("calls", "Calls explorer"), ("advisor", "Savings advisor"), ("alerts", "Alerts")]:
        page.goto(f"http://127.0.0.1:{stack.dashboard_port}/{path}")
        page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        assert page.locator('[data-testid="stException"]').count() == 0, heading


def test_allowed_hosts_reach_the_dashboard(stack: Stack, tmp_path: Path) -> None:
    """`[server] allowed_hosts` (here through CLAUDESCOPE_ALLOWED_HOSTS) adds dashboard names."""
    port = free_port()
    log = tmp_path / "dashboard.log"
    env = {**_clean_env(), "CLAUDESCOPE_ALLOWED_HOSTS": "dash.example"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "claudescope", "dashboard", "--api", stack.collector.url,
                                 "--port", str(port)], env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        _wait_ok(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        url = f"http://127.0.0.1:{port}/"
        assert httpx.get(url, headers={"Host": f"dash.example:{port}"}).status_code == 200
        assert httpx.get(url, headers={"Host": f"localhost:{port}"}).status_code == 200
        refused = httpx.get(url, headers={"Host": f"evil.example:{port}"})
        assert refused.status_code == 421 and "allowed_hosts" in refused.text
    finally:
        proc.terminate()
        proc.wait(20)
