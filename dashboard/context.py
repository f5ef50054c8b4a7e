"""What the entry script resolves once and hands to every page.

Streamlit runs each page as its own script, so the entry script stores the frozen context and
the current filters in the session; pages read them back with ``current()`` / ``filters()``.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from claudescope.config import BudgetConfig
from claudescope.pricing import PriceTable
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters

_CONTEXT_KEY = "_claudescope_context"
_FILTERS_KEY = "_claudescope_filters"


@dataclass(frozen=True, slots=True)
class DashboardContext:
    """The collector(s) to query, the budgets and the price table (for what-if repricing)."""

    client: QueryClient
    budget: BudgetConfig
    prices: PriceTable
    refresh_s: float = 30.0


def publish(context: DashboardContext, filters: Filters) -> None:
    """Make this run's context and filters visible to the page about to run."""
    st.session_state[_CONTEXT_KEY] = context
    st.session_state[_FILTERS_KEY] = filters


def current() -> DashboardContext:
    """The context the entry script published for this run."""
    context = st.session_state.get(_CONTEXT_KEY)
    if context is None:
        st.error("Open the dashboard through its entry point: `claudescope dashboard --api URL`.")
        st.stop()
    return context


def filters() -> Filters:
    """The filters the sidebar resolved for this run."""
    value = st.session_state.get(_FILTERS_KEY)
    return value if value is not None else Filters()
