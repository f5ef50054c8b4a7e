"""Pure parts of the dashboard: formatting, filters and their URL form, budgets, shard merging, what-ifs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from claudescope.config import Config, PricingConfig
from claudescope.dashboard import budget, formatting as fmt, queries, savings
from claudescope.dashboard.client import QueryClient, QueryError
from claudescope.dashboard.filters import FilterError, Filters, bucket_for, from_params, to_params
from claudescope.dashboard.frames import to_frame
from claudescope.dashboard.launch import streamlit_command
from claudescope.pricing import PriceTable

NOW = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(("value", "shown"), [
    ("1234.567", "$1,234.57"), ("0.0136", "$0.01"), ("0.008", "$0.01"), ("0.000375", "<$0.01"), ("0", "$0.00"),
    ("-5.005", "-$5.01"), (None, "—"),
])
def test_totals_are_in_cents_and_a_tiny_amount_is_never_zero(value: str | None, shown: str) -> None:
    assert fmt.money(None if value is None else Decimal(value)) == shown


@pytest.mark.parametrize(("value", "shown"), [
    ("0.00362", "$0.0036"), ("0.0136", "$0.0136"), ("0.825", "$0.8250"), ("1234.5", "$1,234.5000"),
    ("0.00001", "<$0.0001"), ("0", "$0.0000"), (None, "—"),
])
def test_unit_costs_have_one_fixed_precision(value: str | None, shown: str) -> None:
    assert fmt.unit_money(None if value is None else Decimal(value)) == shown


def test_unpriced_money_names_its_calls_never_zero() -> None:
    assert fmt.priced(None, 3) == "unpriced (3 calls)"
    assert fmt.priced(Decimal(0), 2) == "unpriced (2 calls)"  # a failed call's $0 beside unpriced ones
    assert fmt.priced(Decimal("1.2"), 3) == "$1.20 + 3 unpriced"
    assert fmt.priced(Decimal("1.2"), 0) == "$1.20"


def test_tokens_ms_pct() -> None:
    assert [fmt.tokens(950), fmt.tokens(12_345), fmt.tokens(1_234_567)] == ["950", "12.3K", "1.2M"]
    assert [fmt.ms(850), fmt.ms(4600), fmt.ms(22_500), fmt.ms(1_926_000)] == ["850 ms", "4.60 s", "22.5 s", "32.1 min"]
    assert fmt.pct(0.1809) == "18.1%" and fmt.pct(None) == "—"


def test_filters_round_trip_through_the_url() -> None:
    f = Filters(range_key="custom", custom_from=date(2026, 11, 1), custom_to=date(2026, 11, 3), now=NOW,
                features=("support_chat", "agent"), models=("claude-opus-4-5",))
    params = to_params(f)
    assert params == {"range": "custom", "from": "2026-11-01", "to": "2026-11-03",
                      "feature": "support_chat,agent", "model": "claude-opus-4-5"}
    back = from_params(params, now=NOW)
    assert back == f
    assert (back.start, back.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))


@pytest.mark.parametrize("params", [{"range": "forever"}, {"range": "custom"}, {"range": "custom", "from": "x", "to": "y"}])
def test_bad_url_filters_are_refused_clearly(params: dict[str, str]) -> None:
    with pytest.raises(FilterError):
        from_params(params, now=NOW)


def test_ranges_and_buckets() -> None:
    assert Filters(range_key="today", now=NOW).start == datetime(2026, 11, 22, tzinfo=UTC)
    assert Filters(range_key="1h", now=NOW).start == NOW - timedelta(hours=1)
    assert bucket_for(NOW - timedelta(hours=1), NOW) == "1 minute"
    assert bucket_for(NOW - timedelta(days=30), NOW) == "1 day"


def test_where_clause_quotes_user_input() -> None:
    sql = queries.where(Filters(now=NOW, users=("o'brien",), features=("a",)))
    assert "user_id IN ('o''brien')" in sql and "feature IN ('a')" in sql


def test_budget_windows_projection_in_a_timezone() -> None:
    w = budget.windows(NOW, "UTC")
    assert (w.day_start, w.month_start, w.month_end) == (
        datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    elapsed_share = Decimal((NOW - w.month_start).total_seconds()) / Decimal(30 * 86400)
    assert budget.projected_month_end(Decimal("100"), w) == (Decimal(100) / elapsed_share).quantize(Decimal("0.01"))
    paris = budget.windows(NOW, "Europe/Paris")
    assert paris.day_start == datetime(2026, 11, 21, 23, tzinfo=UTC)


def test_shards_merge_sums_exactly_and_max_for_percentiles() -> None:
    a = pa.table({"feature": ["x", "y"], "calls": [1, 2],
                  "cost_usd": pa.array([Decimal("0.000000001"), None], pa.decimal128(38, 9))})
    b = pa.table({"feature": ["x"], "calls": [3], "cost_usd": pa.array([Decimal("1.5")], pa.decimal128(38, 9))})
    merged = to_frame([a, b], keys=["feature"]).set_index("feature")
    assert merged.loc["x", "cost_usd"] == Decimal("1.500000001") and merged.loc["x", "calls"] == 4
    assert merged.loc["y", "cost_usd"] is None
    p = to_frame([pa.table({"p95_ms": [10.0]}), pa.table({"p95_ms": [30.0]})], merge="max")
    assert p["p95_ms"].tolist() == [30.0]


def test_caching_savings_and_prefix_break_even() -> None:
    table = PriceTable.load(PricingConfig())
    usage = pd.DataFrame([{"model": "claude-haiku-4-5", "service_tier": "standard", "cache_read_tokens": 80_000,
                           "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0,
                           "cost_cache_read_usd": Decimal("0.008"), "cost_cache_write_usd": Decimal("0")}])
    assert savings.caching_savings(usage, table) == Decimal("0.072")
    prefixes = pd.DataFrame([{"prefix_hash": "p" * 32, "model": "claude-haiku-4-5", "feature": "f",
                              "prefix_tokens": 50_000, "calls": 3, "cache_hits": 0, "writes_5m": 1, "writes_1h": 1}])
    row = savings.prefix_opportunities(prefixes, table).iloc[0]
    assert (row["uncached_usd"], row["cached_5m_usd"], row["best_ttl"], row["saving_usd"]) == (
        Decimal("0.15"), Decimal("0.0725"), "5m", Decimal("0.0775"))


def test_launch_command_never_carries_the_token(tmp_path) -> None:
    config = Config(token="s3cret", dashboard_port=9999, host="127.0.0.1", config_file=tmp_path / "c.toml")
    command = streamlit_command("http://a:1,http://b:2", config=config)
    assert "s3cret" not in " ".join(command)
    assert command[command.index("--server.port") + 1] == "9999"
    assert command[command.index("--api") + 1] == "http://a:1,http://b:2"
    assert command[command.index("--config") + 1] == str((tmp_path / "c.toml").resolve())


def test_unreachable_collector_is_a_clear_error() -> None:
    client = QueryClient.from_api("http://127.0.0.1:9", timeout_s=2)
    with pytest.raises(QueryError, match="cannot reach the collector"):
        client.query("SELECT 1")
    with pytest.raises(QueryError):
        QueryClient.from_api(" , ")


def test_dashboard_command_stops_streamlit_on_sigterm(tmp_path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from claudescope.fakeapi.server import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")}
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "dashboard", "--api", "http://127.0.0.1:9",
                             "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("dashboard did not start")
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        with pytest.raises(httpx.HTTPError):  # the Streamlit child is gone too
            httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
    finally:
        if proc.poll() is None:
            proc.kill()
