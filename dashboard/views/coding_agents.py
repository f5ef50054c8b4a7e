"""Coding agents: Claude Code's spend beside the applications', by developer, session, model and agent."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claudescope.dashboard import queries_coding as qc
from claudescope.dashboard import view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import dec, num

SETUP_HINT = ("No Claude Code calls in this selection. Point Claude Code's telemetry at this collector "
              "(`CLAUDE_CODE_ENABLE_TELEMETRY=1`, `OTEL_LOGS_EXPORTER=otlp`, see docs/claude-code.md) "
              "and each API request it makes shows up here.")
_TITLES = {"developer": "Developer", "session": "Session", "model": "Model", "agent": "Agent / skill / query source"}


def hit_rate(frame: pd.DataFrame) -> pd.Series:
    """Cache read tokens over all input tokens (uncached + reads + writes), per row."""
    total = frame["input_tokens"].map(num) + frame["cache_read_tokens"].map(num) + frame["cache_write_tokens"].map(num)
    return (frame["cache_read_tokens"].map(num) / total.where(total > 0)).astype("float64")


def summary(f: Filters, totals: pd.Series) -> None:
    """Claude Code spend beside app spend; sessions, developers, cost per session, cache hit rate."""
    split = view.load(qc.spend_split, f).set_index("side")

    def side(name: str) -> str:
        if name not in split.index:
            return fmt.money(0)
        return fmt.priced(split.loc[name, "cost_usd"], int(num(split.loc[name, "unpriced_calls"])))

    sessions = int(num(totals["sessions"]))
    spend = dec(totals["cost_usd"])
    cols = st.columns(5)
    cols[0].metric("Claude Code spend", side("Claude Code"), border=True)
    cols[1].metric("Applications' spend", side("Applications"), border=True,
                   help="Every other producer's calls (your own applications), same range and filters.")
    cols[2].metric("Sessions · developers", f"{fmt.count(sessions)} · {fmt.count(num(totals['developers']))}",
                   border=True)
    cols[3].metric("Cost per session", fmt.unit_money(spend / sessions if spend is not None and sessions else None),
                   border=True)
    frame = pd.DataFrame([totals])
    cols[4].metric("Cache hit rate", fmt.pct(hit_rate(frame).iloc[0]), border=True,
                   help="Cache read tokens / all input tokens (uncached + cache reads + cache writes).")


def breakdown(f: Filters, by: str) -> None:
    """One table: spend, Claude Code's own price, calls, cost per session and hit rate per ``by``."""
    frame = view.load(qc.coding_by, f, by)
    sessions = frame["sessions"].map(num)
    per_session = [fmt.unit_money(dec(c) / int(s)) if dec(c) is not None and s else fmt.MISSING
                   for c, s in zip(frame["cost_usd"], sessions, strict=True)]
    table = pd.DataFrame({
        _TITLES[by]: frame[by],
        "spend": [fmt.priced(c, int(num(u))) for c, u in zip(frame["cost_usd"], frame["unpriced_calls"], strict=True)],
        "Claude Code's own price": frame["claude_code_cost_usd"].map(fmt.money),
        "calls": frame["calls"].map(fmt.count),
        "sessions": sessions.map(fmt.count),
        "cost per session": per_session,
        "cache hit rate": hit_rate(frame).map(fmt.pct),
    })
    view.table(table, hide_index=True, width="stretch")


def cross_checks(f: Filters) -> None:
    """Where Claude Code's own figures (its price, its metrics) disagree with the stored calls."""
    prices = view.load(qc.own_cost_differences, f)
    if len(prices):
        st.warning(f"{fmt.count(len(prices))} Claude Code calls are priced differently by Claude Code than by "
                   "claudescope's price table (a price change one side does not know yet?).", icon=":material/warning:")
        view.table(pd.DataFrame({
            "time": prices["start_time"], "developer": prices["developer"], "model": prices["model"],
            "request id": prices["request_id"], "claudescope": prices["cost_usd"].map(fmt.unit_money),
            "Claude Code": prices["claude_code_cost_usd"].map(fmt.unit_money),
        }), hide_index=True, width="stretch")
    metrics = view.load(qc.metric_mismatches, f)
    if len(metrics):
        st.warning(f"Claude Code's cost and token metrics disagree with its call events for {fmt.count(len(metrics))} "
                   "session and model pairs: events or metrics were lost on the way.", icon=":material/warning:")
        view.table(pd.DataFrame({
            "session": metrics["session_id"], "model": metrics["model"],
            "metrics' cost": metrics["metric_cost_usd"].map(fmt.unit_money),
            "events' cost": metrics["event_cost_usd"].map(fmt.unit_money),
            "metrics' tokens": metrics["metric_tokens"].map(fmt.tokens),
            "events' tokens": metrics["event_tokens"].map(fmt.tokens),
        }), hide_index=True, width="stretch")
    if not len(prices) and not len(metrics):
        st.caption("Claude Code's own prices and metrics agree with the stored calls.")


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    totals = view.load(qc.coding_totals, f)
    if view.is_empty(totals):
        st.info(SETUP_HINT, icon=":material/info:")
        return
    summary(f, totals.iloc[0])
    left, right = st.columns(2)
    with left:
        st.subheader("By developer")
        breakdown(f, "developer")
        st.subheader("By model")
        breakdown(f, "model")
    with right:
        st.subheader("By session")
        breakdown(f, "session")
        st.subheader("By agent, skill or query source")
        breakdown(f, "agent")
    st.subheader("Cross-checks")
    cross_checks(f)


view.header("Coding agents", "Claude Code and Agent SDK spend, by developer, session, model and agent")
view.refreshing(body)
