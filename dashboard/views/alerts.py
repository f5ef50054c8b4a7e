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
    undelivered = history[history["delivered"] == False] if not history.empty else history  # noqa: E712
    nowhere = int(undelivered["no_channel"].fillna(True).astype(bool).sum()) if len(undelivered) else 0
    cols[2].metric("Not delivered", fmt.count(len(undelivered)), border=True,
                   help="Events no configured channel has taken yet (or no channel was configured for).")
    if nowhere:
        st.warning(f"{fmt.count(nowhere)} of them had no channel to go to: no notification channel was configured "
                   "when they fired. Add `urls` under `[notify]` in claudescope.toml, then check with "
                   "`claudescope alerts test`.", icon=":material/notifications_off:")
    elif len(undelivered):
        st.caption(f"{fmt.count(len(undelivered))} are waiting for a channel that has not taken them yet "
                   "(retried with backoff; the collector log says why).")
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
        view.table(history.drop(columns="no_channel"), hide_index=True, width="stretch")


view.header("Alerts", "Budget, truncation, reliability and latency alerts")
view.refreshing(body)
