"""Building blocks every page shares: cached queries, headers, empty and error states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

from claudescope.dashboard.client import QueryClient, QueryError
from claudescope.dashboard.context import DashboardContext, current, filters
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard import metrics, queries
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import total

T = TypeVar("T")
DEMO_HINT = (
    "No calls recorded for this selection yet. To see the dashboard with a realistic day of "
    "traffic, run `claudescope demo --endpoint {api}` (it drives the real SDK against a bundled "
    "fake API), or widen the time range and filters."
)


def table(frame: pd.DataFrame, **kwargs: Any) -> Any:
    """``st.dataframe`` of ``frame`` with its text cells made visible (``formatting.cells``)."""
    return st.dataframe(fmt.cells(frame), **kwargs)


def floor_now(seconds: int = 10) -> datetime:
    """Now, rounded UP to a multiple of ``seconds`` so that runs a moment apart share cache
    entries while a call that just arrived still falls inside ``[start, now)``."""
    now = datetime.now(UTC)
    floored = now.replace(microsecond=0, second=now.second - now.second % seconds)
    return floored + timedelta(seconds=seconds)


def load(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one query function through the session's short-lived cache; stop the page on error."""
    context = current()
    key = f"{fn.__module__}.{fn.__qualname__}|{context.client.cache_key}|{args!r}|{sorted(kwargs.items())!r}"
    try:
        return _cached(key, fn, context.client, args, kwargs)
    except QueryError as exc:
        st.error(f"Cannot load data: {fmt.literal(exc, limit=fmt.SUMMARY_LIMIT)}")
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_data(ttl=10, show_spinner=False, max_entries=512)
def _cached(
    key: str, _fn: Callable[..., T], _client: QueryClient, _args: tuple[Any, ...], _kwargs: dict[str, Any]
) -> T:
    # Only ``key`` is hashed: it names the function, the shards and every argument.
    return _fn(_client, *_args, **_kwargs)


def totals(f: Filters) -> pd.DataFrame:
    """The range's totals (one row), summed from the per-model usage every page shares."""
    return total(load(queries.usage_by_model, f))


def page_filters() -> Filters:
    """The sidebar filters with "now" refreshed (so auto-refresh slides relative ranges)."""
    return replace(filters(), now=floor_now())


def header(title: str, caption: str, *, counts: bool = True) -> Filters:
    """Title, one-line purpose and the active view, and (``counts``) which calls the page's
    numbers count (``metrics.CAPTION``, the same on every page); returns the filters to use."""
    f = page_filters()
    st.title(title)
    st.caption(f"{caption} · **{fmt.escape(f.label)}** · {_active_filters(f)}")
    if counts:
        st.caption(metrics.CAPTION)
    return f


def _active_filters(f: Filters) -> str:
    parts = [
        f"{name}: {', '.join(fmt.literal(v) for v in values)}"  # values come from spans or from a shared link
        for name, values in (
            ("service", f.services), ("model", f.models), ("feature", f.features),
            ("user", f.users), ("prompt version", f.prompt_versions), ("source", f.sources),
        )
        if values
    ]
    return "; ".join(parts) if parts else "all calls"


def empty_state(context: DashboardContext | None = None) -> None:
    """Tell a new user how to get data in."""
    context = context or current()
    st.info(DEMO_HINT.format(api=context.client.urls[0]), icon=":material/info:")


def is_empty(frame: pd.DataFrame, column: str = "calls") -> bool:
    """True when a query answered no rows, or only zero counts."""
    if frame.empty:
        return True
    if column in frame.columns:
        return not bool(frame[column].fillna(0).astype("float64").sum())
    return False


def refreshing(body: Callable[[], None]) -> None:
    """Run ``body`` in a fragment that reruns itself every ``refresh_s`` (filters untouched)."""
    every = current().refresh_s
    if every and every > 0:
        st.fragment(run_every=every)(body)()
    else:
        body()


def alert_notice(severity: object, text: str) -> None:
    """One firing alert, drawn as its severity says: info blue, warning yellow, critical red
    (an unknown severity, from a newer engine, as a warning)."""
    box, icon = _SEVERITY_BOXES.get(str(severity), _SEVERITY_BOXES["warning"])
    box(text, icon=icon)


_SEVERITY_BOXES: dict[str, tuple[Callable[..., Any], str]] = {
    "info": (st.info, ":material/info:"),
    "warning": (st.warning, ":material/warning:"),
    "critical": (st.error, ":material/error:"),
}
