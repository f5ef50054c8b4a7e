"""Each dashboard page, rendered by AppTest from the entry script, against a collector with known calls."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from claudescope.dashboard import formatting as fmt
from tests.dashboard.conftest import APP, BUDGET_TOML, expected_spend
from tests.fixtures_collector import call_span, start_collector


def open_app(monkeypatch: pytest.MonkeyPatch, api: str, *, config: Path | None = None, token: str | None = None,
             params: dict[str, str] | None = None) -> AppTest:
    """The dashboard as `claudescope dashboard --api URL` would start it (the entry script reads the env)."""
    monkeypatch.setenv("CLAUDESCOPE_API", api)
    if config is not None:
        monkeypatch.setenv("CLAUDESCOPE_CONFIG", str(config))
    if token is not None:
        monkeypatch.setenv("CLAUDESCOPE_TOKEN", token)
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in (params or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def deltas(at: AppTest) -> dict[str, Any]:
    return {m.label: m.proto.delta for m in at.metric}


@pytest.fixture
def budget_file(tmp_path: Path) -> Path:
    path = tmp_path / "claudescope.toml"
    path.write_text(BUDGET_TOML)
    return path


def test_overview_shows_known_totals_budget_and_top_features(loaded, monkeypatch, budget_file) -> None:
    collector, known = loaded
    at = open_app(monkeypatch, collector.url, config=budget_file)
    now = datetime.now(UTC)
    shown = metrics(at)
    assert shown["Spend"] == "$1.74"  # 7 days: every priced call
    assert shown["Calls"] == "13"  # every operation: M, the token count, too
    assert shown["Error rate"] == "8.3%"  # 1 of the 12 model calls (M is no model call)
    assert shown["Cache hit rate"] == "18.1%"  # 80,000 read / 442,000 input tokens (M's count is no input)
    # D read 80K haiku tokens ($0.08 as input, paid $0.008); E paid $0.025 above input for its write.
    assert shown["Saved by caching"] == "$0.05"
    midnight = datetime.combine(now.date(), time(), tzinfo=UTC)
    today = expected_spend(known, midnight, now + timedelta(minutes=1))
    month = expected_spend(known, midnight.replace(day=1), now + timedelta(minutes=1))
    assert shown["Spend today"] == fmt.money(today)
    assert shown["Spend this month"] == fmt.money(month)
    assert deltas(at)["Spend today"] == f"{fmt.pct(float(today / 2), 0)} of $2.00 budget"
    features = at.dataframe[0].value
    assert features["feature"].tolist()[:4] == ["agent", "support_chat", "summarize", "classify"]
    # agent's G has no price: its spend says so rather than pass for all of agent's cost
    assert features["spend"].tolist()[:4] == ["$0.83 + 1 unpriced", "$0.50", "$0.27", "$0.16"]
    assert features["per call"].tolist()[:2] == ["unpriced", "$0.1238"]  # support_chat: (0.105 + 0.21 + 0.18 + M's 0) / 4
    assert any("1 calls used a model with no known price" in w.value for w in at.warning)
    advice = [m.value for m in at.markdown if "uncached input" in m.value or "stops at max_tokens" in m.value]
    assert advice == [
        "**`agent`** pays $0.20 for uncached input with a 0.0% cache hit rate: cache its stable prefix (system prompt, tools).",
        "**`classify`** pays $0.15 for uncached input with a 0.0% cache hit rate: cache its stable prefix (system prompt, tools).",
        "**`support_chat`** stops at max_tokens in 33.3% of calls: answers are cut off; raise max_tokens or shorten the expected output.",
        "**`classify`** stops at max_tokens in 25.0% of calls: answers are cut off; raise max_tokens or shorten the expected output.",
    ]


def test_url_filters_are_honoured_and_written_back(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = open_app(monkeypatch, collector.url, params={"feature": "summarize", "range": "1h"})
    shown = metrics(at)
    assert shown["Spend"] == "$0.27"  # C 0.20 + D 0.068 + F 0
    assert shown["Calls"] == "3"
    assert at.query_params["feature"] == "summarize"
    assert at.query_params["range"] == "1h"
    at.multiselect(key="f_features").set_value([]).run()
    assert metrics(at)["Spend"] == "$1.56"  # the last hour: everything but H
    assert "feature" not in at.query_params


def test_cost_page_splits_spend_and_lists_unpriced(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "cost")
    shown = metrics(at)
    # input: A .03 B .06 C .10 D .01 E .20 H .03 I .003 JKL .15 = 0.583
    assert shown["Input"] == "$0.58"
    assert shown["Cache write"] == "$0.13"  # E: 20K x $6.25/M
    assert shown["Cache read"] == "$0.01"  # D: 80K x $0.10/M = $0.008: totals are in cents
    units = at.dataframe[0].value
    opus = units[units["Model"] == "claude-opus-4-5"].iloc[0]
    assert opus["spend"] == "$0.83" and opus["per 1K output tokens"] == "$0.0413"  # 0.825 / 20
    assert opus["per call"] == "$0.8250"  # per-call costs: always four decimals
    unpriced = at.dataframe[1].value
    assert unpriced["model"].tolist() == ["claude-mystery-9"]
    at.segmented_control(key="cost_dimension").set_value("feature").run()
    assert "Feature" in at.dataframe[0].value.columns


def test_caching_page_finds_the_uncached_repeated_prefix(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "caching")
    shown = metrics(at)
    assert shown["Cache hit rate"] == "18.1%"
    assert shown["Tokens read from cache"] == "80.0K"
    assert shown["Repeated uncached prefixes"] == "1"
    # 3 x 50K haiku tokens uncached = $0.15; 5m cache: 1 write $0.0625 + 2 reads $0.01 = $0.0725
    assert shown["Caching them would save"] == "$0.08"
    prefixes = at.dataframe[1].value
    row = prefixes.iloc[0]
    assert (row["calls"], row["best TTL"], row["uncached"], row["cached 5m"], row["cached 1h"], row["saving"]) == (
        3, "5m", "$0.1500", "$0.0725", "$0.1100", "$0.0775")


def test_latency_page_percentiles_errors_and_retries(loaded, monkeypatch) -> None:
    collector, known = loaded
    at = go(open_app(monkeypatch, collector.url), "latency")
    shown = metrics(at)
    durations = sorted(float(k.span["end"].timestamp() - k.span["start"].timestamp()) * 1000 for k in known
                       if k.name != "M")  # latency counts model calls only
    assert shown["p50 latency"] == fmt.ms(_quantile(durations, 0.5))
    assert shown["p95 latency"] == fmt.ms(_quantile(durations, 0.95))
    assert shown["Error rate"] == "8.3%"  # 1 of 12 model calls, as on the Overview (M is a token count)
    assert shown["Calls retried"] == "1"
    assert at.dataframe[0].value["model calls"].tolist()[:2] == ["6", "4"]  # haiku C D F J K L; sonnet A B H I
    errors = at.dataframe[1].value
    assert errors[["error_type", "http_status", "calls"]].values.tolist() == [["overloaded_error", 529, 1]]


def test_stop_reasons_page_shares(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "stop_reasons")
    shown = metrics(at)
    assert shown["max_tokens"] == "18.2%"  # B and J of 11 successful calls
    assert shown["refusal"] == "9.1%"  # I
    by_feature = at.dataframe[0].value.set_index("feature")
    assert by_feature.loc["classify", "refusal"] == "25.0%"  # I of I, J, K, L
    assert by_feature.loc["support_chat", "max_tokens"] == "33.3%"  # B of A, B, H
    # The headroom table counts the same answered calls: I stated no max_tokens, it still counts.
    headroom = at.dataframe[2].value.set_index("feature")
    assert (headroom.loc["classify", "calls"], headroom.loc["classify", "hit max_tokens"]) == ("4", "25.0%")


def test_calls_explorer_lists_calls_and_shows_detail(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "calls")
    table = at.dataframe[0].value
    assert len(table) == 13
    assert table["model"].iloc[0] == "claude-haiku-4-5"  # L is the newest
    labels = at.selectbox(key="calls_pick").options
    pick = next(i for i, label in enumerate(labels) if "claude-opus-4-5" in label)
    at.selectbox(key="calls_pick").set_value(pick).run()
    shown = metrics(at)
    assert (shown["Input"], shown["Output"], shown["Cache write"], shown["Total"]) == (
        "$0.2000", "$0.5000", "$0.1250", "$0.8250")
    at.selectbox(key="calls_status").set_value("error").run()
    assert at.dataframe[0].value["status"].tolist() == ["error"]


def test_advisor_reprices_history_on_another_model(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "advisor")
    assert metrics(at)["Actual cost"] == "$1.74"
    at.selectbox(key="advisor_model").set_value("claude-haiku-4-5").run()
    shown = metrics(at)
    assert shown["What-if cost"] == "$0.75"  # every priced call at haiku-4-5 rates
    assert shown["Difference"] == "-$0.99"
    at.multiselect(key="advisor_batch").set_value(["summarize"]).run()
    # C + D at half price: 0.751 - (0.2 + 0.068) / 2 = 0.617
    assert metrics(at)["What-if cost"] == "$0.62"


def test_alerts_page_empty_history(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = go(open_app(monkeypatch, collector.url), "alerts")
    assert metrics(at)["Firing now"] == "0"
    assert any("No alert fired" in i.value for i in at.info)


def test_empty_collector_tells_user_to_run_the_demo(collector, monkeypatch) -> None:
    at = open_app(monkeypatch, collector.url)
    assert any("claudescope demo --endpoint" in i.value for i in at.info)


def test_shards_are_summed(loaded, monkeypatch, tmp_path) -> None:
    first, _ = loaded
    second = start_collector(tmp_path / "shard2")
    try:
        extra = call_span(model="claude-sonnet-4-5", input_tokens=100000, output_tokens=0, feature="agent",
                          start=datetime.now(UTC) - timedelta(minutes=5))  # $0.30
        assert second.post_spans([extra]).status_code == 200
        at = open_app(monkeypatch, f"{first.url},{second.url}")
        shown = metrics(at)
        assert shown["Spend"] == "$2.04"
        assert shown["Calls"] == "14"
        assert at.dataframe[0].value["spend"].tolist()[0] == "$1.13 + 1 unpriced"  # agent: 0.825 + 0.30, and G
    finally:
        second.stop()


def test_token_is_sent_and_a_wrong_one_is_reported(collector_factory, monkeypatch) -> None:
    secured = collector_factory(token="s3cret")
    assert secured.post_spans([call_span()]).status_code == 200
    at = open_app(monkeypatch, secured.url, token="s3cret")
    assert metrics(at)["Calls"] == "1"
    monkeypatch.setenv("CLAUDESCOPE_TOKEN", "wrong")
    denied = AppTest.from_file(str(APP), default_timeout=60)
    denied.run()
    assert any("refused the token (401)" in e.value for e in denied.error)


def _quantile(values: list[float], q: float) -> float:
    # DuckDB quantile_cont: linear interpolation between closest ranks.
    position = (len(values) - 1) * q
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def test_expected_spend_helper_counts_only_priced_calls(loaded) -> None:
    _, known = loaded
    assert expected_spend(known, datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)) == Decimal("1.744")


def test_login_is_required_when_oidc_is_configured(loaded, monkeypatch) -> None:
    collector, _ = loaded
    monkeypatch.setenv("CLAUDESCOPE_API", collector.url)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost/oauth2callback", "cookie_secret": "x",
                          "client_id": "c", "client_secret": "s", "server_metadata_url": "http://idp/.well-known"}
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Log in"]
    assert not at.metric  # nothing shown before login
    at.user = {"is_logged_in": True, "email": "a@example.com"}
    at.run()
    assert metrics(at)["Calls"] == "13"


def test_a_bad_shared_link_falls_back_to_defaults_with_a_warning(loaded, monkeypatch) -> None:
    collector, _ = loaded
    at = open_app(monkeypatch, collector.url, params={"range": "forever"})
    assert any("range='forever'" in w.value for w in at.warning)
    assert metrics(at)["Calls"] == "13"  # the default 7 days
