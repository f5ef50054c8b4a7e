"""Savings advisor: reprice the selected history as if routed differently."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from claudescope.dashboard import prefix_table, queries, savings, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.context import current
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import dec

ZERO = Decimal(0)
KEEP = "(keep each call's model)"


def _sum(values: pd.Series) -> Decimal:
    return sum((dec(v) or ZERO for v in values), ZERO)


def routing(usage: pd.DataFrame) -> None:
    """Another model and/or the Batch API for features that need no immediate answer."""
    prices = current().prices
    models = [KEEP] + [e.model for e in prices.entries()]
    features = sorted(str(v) for v in usage["feature"].unique())
    left, right = st.columns(2)
    target = left.selectbox("Route to model", models, key="advisor_model")
    batch = right.multiselect("Non-interactive features (bill at Batch API rates)", features, key="advisor_batch",
                              format_func=fmt.plain)
    repriced = savings.reprice(usage, prices, target_model=None if target == KEEP else target, batch_features=batch)
    priced = repriced[repriced["whatif_usd"].notna() & repriced["actual_usd"].notna()]
    actual, whatif = _sum(priced["actual_usd"]), _sum(priced["whatif_usd"])
    cols = st.columns(3)
    cols[0].metric("Actual cost", fmt.money(actual), border=True)
    cols[1].metric("What-if cost", fmt.money(whatif), border=True)
    cols[2].metric("Difference", fmt.money(whatif - actual),
                   f"{fmt.pct(float((whatif - actual) / actual)) if actual else '—'}", delta_color="inverse",
                   border=True)
    skipped = len(repriced) - len(priced)
    if skipped:
        st.caption(f"{skipped} model/feature groups have no price for the current or target model and are left out.")
    by_feature = priced.groupby("feature").agg(actual=("actual_usd", _sum), whatif=("whatif_usd", _sum)).reset_index()
    by_feature["saving"] = by_feature["actual"] - by_feature["whatif"]
    by_feature = by_feature.sort_values("saving", ascending=False, key=lambda s: s.map(float))
    view.table(by_feature.assign(**{c: by_feature[c].map(fmt.money) for c in ("actual", "whatif", "saving")}),
                 hide_index=True, width="stretch")
    st.caption("What-ifs use each model's standard-band rates; quality and latency differences are yours to judge.")


def caching(f: Filters) -> None:
    """Money left on the table by prefixes sent repeatedly without caching."""
    raw = view.load(queries.prefix_reuse, f)
    opportunities = savings.prefix_opportunities(raw, current().prices) if not raw.empty else pd.DataFrame()
    missed = prefix_table.uncached(opportunities)
    st.metric("Caching repeated prefixes would save", fmt.money(prefix_table.would_save(opportunities)), border=True)
    if len(missed):
        view.table(prefix_table.shown(missed, limit=20), hide_index=True, width="stretch")


def body() -> None:
    """The page (no auto-refresh: the user is composing a what-if)."""
    f = view.page_filters()
    usage = view.load(queries.usage_for_repricing, f)
    if usage.empty:
        view.empty_state()
        return
    st.subheader("Route elsewhere")
    routing(usage)
    st.subheader("Cache repeated prefixes")
    caching(f)


view.header("Savings advisor", "What the same history would cost routed, batched or cached differently")
body()
