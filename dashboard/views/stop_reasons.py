"""Stop reasons: truncation (max_tokens), refusals and the rest, by feature and prompt version."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claudescope.dashboard import charts, queries, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import num

WATCHED = ("max_tokens", "refusal", "pause_turn", "model_context_window_exceeded")


def shares(frame: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """Per value of ``dimension``: calls and the share of each watched stop reason."""
    pivot = frame.pivot_table(index=dimension, columns="stop_reason", values="calls", aggfunc="sum", fill_value=0)
    total = pivot.sum(axis=1)
    out = pd.DataFrame({dimension: pivot.index, "calls": total.map(fmt.count).values})
    for reason in WATCHED:
        column = pivot[reason] if reason in pivot.columns else 0 * total
        out[reason] = (column / total).map(fmt.pct).values
    return out


def output_headroom(f: Filters) -> None:
    """Output tokens used against max_tokens requested, per feature (the same calls as above;
    the averages over the calls that stated a max_tokens)."""
    frame = view.load(queries.output_vs_max_tokens, f)
    if frame.empty:
        return
    table = pd.DataFrame({
        "feature": frame["feature"], "calls": frame["calls"].map(fmt.count),
        "hit max_tokens": [fmt.pct(num(m) / num(c) if num(c) else None)
                           for m, c in zip(frame["max_tokens_stops"], frame["calls"])],
        "avg output tokens": [fmt.count(num(o) / num(c)) if num(c) else "—"
                              for o, c in zip(frame["output_tokens"], frame["with_max_tokens"])],
        "avg max_tokens": [fmt.count(num(m) / num(c)) if num(c) else "—"
                           for m, c in zip(frame["max_tokens"], frame["with_max_tokens"])],
        "output / max_tokens": [fmt.pct(num(o) / num(m) if num(m) else None)
                                for o, m in zip(frame["output_tokens"], frame["max_tokens"])],
    })
    view.table(table, hide_index=True, width="stretch")


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    every = view.load(queries.stop_reasons, f)
    overall = every[every["dimension"] == "model"]
    if overall.empty:
        view.empty_state()
        return
    total = sum(num(v) for v in overall["calls"])
    cols = st.columns(len(WATCHED))
    for col, reason in zip(cols, WATCHED):
        n = sum(num(v) for v in overall.loc[overall["stop_reason"] == reason, "calls"])
        col.metric(reason, fmt.pct(n / total if total else None), fmt.count(n) + " calls", delta_color="off",
                   delta_arrow="off", border=True)
    for dimension, title in (("feature", "By feature"), ("prompt_version", "By prompt version")):
        frame = every[every["dimension"] == dimension].rename(columns={"value": dimension})
        st.subheader(title)
        left, right = st.columns([3, 2])
        with left:
            view.table(shares(frame, dimension), hide_index=True, width="stretch")
        with right:
            st.altair_chart(charts.share_bars(frame, label=dimension, part="stop_reason", value="calls",
                                              title="share of calls"), width="stretch")
    st.subheader("Output tokens vs requested max_tokens")
    output_headroom(f)


view.header("Stop reasons", "Truncated, refused or paused answers, by feature and prompt version")
view.refreshing(body)
