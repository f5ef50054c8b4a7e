"""Overview: where the money goes right now, against the budget, and what is on fire."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from claudescope.call_facts import INPUT_TOKEN_COLUMNS
from claudescope.dashboard import advice, bill, budget, charts, queries, queries_bill, savings, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.context import current
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import dec, num

ZERO = Decimal(0)


def totals_row(f: Filters) -> bool:
    """Spend, calls, errors, latency and caching for the range; False when there is no data."""
    tot = view.totals(f).iloc[0]
    calls = int(num(tot["calls"]))
    if calls == 0:
        view.empty_state()
        return False
    lat = view.load(queries.latency_percentiles, f, "p95_ms").iloc[0]
    by_model = view.load(queries.usage_by_model, f)
    all_input = sum(num(tot[c]) for c in INPUT_TOKEN_COLUMNS)
    cols = st.columns(6)
    cols[0].metric("Spend", fmt.money(dec(tot["cost_usd"]) or ZERO), border=True)
    cols[1].metric("Calls", fmt.count(calls), border=True)
    model_calls = num(tot["model_calls"])
    cols[2].metric("Error rate", fmt.pct(num(tot["model_errors"]) / model_calls if model_calls else None),
                   border=True, help="Failed model calls / model calls.")
    cols[3].metric("p95 latency", fmt.ms(num(lat["p95_ms"], float("nan"))), border=True)
    cols[4].metric("Cache hit rate", fmt.pct(num(tot["cache_read_tokens"]) / all_input if all_input else None),
                   border=True)
    cols[5].metric("Saved by caching", fmt.money(savings.caching_savings(by_model, current().prices)), border=True)
    unpriced = int(num(tot["unpriced_calls"]))
    if unpriced:
        st.warning(f"{fmt.count(unpriced)} calls used a model with no known price: they are not in the spend. "
                   "See the Cost page, and add the price under [prices] in claudescope.toml.")
    return True


def budget_row(f: Filters) -> None:
    """Today and this month against the configured budget (all calls, whatever the filters)."""
    config = current().budget
    w = budget.windows(f.now, config.timezone)
    org = f.without_dimensions()
    spent = view.load(queries.budget_spend, org, w.day_start, w.month_start, w.now).iloc[0]
    today, month = dec(spent["today_usd"]) or ZERO, dec(spent["month_usd"]) or ZERO
    projected = budget.projected_month_end(month, w)
    st.subheader("Budget")
    # A budget is for all spend (the budget alerts measure it so): say so where filters narrow the rest.
    narrowed = " The filters above do not apply here: a budget covers all spend." if _filtered(f) else ""
    st.caption(f"Organisation-wide: every call in the store, days and months in {fmt.literal(config.timezone)}."
               f"{narrowed}")
    cols = st.columns(4)
    cols[0].metric("Spend today", fmt.money(today), _against(today, config.daily_usd), delta_color="off",
                   delta_arrow="off", border=True)
    cols[1].metric("Spend this month", fmt.money(month), _against(month, config.monthly_usd), delta_color="off",
                   delta_arrow="off", border=True)
    over = config.monthly_usd is not None and projected > config.monthly_usd
    cols[2].metric("Projected month-end", fmt.money(projected), _against(projected, config.monthly_usd),
                   delta_color="inverse" if over else "off", delta_arrow="off", border=True)
    cols[3].metric("Burn rate", f"{fmt.money(budget.burn_per_hour(today, w.day_start, w.now))}/h",
                   border=True, help="Today's spend per hour so far.")
    if over:
        st.error(f"At this pace the month ends at {fmt.money(projected)}, over the "
                 f"{fmt.money(config.monthly_usd)} budget.")


def bill_row(f: Filters) -> None:
    """Does claudescope match the bill (the latest reconciliation), where not and why; and the
    spend limits' headroom. Organisation-wide, like the budget."""
    st.subheader("Against the bill")
    st.caption("The latest `claudescope reconcile` against Anthropic's Usage & Cost Admin API, per UTC day and "
               "model, whatever the filters above.")
    verdict = bill.verdict(view.load(queries_bill.bill_status))
    box = {"match": st.success, "differ": st.warning}.get(verdict.state, st.info)
    box(verdict.text, icon=":material/receipt_long:")
    if verdict.state == "differ":
        # Model names come from the bill, explanations name traced services: a table shows them as text.
        view.table(bill.mismatch_table(view.load(queries_bill.bill_mismatches)), hide_index=True, width="stretch",
                   column_config={"why": st.column_config.TextColumn(width="large")})
    limits = view.load(queries_bill.spend_headroom, f.now)
    if not limits.empty:
        st.markdown("**Spend limit headroom**: each cap as read from the Admin API, against what claudescope "
                    "traced in its current UTC period (calls it never saw are not counted: the reconciliation "
                    "above shows them).")
        view.table(bill.headroom_table(limits), hide_index=True, width="stretch")


def _filtered(f: Filters) -> bool:
    return any((f.services, f.models, f.features, f.users, f.prompt_versions, f.sources))


def _against(spent: Decimal, limit: Decimal | None) -> str | None:
    part = budget.share(spent, limit)
    return None if part is None else f"{fmt.pct(part, 0)} of {fmt.money(limit)} budget"


def what_to_change(f: Filters) -> None:
    """A few concrete suggestions, each linking to the page with the detail."""
    found = advice.suggestions(view.load(queries.cost_by, f, "feature"), view.load(queries.stop_reasons, f, ("feature",)))
    unpinned = advice.unpinned(view.load(queries.unpinned_aliases, f))
    if not found and unpinned.empty:
        return
    st.subheader("What to change")
    for suggestion in found:
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.markdown(suggestion.text)
        right.page_link(suggestion.page, label="Details", icon=":material/arrow_forward:")
    if not unpinned.empty:
        st.markdown("These features call a model alias, which can start answering as a new snapshot "
                    "(the `model_changed` alert says when): pin a dated model id.")
        view.table(unpinned, hide_index=True, width="stretch")
    st.page_link("views/advisor.py", label="Reprice this history on another model or the Batch API",
                 icon=":material/savings:")


def top_and_alerts(f: Filters) -> None:
    """Top features by cost, next to the alerts firing now."""
    left, right = st.columns([3, 2])
    features = view.load(queries.cost_by, f, "feature").head(8)
    with left:
        st.subheader("Top features by cost")
        table = features.assign(
            spend=[fmt.priced(c, int(num(u))) for c, u in zip(features["cost_usd"], features["unpriced_calls"])],
            calls_=features["calls"].map(fmt.count),
            per_call=[fmt.UNPRICED if num(u) else fmt.unit_money(dec(c) / int(n) if dec(c) is not None and n else None)
                      for c, n, u in zip(features["cost_usd"], features["calls"], features["unpriced_calls"])],
        )[["feature", "spend", "calls_", "per_call"]].rename(columns={"calls_": "calls", "per_call": "per call"})
        st.altair_chart(charts.ranked_bars(features, label="feature", value="cost_usd", title="spend"),
                        width="stretch")
        view.table(table, hide_index=True, width="stretch")
    with right:
        st.subheader("Firing alerts")
        firing = view.load(queries.firing_alerts)
        if firing.empty:
            st.success("No alert is firing.", icon=":material/check_circle:")
        for alert in firing.itertuples(index=False):
            # The summary quotes span values (feature, model, ...): shown as text, never as Markdown.
            view.alert_notice(alert.severity, f"**{fmt.literal(alert.rule)}** ({fmt.literal(alert.severity)}): "
                              f"{fmt.literal(alert.summary, limit=fmt.SUMMARY_LIMIT)}")


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    if totals_row(f):
        budget_row(f)
        bill_row(f)
        what_to_change(f)
        top_and_alerts(f)


view.header("Overview", "Where your Claude money and latency go")
view.refreshing(body)
