"""The Overview says at a glance whether claudescope matches the bill, lists the day x model rows
that do not (with the cause and the run's explanation, shown as text), and each spend limit's
headroom. Headless Chromium against a real `claudescope dashboard` over a real collector whose
store holds, in turn: no reconciliation, a matching one, and one with a mismatch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claudescope.collector.store import Store
from claudescope.fakeapi.server import free_port
from tests.alerts.bill_rows import Row, add_run, set_limits
from tests.fixtures_alerts import call_row, insert_calls
from tests.dashboard.launch import running_dashboard
from tests.fixtures_collector import start_collector

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HOSTILE = "Services that reported: [click](http://127.0.0.1:9/x) **bold** <img src=x>"
WS = "wrkspc_01Capped"


def _store(path: Path, state: str) -> Path:
    """A data dir whose store holds a few calls today and the reconciliation of ``state``."""
    now = datetime.now(UTC)
    yesterday, before = (now - timedelta(days=1)).date(), (now - timedelta(days=2)).date()
    store = Store.open(path / "claudescope.duckdb")
    try:
        insert_calls(store, [call_row(start_time=now - timedelta(minutes=5), cost_usd=Decimal("4.25"),
                                      attributes={"anthropic.workspace.id": WS})])
        if state == "match":
            add_run(store, [Row(before, "claude-sonnet-5-5", "10.00", "10.005"),
                            Row(yesterday, "claude-sonnet-5-5", "12.00", "12.00")])
        if state == "differ":
            add_run(store, [Row(before, "claude-sonnet-5-5", "10.00", "10.00"),
                            Row(yesterday, "claude-sonnet-5-5", "12.00", "9.00", "untraced", HOSTILE),
                            Row(yesterday, "claude-haiku-4-5", "1.00", "1.00")])
            set_limits(store, [{"scope_type": "workspace", "workspace_id": WS, "period": "daily", "amount_usd": "5"}])
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bill")
    return {state: _store(root / state, state) for state in ("none", "match", "differ")}


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def dashboard(port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`claudescope dashboard --api URL --port P` for a collector that will answer on ``port``."""
    with running_dashboard(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("ui")) as url:
        yield url


def _bill_box(page: object, url: str, expected: str) -> str:
    page.goto(url)  # type: ignore[attr-defined]
    box = page.get_by_text(expected).first  # type: ignore[attr-defined]
    box.wait_for(timeout=30_000)
    assert page.locator('[data-testid="stException"]').count() == 0  # type: ignore[attr-defined]
    return box.inner_text()


def test_overview_says_whether_claudescope_matches_the_bill(stores: dict[str, Path], port: int, dashboard: str,
                                                           tmp_path: Path) -> None:
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        requests: list[str] = []
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            page.on("request", lambda r: requests.append(r.url))
            for i, state in enumerate(("none", "match", "differ")):
                if i:
                    time.sleep(10.5)  # the dashboard caches each answer for 10 s
                collector = start_collector(stores[state], port=port)
                try:
                    if state == "none":
                        text = _bill_box(page, dashboard, "Not reconciled yet")
                        assert text == "Not reconciled yet — run claudescope reconcile"
                        assert page.get_by_text("Spend limit headroom").count() == 0
                    elif state == "match":
                        text = _bill_box(page, dashboard, "Matches the bill within")
                        assert text.startswith("Matches the bill within 0.1 % over the 2 days reconciled (")
                    else:
                        text = _bill_box(page, dashboard, "differs from the bill")
                        assert text.startswith("1 day × model row differs from the bill (by more than 0.1 %), over "
                                               "the 2 days reconciled")
                        grid = page.locator('[data-testid="stDataFrame"]').filter(has_text="untraced")
                        grid.first.wait_for(timeout=30_000)
                        page.screenshot(path=str(tmp_path / "bill-differ.png"), full_page=True)
                        cells = _grid_text(page)
                        for shown in ("claude-sonnet-5-5", "$12.0000", "$9.0000", "-$3.0000", "-25.00%", "untraced",
                                      WS, "$5.00", "$4.25", "15%"):
                            assert shown in cells, shown
                        assert "claude-haiku-4-5" not in cells  # it matched: not listed
                        # The explanation is text: no link, no image fetched.
                        assert page.locator('a[href^="http://127.0.0.1:9"]').count() == 0
                        assert not [u for u in requests if u.startswith("http://127.0.0.1:9/")]
                finally:
                    collector.stop()
        finally:
            browser.close()


def _grid_text(page: object) -> str:
    """What the page's tables show (Glide data grids draw on canvas; their cells are in the a11y DOM)."""
    cells = page.locator('[data-testid="stDataFrame"] [role="gridcell"]')  # type: ignore[attr-defined]
    return "\n".join(cells.all_text_contents())
