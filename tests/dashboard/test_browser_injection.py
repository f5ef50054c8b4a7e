"""Span values are text on every dashboard page: a Markdown link, an image, raw HTML or a bare URL
put into a feature, user, model, prompt version, service or response id never becomes a live
link, never makes the viewer's browser fetch anything, and is shown literally.

Headless Chromium against a real `claudescope dashboard` over a real collector (alert engine on,
so the Overview's "Firing alerts" panel carries a summary quoting the hostile feature).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.fixtures_alerts import wait_for
from tests.dashboard.launch import running_dashboard
from tests.fixtures_collector import RunningCollector, call_span, start_collector

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [("", "Overview"), ("cost", "Cost"), ("caching", "Caching"), ("latency", "Latency & reliability"),
         ("stop-reasons", "Stop reasons"), ("calls", "Calls explorer"), ("advisor", "Savings advisor"),
         ("alerts", "Alerts")]
RULES = """
[[alerts.rules]]
name = "truncation by feature"
kind = "max_tokens_rate"
threshold = 0.01
window = "1h"
group_by = "feature"
"""


class Pixels:
    """A loopback image server: every request it receives is a browser fetch the page caused."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        pixels = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                pixels.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/gif")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def pixels() -> Iterator[Pixels]:
    server = Pixels()
    try:
        yield server
    finally:
        server.close()


def hostile(port: int) -> dict[str, str]:
    """The values the attacker controls, one per column the dashboard shows."""
    img = f"http://127.0.0.1:{port}"
    return {
        "feature": f"[Re-authenticate here](http://evil.example/login) ![px]({img}/px.gif)",
        "feature_html": f'<img src="{img}/html.gif"><a href="http://evil.example/html">click</a>',
        "user": "see http://evil.example/bare or www.evil.example or me@evil.example",
        "model": f"![m]({img}/model.gif) <a href='http://evil.example/model'>m</a>",
        "prompt_version": ":red[pv] $x$ **bold** <b>b</b>",
        "service": f'<img src="{img}/svc.gif">',
        "response_id": f"msg_[id](http://evil.example/id) ![i]({img}/id.gif)",
    }


@pytest.fixture(scope="module")
def hostile_collector(tmp_path_factory: pytest.TempPathFactory, pixels: Pixels) -> Iterator[RunningCollector]:
    """A collector whose calls carry the hostile values, with the truncation alert firing on them."""
    values = hostile(pixels.port)
    collector = start_collector(tmp_path_factory.mktemp("inject") / "data", config_toml=RULES, alerts=True)
    try:
        now = datetime.now(UTC)
        spans = []
        for i, feature in enumerate((values["feature"], values["feature_html"]) * 3):
            # 50K uncached input tokens each ($0.15 on sonnet) and truncated: both "What to change" advices.
            spans.append(call_span(start=now - timedelta(minutes=5, seconds=i), feature=feature,
                                   user_id=values["user"], prompt_version=values["prompt_version"],
                                   service=values["service"], input_tokens=50000, output_tokens=100,
                                   stop_reason="max_tokens"))
        spans.append(call_span(start=now - timedelta(minutes=1), model=values["model"], feature=values["feature"],
                               user_id=values["user"], response_id=values["response_id"]))
        assert collector.post_spans(spans).status_code == 200
        wait_for(lambda: collector.query("SELECT count(*) AS n FROM alert_events WHERE state = 'firing'")[0]["n"] >= 2,
                 timeout=20)
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def dashboard(hostile_collector: RunningCollector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`claudescope dashboard --api URL --port P`, as a user starts it."""
    with running_dashboard(hostile_collector.url, tmp_path_factory.mktemp("inject-dash")) as url:
        yield url


def _assert_inert(page: Any, pixels: Pixels, where: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {where}"
    # The page's own links carry the (URL-encoded) filters in their query: compare hosts, not text.
    hosts = page.eval_on_selector_all("a[href]", "els => els.map(e => e.hostname)")
    assert "evil.example" not in hosts and "www.evil.example" not in hosts, f"live link to the evil host on {where}"
    mailto = page.eval_on_selector_all("a[href^='mailto:']", "els => els.map(e => e.href)")
    assert mailto == [], f"e-mail address made a link on {where}: {mailto}"
    images = page.eval_on_selector_all("img[src]", "els => els.map(e => e.src)")
    assert not [s for s in images if f":{pixels.port}/" in s], f"hostile image on {where}: {images}"


def _open(page: Any, url: str, heading: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
    page.wait_for_selector('[data-testid="stMetricValue"], [data-testid="stAlert"]', timeout=30_000)
    page.wait_for_timeout(1500)  # fragments and charts finish drawing


def test_hostile_span_values_render_as_text_on_every_page(dashboard: str, pixels: Pixels) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    values = hostile(pixels.port)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            for path, heading in PAGES:
                _open(page, f"{dashboard}/{path}", heading)
                _assert_inert(page, pixels, heading)
                if heading == "Overview":
                    page.get_by_role("heading", name="What to change").wait_for(timeout=10_000)
                    page.get_by_text("Firing alerts").wait_for(timeout=10_000)
                    for value in (values["feature"], values["feature_html"]):
                        # "What to change" names it twice (caching, truncation); its alert's summary quotes it.
                        assert page.get_by_text(value, exact=True).count() >= 2, value
                        assert page.locator('[data-testid="stAlert"]').filter(has_text=value).count() == 1, value
                    assert page.get_by_text("Re-authenticate here", exact=True).count() == 0
                if heading == "Calls explorer":
                    page.get_by_text(values["response_id"], exact=True).first.wait_for(timeout=10_000)
            # A shared link carrying hostile filter values: the header lists them as text.
            query = urlencode({"feature": values["feature"], "user": values["user"],
                               "pv": values["prompt_version"], "service": values["service"]})
            _open(page, f"{dashboard}/?{query}", "Overview")
            _assert_inert(page, pixels, "Overview with hostile filters")
            for key in ("feature", "user", "prompt_version", "service"):
                page.get_by_text(values[key], exact=True).first.wait_for(timeout=10_000)
            _open(page, f"{dashboard}/?{urlencode({'range': '[x](http://evil.example/range)'})}", "Overview")
            _assert_inert(page, pixels, "Overview with a hostile range")
            page.get_by_text("[x](http://evil.example/range)", exact=False).first.wait_for(timeout=10_000)
        finally:
            browser.close()
    time.sleep(0.5)
    assert pixels.paths == [], f"the browser fetched hostile images: {pixels.paths}"
