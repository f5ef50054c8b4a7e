"""The sidebar: time range and attribution filters, kept in sync with the URL query string."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

import streamlit as st

from claudescope.dashboard import formatting as fmt
from claudescope.dashboard import queries
from claudescope.dashboard.client import QueryClient, QueryError
from claudescope.dashboard.context import DashboardContext
from claudescope.dashboard.filters import (
    APPS,
    DIMENSION_PARAMS,
    RANGE_LABELS,
    FilterError,
    Filters,
    from_params,
    to_params,
)
from claudescope.dashboard.view import floor_now

_LABELS = {
    "services": "Service",
    "models": "Model",
    "features": "Feature",
    "users": "User",
    "prompt_versions": "Prompt version",
    "sources": "Source (app or Claude Code)",
}
_OPTION_KEYS = {"services": "service", "models": "model", "features": "feature", "users": "user",
                "prompt_versions": "prompt_version", "sources": "source"}


def render(context: DashboardContext) -> Filters:
    """Draw the filter widgets and return the resulting filters (also written to the URL)."""
    now = floor_now()
    _seed_from_url(st.query_params.to_dict(), now=now)
    with st.sidebar:
        st.markdown("### Time range")
        range_key = st.selectbox("Range", list(RANGE_LABELS), format_func=RANGE_LABELS.__getitem__, key="f_range",
                                 label_visibility="collapsed")
        custom_from = custom_to = None
        if range_key == "custom":
            picked = st.date_input("Dates (UTC)", key="f_dates")
            custom_from, custom_to = _date_pair(picked, now.date())
        st.markdown("### Filters")
        options = _options(context)
        values = {attr: tuple(st.multiselect(label, _with_selected(options.get(_OPTION_KEYS[attr], []), attr),
                                             key=f"f_{attr}", placeholder="All", format_func=fmt.plain))
                  for attr, label in _LABELS.items()}
    filters = Filters(range_key=range_key, custom_from=custom_from, custom_to=custom_to, now=now, **values)
    _write_url(filters)
    return filters


def _seed_from_url(params: Mapping[str, str], *, now: datetime) -> None:
    # Only on a session's first run: afterwards the widgets own the state.
    if "f_range" in st.session_state:
        return
    try:
        seeded = from_params(params, now=now)
    except FilterError as exc:
        st.warning(f"Ignoring the link's filters: {fmt.literal(exc, limit=fmt.SUMMARY_LIMIT)}")
        seeded = Filters(now=now)
    st.session_state["f_range"] = seeded.range_key
    if seeded.custom_from and seeded.custom_to:
        st.session_state["f_dates"] = (seeded.custom_from, seeded.custom_to)
    else:
        st.session_state["f_dates"] = (now.date() - timedelta(days=7), now.date())
    for attr in DIMENSION_PARAMS:
        st.session_state[f"f_{attr}"] = list(getattr(seeded, attr))


def _options(context: DashboardContext) -> dict[str, list[str]]:
    try:
        return _cached_options(context.client.cache_key, floor_now(60), context.client)
    except QueryError as exc:
        st.sidebar.error(f"Cannot load filter values: {fmt.literal(exc, limit=fmt.SUMMARY_LIMIT)}")
        return {}


@st.cache_data(ttl=60, show_spinner=False)
def _cached_options(client_key: str, now: datetime, _client: QueryClient) -> dict[str, list[str]]:
    # Keyed by the shard URLs and the minute; the client itself is not hashed.
    values = queries.dimension_values(_client, Filters(now=now))
    values["source"] = [APPS, *values.get("source", [])]  # app calls vs Claude Code, then each producer
    return values


def _with_selected(options: list[str], attr: str) -> list[str]:
    # A value from a shared link stays selectable even when it is not among the recent values.
    selected = st.session_state.get(f"f_{attr}", [])
    return options + [v for v in selected if v not in options]


def _date_pair(picked: object, today: date) -> tuple[date, date]:
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        return picked[0], picked[1]
    if isinstance(picked, (tuple, list)) and len(picked) == 1:
        return picked[0], picked[0]
    if isinstance(picked, date):
        return picked, picked
    return today - timedelta(days=7), today


def _write_url(filters: Filters) -> None:
    wanted = to_params(filters)
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)
