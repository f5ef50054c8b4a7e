"""Every page tells the truth (issue 16): unpriced is never $0, a failed call reads as failed,
a budget says what it covers, a firing alert keeps its own severity and current numbers.

Each test runs the dashboard through AppTest against a real collector holding its own calls.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claudescope.config import Config
from claudescope.dashboard import formatting as fmt
from claudescope.pricing import PriceTable, Usage
from tests.dashboard.test_pages import go, metrics, open_app
from tests.fixtures_collector import call_span

MYSTERY = "claude-mystery-9"


def _recent(minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def test_unpriced_model_is_never_shown_as_zero_on_the_cost_page(collector_factory, monkeypatch) -> None:
    collector = collector_factory()
    spans = [call_span(model=MYSTERY, input_tokens=1000, output_tokens=100, start=_recent(m)) for m in (3, 4)]
    spans.append(call_span(model=MYSTERY, error_type="invalid_request_error", http_status=400, input_tokens=None,
                           output_tokens=None, stop_reason=None, start=_recent(5)))  # failed: costs exactly 0
    spans.append(call_span(model="claude-sonnet-4-5", input_tokens=10000, output_tokens=5000, start=_recent(6)))
    assert collector.post_spans(spans).status_code == 200
    at = go(open_app(monkeypatch, collector.url), "cost")
    units = at.dataframe[0].value.set_index("Model")
    assert units.loc[MYSTERY, "spend"] == "unpriced (2 calls)"
    assert (units.loc[MYSTERY, "share"], units.loc[MYSTERY, "per call"]) == ("unpriced", "unpriced")
    assert units.loc["claude-sonnet-4-5", "share"] == "100.0%"
    assert any("Not in the bars: 2 calls to models with no price" in c.value for c in at.caption)


def test_a_range_of_only_unpriced_calls_says_so_instead_of_a_blank_chart(collector_factory, monkeypatch) -> None:
    collector = collector_factory()
    spans = [call_span(model=MYSTERY, input_tokens=1000, output_tokens=100, start=_recent(m)) for m in (3, 4, 5)]
    assert collector.post_spans(spans).status_code == 200
    at = go(open_app(monkeypatch, collector.url), "cost")
    assert any("No priced spend in this range: 3 calls used models with no price" in i.value for i in at.info)
    specs = [element.proto.spec for element in at.get("vega_lite_chart")]
    assert specs and not any('"series"' in spec for spec in specs)  # the split is drawn, no spend chart of NULLs


def test_a_failed_call_reads_as_failed_in_the_explorer(collector_factory, monkeypatch) -> None:
    collector = collector_factory()
    failed = call_span(model="claude-sonnet-4-5", error_type="invalid_request_error", http_status=400,
                       input_tokens=None, output_tokens=None, stop_reason=None, response_id=None,
                       start=_recent(2))
    assert collector.post_spans([failed]).status_code == 200
    at = go(open_app(monkeypatch, collector.url), "calls")
    (title,) = [h.value for h in at.subheader if h.value.startswith("Call ")]
    assert "nan" not in title and "req_" in title  # named by its request id: it has no response
    columns = json.loads(at.json[0].proto.body)
    assert None not in columns.values() and columns["status"] == "error" and columns["http_status"] == 400
    captions = [c.value for c in at.caption]
    assert "Failed on the first attempt (400, invalid\\_request\\_error), not retried." in captions or \
        "Failed on the first attempt (400, invalid_request_error), not retried." in captions
    assert not any("Answered on the first attempt" in c for c in captions)
    assert metrics(at)["Total"] == "$0.0000"


def test_budget_cards_say_they_cover_all_spend_when_filters_narrow_the_page(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = open_app(monkeypatch, collector.url, params={"feature": "summarize"})
    assert metrics(at)["Spend"] == "$0.27"  # the filtered cards
    assert any("Organisation-wide" in c.value and "a budget covers all spend" in c.value for c in at.caption)
    assert metrics(at)["Spend this month"] == metrics(open_app(monkeypatch, collector.url))["Spend this month"]


def test_every_page_says_which_calls_its_numbers_count(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = open_app(monkeypatch, collector.url)
    for page in ("overview", "cost", "latency", "stop_reasons", "caching"):
        go(at, page)
        assert any("latency, error rate and retries count model calls" in c.value for c in at.caption), page


def test_saved_by_caching_prices_the_uncached_side_like_ingest(collector_factory, monkeypatch) -> None:
    collector = collector_factory()
    geo = {"claudescope.usage.inference_geo": "us"}
    span = call_span(model="claude-fable-5-1", input_tokens=1000, cache_read_tokens=100000, output_tokens=100,
                     attributes=geo, start=_recent(3))
    assert collector.post_spans([span]).status_code == 200
    (row,) = collector.query("SELECT cost_cache_read_usd FROM calls")
    table = PriceTable.load(Config().pricing)
    as_input = table.price("claude-fable-5-1", Usage(input_tokens=100000, inference_geo="us"))
    expected = as_input.total_usd - Decimal(row["cost_cache_read_usd"])
    paid = Decimal(row["cost_cache_read_usd"])
    without_geo = table.price("claude-fable-5-1", Usage(input_tokens=100000)).total_usd - paid
    assert fmt.money(expected) != fmt.money(without_geo)  # the test tells the two apart
    at = go(open_app(monkeypatch, collector.url), "caching")
    assert metrics(at)["Saved by caching"] == fmt.money(expected)


def test_a_firing_info_alert_is_drawn_as_info_with_current_numbers_and_says_no_channel(collector_factory,
                                                                                      monkeypatch) -> None:
    collector = collector_factory(alerts=True)
    assert collector.post_spans([call_span(model=MYSTERY, start=_recent(2))]).status_code == 200
    _wait_for(collector, "1 calls to claude-mystery-9")
    spans = [call_span(model=MYSTERY, start=_recent(1)) for _ in range(3)]
    assert collector.post_spans(spans).status_code == 200
    _wait_for(collector, "4 calls to claude-mystery-9")  # the same event, its text follows the count
    assert len(collector.query("SELECT * FROM alert_events WHERE rule = 'unpriced_model'")) == 1
    at = open_app(monkeypatch, collector.url)
    assert any("unpriced_model" in i.value and "4 calls" in i.value for i in at.info)
    assert not any("unpriced_model" in e.value for e in [*at.error, *at.warning])
    go(at, "alerts")
    assert metrics(at)["Not delivered"] == "1"
    assert any("no notification channel was configured" in w.value for w in at.warning)


def _wait_for(collector: Any, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = collector.query("SELECT summary FROM alert_events WHERE rule = 'unpriced_model'")
        if any(text in r["summary"] for r in rows):
            return
        time.sleep(0.2)
    raise AssertionError(f"no unpriced_model event says {text!r}: {rows}")


def _prefix(name: str, tokens: int) -> dict[str, Any]:
    return {"claudescope.cache.prefix_hash": name * 16, "claudescope.cache.prefix_tokens": tokens}


def test_caching_headline_and_its_table_describe_the_same_prefixes(collector_factory, monkeypatch) -> None:
    collector = collector_factory()
    cached = [call_span(model="claude-haiku-4-5", input_tokens=100, cache_read_tokens=60000, output_tokens=50,
                        attributes=_prefix("c2", 60000), start=_recent(10 - i)) for i in range(3)]
    uncached = [call_span(model="claude-haiku-4-5", input_tokens=50000, output_tokens=50,
                          attributes=_prefix("u3", 50000), start=_recent(5 - i)) for i in range(2)]
    assert collector.post_spans(cached + uncached).status_code == 200
    at = go(open_app(monkeypatch, collector.url), "caching")
    missed, already = at.dataframe[1].value, at.dataframe[2].value
    assert missed["prefix"].tolist() == ["u3" * 6]  # only never-cached prefixes under the headline
    total = sum(Decimal(v.lstrip("$")) for v in missed["saving"])
    assert metrics(at)["Caching them would save"] == fmt.money(total)
    assert already["prefix"].tolist() == ["c2" * 6] and "saving" not in already.columns
    advisor = go(at, "advisor")
    table = advisor.dataframe[-1].value
    assert table["prefix"].tolist() == ["u3" * 6]
    assert all(str(v).startswith("$") for v in table["uncached"]) and "uncached_usd" not in table.columns
