"""Cost: spend over time by any dimension, unit costs, and what the money is spent on."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from claudescope.dashboard import charts, queries, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.filters import Filters, bucket_step
from claudescope.dashboard.frames import dec, num

ZERO = Decimal(0)
DIMENSION_LABELS = {"model": "Model", "feature": "Feature", "user": "User", "prompt_version": "Prompt version",
                    "service": "Service"}
PARTS = (("Input", "cost_input_usd"), ("Output", "cost_output_usd"), ("Cache write", "cost_cache_write_usd"),
         ("Cache read", "cost_cache_read_usd"), ("Other (web search…)", "cost_other_usd"))
TOP_SERIES = 8


def spend_chart(f: Filters, dimension: str) -> None:
    """Stacked spend over time, the top series plus 'other'; calls with no price are counted
    beside the chart, never drawn as $0 (a bucket of only those has no bar, not an empty chart)."""
    frame = view.load(queries.spend_over_time, f, dimension)
    unpriced = int(sum(num(v) for v in frame["unpriced_calls"])) if len(frame) else 0
    frame = frame[~frame["cost_usd"].map(fmt.is_missing)]
    if frame.empty:
        st.info(f"No priced spend in this range: {fmt.count(unpriced)} calls used models with no price, so their "
                "cost is unknown (see Unpriced calls below).", icon=":material/info:")
        return
    totals = frame.groupby("series")["cost_usd"].agg(lambda s: sum((dec(v) or ZERO for v in s), ZERO))
    top = set(totals.sort_values(ascending=False, key=lambda s: s.map(float)).head(TOP_SERIES).index)
    frame = frame.assign(series=frame["series"].where(frame["series"].isin(top), "other"))
    step = bucket_step(f.start, f.end)
    st.altair_chart(charts.stacked_bars(frame, x="bucket", y="cost_usd", color="series", y_title="spend (USD)",
                                        by_model=dimension == "model", step=step), width="stretch")
    if unpriced:
        st.caption(f"Not in the bars: {fmt.count(unpriced)} calls to models with no price (cost unknown, not $0).")


def unit_costs(f: Filters, dimension: str) -> None:
    """Per series: spend, calls, cost per call, cost per 1K output tokens, share. A series with
    calls to unpriced models says so instead of a per-call or per-token cost."""
    frame = view.load(queries.unit_costs, f, dimension)
    grand = sum((dec(v) or ZERO for v in frame["cost_usd"]), ZERO)
    rows = []
    for r in frame.itertuples(index=False):
        cost, calls, out = dec(r.cost_usd), int(num(r.calls)), int(num(r.output_tokens))
        unpriced = int(num(r.unpriced_calls))
        rows.append({
            DIMENSION_LABELS[dimension]: getattr(r, dimension), "spend": fmt.priced(cost, unpriced),
            "calls": fmt.count(calls),
            "per call": _unit(cost, calls, unpriced),
            "per 1K output tokens": _unit(None if cost is None else cost * 1000, out, unpriced),
            "share": _share(cost, grand, unpriced),
            "output tokens": fmt.tokens(out),
        })
    view.table(pd.DataFrame(rows), hide_index=True, width="stretch")


def _unit(cost: Decimal | None, per: int, unpriced: int) -> str:
    # A unit cost over calls some of which have no price would understate it: say unpriced.
    if unpriced:
        return fmt.UNPRICED
    return fmt.unit_money(cost / per if cost is not None and per else None)


def _share(cost: Decimal | None, grand: Decimal, unpriced: int) -> str:
    if cost is None or (cost == 0 and unpriced):
        return fmt.UNPRICED
    return fmt.pct(float(cost / grand) if grand else None)


def split(f: Filters) -> None:
    """What the money buys: input, output, cache writes, cache reads, other."""
    tot = view.totals(f).iloc[0]
    cols = st.columns(len(PARTS))
    for col, (label, column) in zip(cols, PARTS):
        col.metric(label, fmt.money(dec(tot[column]) or ZERO), border=True)
    parts = pd.DataFrame({"part": [p for p, _ in PARTS], "usd": [dec(tot[c]) or ZERO for _, c in PARTS]})
    st.altair_chart(charts.ranked_bars(parts, label="part", value="usd", title="spend"), width="stretch")


def unpriced(f: Filters) -> None:
    """Calls with no known price: their cost is unknown, not zero."""
    frame = view.load(queries.unpriced_calls, f)
    st.subheader("Unpriced calls")
    if frame.empty:
        st.success("Every successful call in this range has a price.", icon=":material/check_circle:")
        return
    st.warning("These models have no price in the table, so their calls are missing from the spend above. "
               "Add them under `[prices]` in claudescope.toml, then run `claudescope reprice`.")
    view.table(frame.assign(calls=frame["calls"].map(fmt.count), input_tokens=frame["input_tokens"].map(fmt.tokens),
                              output_tokens=frame["output_tokens"].map(fmt.tokens)),
                 hide_index=True, width="stretch")


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    if view.is_empty(view.totals(f)):
        view.empty_state()
        return
    dimension = st.session_state.get("cost_dimension", "model")
    st.subheader(f"Spend over time by {DIMENSION_LABELS[dimension].lower()}")
    spend_chart(f, dimension)
    st.subheader(f"Unit costs by {DIMENSION_LABELS[dimension].lower()}")
    unit_costs(f, dimension)
    st.subheader("Where the money goes")
    split(f)
    unpriced(f)


view.header("Cost", "Spend over time, unit costs and what each dollar buys")
st.segmented_control("Break down by", list(DIMENSION_LABELS), format_func=DIMENSION_LABELS.__getitem__,
                     key="cost_dimension", default="model")
view.refreshing(body)
