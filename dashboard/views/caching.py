"""Caching: hit rate, savings, wasted writes, and prefixes that should be cached."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from claudescope.call_facts import INPUT_TOKEN_COLUMNS
from claudescope.dashboard import charts, prefix_table, queries, savings, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.context import current
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import dec, num

ZERO = Decimal(0)
INPUT_KINDS = INPUT_TOKEN_COLUMNS


def hit_rate(frame: pd.DataFrame) -> pd.Series:
    """Cache read tokens over all input tokens (uncached + reads + writes), per row."""
    total = sum(frame[c].map(num) for c in frame.columns if c in INPUT_KINDS or c == "cache_write_tokens")
    return (frame["cache_read_tokens"].map(num) / total.where(total > 0)).astype("float64")


def summary(f: Filters) -> None:
    """Hit rate, tokens read from cache, savings and write spend over the range."""
    tot = view.totals(f).iloc[0]
    by_model = view.load(queries.usage_by_model, f)
    all_input = sum(num(tot[c]) for c in INPUT_KINDS)
    cols = st.columns(4)
    cols[0].metric("Cache hit rate", fmt.pct(num(tot["cache_read_tokens"]) / all_input if all_input else None),
                   border=True, help="Cache read tokens / all input tokens (uncached + cache reads + cache writes).")
    cols[1].metric("Tokens read from cache", fmt.tokens(num(tot["cache_read_tokens"])), border=True)
    cols[2].metric("Saved by caching", fmt.money(savings.caching_savings(by_model, current().prices)), border=True,
                   help="Cache reads priced as uncached input, minus what cache writes cost above input price.")
    cols[3].metric("Spent on cache writes", fmt.money(dec(tot["cost_cache_write_usd"]) or ZERO), border=True)


def over_time(f: Filters) -> None:
    """Hit rate per bucket."""
    frame = view.load(queries.cache_over_time, f)
    frame = frame.assign(hit_rate=hit_rate(frame), series="hit rate")
    st.altair_chart(charts.lines(frame, x="bucket", y="hit_rate", color="series", y_title="cache hit rate",
                                 by_model=False, y_format="%"), width="stretch")


def by_feature(f: Filters) -> None:
    """Hit rate and cache spend per feature."""
    frame = view.load(queries.cost_by, f, "feature")
    table = pd.DataFrame({
        "feature": frame["feature"], "hit rate": hit_rate(frame).map(fmt.pct),
        "cache reads": frame["cache_read_tokens"].map(fmt.tokens),
        "cache writes": (frame["cache_write_5m_tokens"].map(num) + frame["cache_write_1h_tokens"].map(num)).map(fmt.tokens),
        "uncached input": frame["input_tokens"].map(fmt.tokens),
        "cache write spend": frame["cost_cache_write_usd"].map(fmt.money),
    })
    view.table(table, hide_index=True, width="stretch")


def prefixes(f: Filters) -> None:
    """Repeated prefixes: never-cached ones worth caching (the headline and its table agree), and
    already-cached ones with the TTL that fits them, apart."""
    raw = view.load(queries.prefix_reuse, f)
    if raw.empty:
        st.info("No repeated prompt prefixes recorded (the instrumentation hashes each request's cacheable "
                "prefix as `claudescope.cache.prefix_hash`).")
        return
    opportunities = savings.prefix_opportunities(raw, current().prices)
    wasted = raw[(raw["cache_writes"].map(num) > 0) & (raw["cache_hits"].map(num) == 0)]
    missed = prefix_table.uncached(opportunities)
    cols = st.columns(3)
    cols[0].metric("Repeated uncached prefixes", fmt.count(len(missed)), border=True)
    cols[1].metric("Caching them would save", fmt.money(prefix_table.would_save(opportunities)), border=True,
                   help="Sending each never-cached repeated prefix through the best cache TTL instead of uncached.")
    cols[2].metric("Prefixes written, never read", fmt.count(len(wasted)), border=True,
                   help="Cache writes that no later call read: the write premium was wasted.")
    if len(missed):
        view.table(prefix_table.shown(missed), hide_index=True, width="stretch")
    already = prefix_table.cached(opportunities)
    if len(already):
        st.markdown("**Already cached: which TTL fits them**")
        st.caption("What these prefixes would cost with each TTL; their saving over uncached input is already "
                   "in “Saved by caching” above.")
        view.table(prefix_table.shown(already, with_saving=False), hide_index=True, width="stretch")


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    if view.is_empty(view.totals(f)):
        view.empty_state()
        return
    summary(f)
    left, right = st.columns(2)
    with left:
        st.subheader("Hit rate over time")
        over_time(f)
    with right:
        st.subheader("By feature")
        by_feature(f)
    st.subheader("Repeated prefixes: cache them, and with which TTL")
    prefixes(f)


view.header("Caching", "How much prompt caching saves, and where it would save more")
view.refreshing(body)
