"""Latency & reliability: percentiles and TTFT by model, errors, retries, rate-limit headroom."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claudescope.dashboard import charts, queries, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import num

PERCENTILES = {"p50_ms": "p50", "p95_ms": "p95", "p99_ms": "p99", "ttft_p50_ms": "TTFT p50", "ttft_p95_ms": "TTFT p95"}


def per_model(f: Filters) -> None:
    """One row per model: calls, error rate, retries, percentiles."""
    frame = view.load(queries.latency_by_model, f)
    frame = frame[frame["model"] != queries.ALL_MODELS]
    table = pd.DataFrame({
        "model": frame["model"], "model calls": frame["calls"].map(fmt.count),
        "error rate": [fmt.pct(num(e) / num(c) if num(c) else None) for e, c in zip(frame["errors"], frame["calls"])],
        "retries": frame["retries"].map(fmt.count),
        "p50": frame["p50_ms"].map(fmt.ms), "p95": frame["p95_ms"].map(fmt.ms), "p99": frame["p99_ms"].map(fmt.ms),
        "TTFT p95": frame["ttft_p95_ms"].map(fmt.ms),
    })
    view.table(table, hide_index=True, width="stretch")


def over_time(f: Filters) -> None:
    """A chosen percentile per model over time."""
    metric = st.segmented_control("Percentile", list(PERCENTILES), format_func=PERCENTILES.__getitem__,
                                  key="latency_metric", default="p95_ms") or "p95_ms"
    frame = view.load(queries.latency_over_time, f, metric).dropna(subset=[metric])
    if frame.empty:
        st.info("No streamed calls in range (TTFT is measured on streams only)." if "ttft" in metric else "No data.")
        return
    st.altair_chart(charts.lines(frame, x="bucket", y=metric, color="model", y_title=f"{PERCENTILES[metric]} (ms)",
                                 by_model=True), width="stretch")


def errors(f: Filters) -> None:
    """Errors by type, retries and the time they cost."""
    frame = view.load(queries.errors_by_type, f)
    retries = view.load(queries.retry_cost, f)
    left, right = st.columns(2)
    with left:
        st.subheader("Errors by type")
        if frame.empty:
            st.success("No failed calls in this range.", icon=":material/check_circle:")
        else:
            st.altair_chart(charts.ranked_bars(frame, label="error_type", value="calls", title="failed calls",
                                               money=False), width="stretch")
            view.table(frame, hide_index=True, width="stretch")
    with right:
        st.subheader("Retries and backoff")
        retried = int(sum(num(v) for v in retries["retried_calls"])) if not retries.empty else 0
        lost = sum(num(v) for v in retries["time_lost_ms"]) if not retries.empty else 0.0
        cols = st.columns(2)
        cols[0].metric("Calls retried", fmt.count(retried), border=True)
        cols[1].metric("Time lost to retries", fmt.ms(lost), border=True,
                       help="Retried calls' duration beyond their model's median first-try duration.")
        if not retries.empty:
            view.table(retries.assign(time_lost=retries["time_lost_ms"].map(fmt.ms)).drop(columns="time_lost_ms"),
                         hide_index=True, width="stretch")


def headroom(f: Filters) -> None:
    """Lowest remaining share of each rate limit over time."""
    frame = view.load(queries.ratelimit_headroom, f)
    long = frame.melt(id_vars="bucket", var_name="limit", value_name="remaining").dropna(subset=["remaining"])
    st.subheader("Rate-limit headroom (last 24 hours at most)")
    if long.empty:
        st.info("No `anthropic-ratelimit-*` headers recorded in this range.")
        return
    low = long["remaining"].min()
    st.metric("Lowest headroom", fmt.pct(float(low)), border=True,
              help="Smallest remaining / limit seen in any response's anthropic-ratelimit-* headers.")
    st.altair_chart(charts.lines(long, x="bucket", y="remaining", color="limit", y_title="remaining share (min)",
                                 by_model=False, y_format="%"), width="stretch")


def _overall(frame: pd.DataFrame) -> pd.Series:
    # One "(all models)" row per shard; across shards the largest percentile is the safe bound,
    # while calls and errors add up.
    rows = frame[frame["model"] == queries.ALL_MODELS]
    if not len(rows):
        return pd.Series(dtype="float64")
    overall = rows.max(numeric_only=True)
    for column in ("calls", "errors"):
        overall[column] = sum(num(v) for v in rows[column])
    return overall


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    counts = view.load(queries.call_counts, f)
    if view.is_empty(counts):
        view.empty_state()
        return
    lat = _overall(view.load(queries.latency_by_model, f))
    cols = st.columns(5)
    cols[0].metric("p50 latency", fmt.ms(num(lat.get("p50_ms"), float("nan"))), border=True)
    cols[1].metric("p95 latency", fmt.ms(num(lat.get("p95_ms"), float("nan"))), border=True)
    cols[2].metric("p99 latency", fmt.ms(num(lat.get("p99_ms"), float("nan"))), border=True)
    cols[3].metric("TTFT p95", fmt.ms(num(lat.get("ttft_p95_ms"), float("nan"))), border=True)
    model_calls = num(lat.get("calls"))
    cols[4].metric("Error rate", fmt.pct(num(lat.get("errors")) / model_calls if model_calls else None), border=True,
                   help="Failed model calls / model calls.")
    st.subheader("Latency over time")
    over_time(f)
    st.subheader("By model")
    per_model(f)
    errors(f)
    headroom(f)


view.header("Latency & reliability", "How fast calls answer, how often they fail, and how close you are to limits")
view.refreshing(body)
