"""Headless Chromium against a real `claudescope dashboard` over a collector filled by `claudescope demo`.

Opens every page, checks the rendered numbers against the store (through the collector's query
API) and saves a screenshot of each page: into the test's temp dir, or, when
docs/screenshots/regenerate.py runs it, into docs/screenshots/ (the README's).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from claudescope.dashboard import formatting as fmt
from tests.dashboard.launch import running_dashboard
from tests.fixtures_collector import RunningCollector, start_collector

pytestmark = pytest.mark.browser

# Set only by docs/screenshots/regenerate.py: a plain test run leaves the checkout clean.
SHOTS_ENV = "CLAUDESCOPE_SCREENSHOTS_DIR"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGES = [  # (url path, heading, screenshot name)
    ("", "Overview", "overview"), ("cost", "Cost", "cost"), ("caching", "Caching", "caching"),
    ("latency", "Latency & reliability", "latency"), ("stop-reasons", "Stop reasons", "stop-reasons"),
    ("calls", "Calls explorer", "calls"), ("advisor", "Savings advisor", "advisor"), ("alerts", "Alerts", "alerts"),
]


@pytest.fixture(scope="module")
def demo_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A collector (alert engine on, with budgets) holding a demo day of traffic."""
    root = tmp_path_factory.mktemp("browser")
    collector = start_collector(root / "data", config_toml="[budget]\ndaily_usd = 20\nmonthly_usd = 300\n",
                                alerts=True)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
        subprocess.run([sys.executable, "-m", "claudescope", "demo", "--endpoint", collector.url, "--calls", "800"],
                       check=True, env=env, cwd=root, capture_output=True, timeout=240)
        yield collector
    finally:
        collector.stop()


@pytest.fixture(scope="module")
def dashboard_url(demo_collector: RunningCollector, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`claudescope dashboard --api URL --port P`, exactly as a user starts it."""
    root = tmp_path_factory.mktemp("dash")
    config = root / "claudescope.toml"
    config.write_text("[budget]\ndaily_usd = 20\nmonthly_usd = 300\n")
    with running_dashboard(demo_collector.url, root, "--config", str(config)) as url:
        yield url


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (bash .ci/run installs it)")
def test_every_page_renders_with_store_numbers(demo_collector: RunningCollector, dashboard_url: str, tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    row = demo_collector.query(
        "SELECT count(*) AS calls, sum(cost_usd) AS spend FROM calls WHERE start_time >= now() - INTERVAL 7 DAY")[0]
    expected_spend = fmt.money(Decimal(row["spend"]))
    expected_calls = fmt.count(row["calls"])
    shots = Path(os.environ[SHOTS_ENV]) if os.environ.get(SHOTS_ENV) else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    readme = {p: p.stat().st_mtime_ns for p in (Path(__file__).resolve().parents[2] / "docs" / "screenshots").glob("*.png")}
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            for path, heading, name in PAGES:
                page.goto(f"{dashboard_url}/{path}")
                page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=30_000)
                page.wait_for_selector('[data-testid="stMetricValue"]', timeout=30_000)
                page.wait_for_timeout(1500)  # let charts finish drawing before the screenshot
                assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {heading}"
                values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                if name == "overview":
                    assert values[:2] == [expected_spend, expected_calls]
                if name == "advisor":
                    assert values[0] == expected_spend  # actual cost of the priced history
        finally:
            browser.close()
    assert sorted(p.stem for p in shots.glob("*.png")) == sorted(name for _, _, name in PAGES)
    if shots == tmp_path:  # a plain run leaves the README's screenshots (and the checkout) alone
        assert {p: p.stat().st_mtime_ns for p in readme} == readme
