"""Alerts: what is firing now, and every alert fired or resolved in the range."""

from __future__ import annotations

import streamlit as st

from claudescope.dashboard import queries, view
from claudescope.dashboard import formatting as fmt


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    firing = view.load(queries.firing_alerts)
    history = view.load(queries.alert_history, f)
    cols = st.columns(3)
    cols[0].metric("Firing now", fmt.count(len(firing)), border=True)
    cols[1].metric("Events in range", fmt.count(len(history)), border=True)
    undelivered = int((history["delivered"] == False).sum()) if not history.empty else 0  # noqa: E712
    cols[2].metric("Not delivered", fmt.count(undelivered), border=True)
    st.subheader("Firing now")
    if firing.empty:
        st.success("No alert is firing.", icon=":material/check_circle:")
    else:
        view.table(firing, hide_index=True, width="stretch")
    st.subheader("History")
    if history.empty:
        st.info("No alert fired or resolved in this range. Budgets and rules are set in claudescope.toml; "
                "`claudescope alerts test` sends a test notification.")
    else:
        view.table(history, hide_index=True, width="stretch")


view.header("Alerts", "Budget, truncation, reliability and latency alerts")
view.refreshing(body)
