"""Calls explorer: the filtered calls, newest first, and everything about one call."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from claudescope import semconv as sc
from claudescope.dashboard import queries, view
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.frames import dec, num

ZERO = Decimal(0)
CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS)
COST_PARTS = (("Input", "cost_input_usd"), ("Output", "cost_output_usd"), ("Cache read", "cost_cache_read_usd"),
              ("Cache write", "cost_cache_write_usd"), ("Other", "cost_other_usd"), ("Total", "cost_usd"))


def table(frame: pd.DataFrame) -> Any:
    """The calls, formatted for reading; a click on a row selects it."""
    shown = pd.DataFrame({
        "time (UTC)": frame["start_time"].dt.strftime("%Y-%m-%d %H:%M:%S"), "model": frame["model"],
        "feature": frame["feature"], "user": frame["user_id"], "prompt": frame["prompt_version"],
        "status": frame["status"], "stop": frame["stop_reason"], "latency": frame["duration_ms"].map(fmt.ms),
        "input": frame["input_tokens"].map(fmt.tokens), "cache read": frame["cache_read_tokens"].map(fmt.tokens),
        "cache write": frame["cache_write_tokens"].map(fmt.tokens), "output": frame["output_tokens"].map(fmt.tokens),
        "cost": frame["cost_usd"].map(_cost),
    })
    return view.table(shown, hide_index=True, width="stretch", height=360, on_select="rerun",
                        selection_mode="single-row", key="calls_table")


def detail(call: pd.Series) -> None:
    """One call: cost breakdown, attributes, attempts and content when captured."""
    name = next(v for v in (call["response_id"], call["request_id"], call["span_id"]) if not fmt.is_missing(v))
    st.subheader(f"Call {fmt.literal(name)}")
    cols = st.columns(3)
    for index, (label, column) in enumerate(COST_PARTS):
        cols[index % 3].metric(label, _cost(call[column]), border=True)
    # A column the call has no value for (a failed call has no model answer) is left out, not shown as None.
    facts = {k: _plain(call[k]) for k in call.index
             if k not in ("attributes",) and not k.startswith("cost_") and not fmt.is_missing(call[k])}
    attributes = _attributes(call["attributes"])
    attempts = {k: v for k, v in attributes.items() if "attempt" in k}
    content = {k: attributes.pop(k) for k in CONTENT_KEYS if k in attributes}
    left, right = st.columns(2)
    with left:
        st.markdown("**Columns**")
        st.json(facts, expanded=False)
        st.markdown("**Attempts**")
        if int(num(call["retries"])) == 0 and not attempts:
            st.caption(_first_attempt(call))
        else:
            st.json(attempts or {"retries": int(num(call["retries"]))}, expanded=True)
    with right:
        st.markdown("**Attributes**")
        st.json(attributes, expanded=False)
        st.markdown("**Content**")
        if content:
            st.json(content, expanded=False)
        else:
            st.caption("Not captured (set OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true to opt in).")


def _first_attempt(call: pd.Series) -> str:
    """What the single attempt of a call did: answered, or failed (with its status and type)."""
    if call["status"] != "error":
        return "Answered on the first attempt."
    why = ", ".join(fmt.plain(_plain(v)) for v in (call["http_status"], call["error_type"]) if not fmt.is_missing(v))
    return f"Failed on the first attempt ({why}), not retried." if why else "Failed on the first attempt, not retried."


def _attributes(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return dict(raw)
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {"(unreadable)": str(raw)}
    return value if isinstance(value, dict) else {"value": value}


def _cost(value: Any) -> str:
    # A stored NULL cost means the model has no price (a failed call costs 0): never "$0", never "—".
    return fmt.UNPRICED if fmt.is_missing(value) else fmt.unit_money(dec(value))


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # a numpy scalar from the frame: JSON shows it as a number
    if isinstance(value, float) and value.is_integer():
        return int(value)  # an integer column read through a NULL-able float (http_status 400.0)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def body() -> None:
    """The page, refreshed in place."""
    f = view.page_filters()
    left, mid, right = st.columns([1, 1, 1])
    status = left.selectbox("Status", ["any", "ok", "error"], key="calls_status")
    stop = mid.selectbox("Stop reason", ["any", "end_turn", "max_tokens", "tool_use", "stop_sequence", "refusal",
                                         "pause_turn", "model_context_window_exceeded"], key="calls_stop")
    limit = right.selectbox("Rows", [100, 500, 2000], index=1, key="calls_limit")
    frame = view.load(queries.recent_calls, f, status=None if status == "any" else status,
                      stop_reason=None if stop == "any" else stop, limit=int(limit))
    if frame.empty:
        view.empty_state()
        return
    st.caption(f"{fmt.count(len(frame))} most recent calls matching")
    selection = table(frame)
    labels = [f"{t:%Y-%m-%d %H:%M:%S} · {fmt.plain(m)} · {_cost(c)} · {s}"
              for t, m, c, s in zip(frame["start_time"], frame["model"], frame["cost_usd"], frame["span_id"])]
    picked = st.selectbox("Call", range(len(labels)), format_func=labels.__getitem__, key="calls_pick")
    rows = list(getattr(getattr(selection, "selection", None), "rows", None) or [])
    row = frame.iloc[rows[0] if rows else int(picked or 0)]
    found = view.load(queries.call_detail, str(row["trace_id"]), str(row["span_id"]))
    if not found.empty:
        detail(found.iloc[0])


view.header("Calls explorer", "Every call, and everything recorded about one")
body()
