"""The Overview's "What to change" lists the features that call a model alias (answered by a
dated snapshot), with every snapshot that answered it; pinned models are not listed.

The dashboard app rendered by AppTest from its entry script against a real collector subprocess.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import APP
from tests.dashboard.launch import running_dashboard
from tests.fixtures_collector import call_span, start_collector

HIDDEN = "search\u202e"  # a span value: shown with its hidden character as an escape


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _spans() -> list[dict[str, Any]]:
    """An alias answered by two snapshots, another by one, and a pinned snapshot (not listed)."""
    now = datetime.now(UTC)
    spans = []
    for i, (feature, request, answer) in enumerate(
            [("support_chat", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929")] * 3
            + [("support_chat", "claude-sonnet-4-5", "claude-sonnet-4-5-20261117")] * 2
            + [(HIDDEN, "claude-haiku-4-5", "claude-haiku-4-5-20251001")]
            + [("triage", "claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001")] * 4):
        spans.append(call_span(start=now - timedelta(minutes=30 - i), feature=feature,
                               attributes={"gen_ai.request.model": request, "gen_ai.response.model": answer}))
    return spans


def test_overview_lists_features_calling_unpinned_aliases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    collector = start_collector(tmp_path / "data")
    try:
        assert collector.post_spans(_spans()).status_code == 200
        monkeypatch.setenv("CLAUDESCOPE_API", collector.url)
        at = AppTest.from_file(str(APP), default_timeout=60)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        (table,) = [d.value for d in at.dataframe if "answered as" in d.value.columns]
        assert table.to_dict("records") == [
            {"feature": "support_chat", "alias": "claude-sonnet-4-5",
             "answered as": "claude-sonnet-4-5-20250929, claude-sonnet-4-5-20261117", "calls": "5"},
            {"feature": "search\\u202e", "alias": "claude-haiku-4-5", "answered as": "claude-haiku-4-5-20251001",
             "calls": "1"},
        ]
        assert any("pin a dated model id" in m.value for m in at.markdown)
    finally:
        collector.stop()


@pytest.mark.browser
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_the_table_renders_in_a_browser(tmp_path: Path) -> None:
    """`claudescope dashboard --api URL` in headless Chromium: the table's cells (the data grid
    keeps an accessible copy of them in the page) show the aliases, not the pinned snapshot."""
    playwright = pytest.importorskip("playwright.sync_api")
    collector = start_collector(tmp_path / "data")
    try:
        assert collector.post_spans(_spans()).status_code == 200
        with running_dashboard(collector.url, tmp_path) as url, playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(url)
                page.get_by_text("pin a dated model id").wait_for(timeout=30_000)
                grid = page.locator('[data-testid="stDataFrame"] table').filter(has_text="answered as")
                grid.wait_for(state="attached", timeout=30_000)  # the accessible copy is not drawn
                rows = [[c.strip() for c in r.locator("td").all_text_contents()] for r in grid.locator("tbody tr").all()]
            finally:
                browser.close()
        assert [r[-4:] for r in rows] == [
            ["support_chat", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929, claude-sonnet-4-5-20261117", "5"],
            ["search\\u202e", "claude-haiku-4-5", "claude-haiku-4-5-20251001", "1"],
        ]
    finally:
        collector.stop()
