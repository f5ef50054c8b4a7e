"""Rollup-backed dashboard queries give exactly what the raw ``calls`` queries give.

A service filter naming every service selects the same calls but is a dimension the rollups
lack, so it forces the raw query: the two answers must be identical, cell for cell.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from claudescope.dashboard import queries as q
from claudescope.dashboard import rollup
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters, bucket_step


def _client(loaded: Any) -> tuple[QueryClient, tuple[str, ...]]:
    collector, _ = loaded
    services = tuple(sorted(r["s"] for r in collector.query("SELECT DISTINCT service_name AS s FROM calls")))
    return QueryClient.from_api(collector.url, timeout_s=30), services


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    keys = [c for c in ("bucket", "series", "model", "feature", "user") if c in a.columns]  # raw SQL orders only by bucket
    a, b = (x.sort_values(keys).reset_index(drop=True) if keys else x for x in (a, b))
    pd.testing.assert_frame_equal(a, b, check_dtype=True)


def _now(loaded: Any, shift: timedelta) -> datetime:
    return max(k.start for k in loaded[1]) + shift


CASES = [
    pytest.param(dict(range_key="7d"), timedelta(hours=3), id="7d-hour-rollup"),
    pytest.param(dict(range_key="30d"), timedelta(minutes=1), id="30d-ragged-end"),
    pytest.param(dict(range_key="1h"), timedelta(minutes=7), id="1h-minute-rollup"),
    pytest.param(dict(range_key="7d", models=("claude-haiku-4-5", "claude-mystery-9")), timedelta(hours=2),
                 id="model-filter"),
    pytest.param(dict(range_key="7d", features=("agent", "summarize")), timedelta(minutes=30), id="feature-filter"),
    pytest.param(dict(range_key="7d", users=("u-1", "u-3")), timedelta(hours=5), id="user-filter-minute-rollup"),
    pytest.param(dict(range_key="custom", custom_from=date.today() - timedelta(days=5), custom_to=date.today()),
                 timedelta(0), id="custom-days"),
]


@pytest.mark.parametrize(("fields", "shift"), CASES)
def test_rollup_and_raw_answers_are_identical(loaded, fields: dict[str, Any], shift: timedelta) -> None:
    client, services = _client(loaded)
    f = Filters(now=_now(loaded, shift), **fields)
    raw = replace(f, services=services)
    step = bucket_step(f.start, f.end)
    for dimension in ("model", "feature"):
        if rollup.plan(f, [dimension], bucket=step):
            rolled = q.spend_over_time(client, f, dimension)
            assert not rolled.empty
            _same(rolled, q.spend_over_time(client, raw, dimension))
        if rollup.plan(f, [dimension]):
            _same(q.unit_costs(client, f, dimension), q.unit_costs(client, raw, dimension))
    if f.users and rollup.plan(f, ["user"]):
        _same(q.unit_costs(client, f, "user"), q.unit_costs(client, raw, "user"))
    _same(q.call_counts(client, f), q.call_counts(client, raw))
    assert rollup.plan(f, [], bucket=step) is not None, "the rollup path must be exercised"
    _same(q.cache_over_time(client, f), q.cache_over_time(client, raw))


def test_budget_spend_from_rollups_matches_raw_including_unpriced(loaded) -> None:
    client, services = _client(loaded)
    now = _now(loaded, timedelta(minutes=13))
    f = Filters(now=now)
    day, month = now - timedelta(hours=30, minutes=7), now - timedelta(days=4, seconds=5)
    assert rollup.plan(f, [], start=month, end=now) is not None
    got = q.budget_spend(client, f, day, month, now)
    # The raw form of the same question, written out: spend since each start.
    raw = client.query(f"SELECT sum(cost_usd) FILTER (WHERE start_time >= {q._ts(day)}) AS today_usd, "
                       f"sum(cost_usd) AS month_usd FROM calls WHERE {q.where(f, start=month, end=now)}")
    pd.testing.assert_frame_equal(got, raw[0].to_pandas())
    expected = sum(k.cost for k in loaded[1] if k.cost is not None and month <= k.start < now)
    assert got.iloc[0]["month_usd"] == expected


def test_unpriced_only_group_keeps_null_cost(loaded) -> None:
    client, _ = _client(loaded)
    f = Filters(now=_now(loaded, timedelta(hours=2)), models=("claude-mystery-9",))
    assert rollup.plan(f, ["model"], bucket=bucket_step(f.start, f.end)) is not None
    frame = q.spend_over_time(client, f, "model")
    assert frame["series"].tolist() == ["claude-mystery-9"]
    assert frame["cost_usd"].isna().all() and frame["calls"].tolist() == [1]


def test_filters_the_rollups_lack_fall_back_to_raw() -> None:
    now = datetime(2026, 11, 20, 12, 34, tzinfo=UTC)
    assert rollup.plan(Filters(now=now, prompt_versions=("v1",)), []) is None
    assert rollup.plan(Filters(now=now, services=("web",)), ["model"]) is None
    assert rollup.plan(Filters(now=now, users=("u",)), ["model"]).rollup is rollup.MINUTE
    assert rollup.plan(Filters(now=now), ["model"], bucket=timedelta(hours=6)).rollup is rollup.HOUR
    assert rollup.plan(Filters(now=now, range_key="1h"), [], bucket=timedelta(minutes=1)).rollup is rollup.MINUTE


@pytest.mark.parametrize("metric", ["p50_ms", "p95_ms", "p99_ms", "ttft_p50_ms", "ttft_p95_ms"])
def test_one_percentile_over_time_equals_the_full_query(loaded, metric: str) -> None:
    client, _ = _client(loaded)
    f = Filters(now=_now(loaded, timedelta(minutes=5)), range_key="1h")
    full = q.latency_over_time(client, f)
    one = q.latency_over_time(client, f, metric)
    assert one[metric].notna().any() or metric.startswith("ttft")  # the known calls are not streamed
    _same(one, full[["bucket", "model", "calls", metric]])
    overall = q.latency_percentiles(client, f, metric)
    pd.testing.assert_frame_equal(overall, q.latency_percentiles(client, f)[[metric]])


def test_counts_of_an_empty_range_are_zero_from_either_source(loaded) -> None:
    client, services = _client(loaded)
    f = Filters(now=_now(loaded, timedelta(days=40)), range_key="7d")
    assert rollup.plan(f, []) is not None
    got = q.call_counts(client, f)
    _same(got, q.call_counts(client, replace(f, services=services)))
    assert got.iloc[0].tolist() == [0, 0]


def test_stop_reasons_for_one_dimension_equal_that_part_of_all(loaded) -> None:
    client, _ = _client(loaded)
    f = Filters(now=_now(loaded, timedelta(minutes=5)))
    every = q.stop_reasons(client, f)
    assert set(every["dimension"]) == {"model", "feature", "prompt_version"}
    for dimension in ("model", "feature", "prompt_version"):
        one = q.stop_reasons(client, f, (dimension,))
        part = every[every["dimension"] == dimension]
        keys = ["dimension", "value", "stop_reason"]
        pd.testing.assert_frame_equal(one.sort_values(keys).reset_index(drop=True),
                                      part.sort_values(keys).reset_index(drop=True))
