"""The SQL text every dashboard query is built from: quoting, the filters' WHERE clause, buckets.

The query API takes no bind parameters, so every literal goes through ``lit`` / ``ts``, which
quote it; user input never reaches SQL unquoted.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from claudescope.call_facts import attribute_sql
from claudescope.dashboard.filters import APPS, CLAUDE_CODE, Filters, bucket_step
from claudescope.rollup_contract import bucket_sql

MODEL = "coalesce(response_model, request_model, '(unknown)')"
DIMENSIONS = {
    "model": MODEL,
    "feature": "coalesce(feature, '(none)')",
    "user": "coalesce(user_id, '(none)')",
    "prompt_version": "coalesce(prompt_version, '(none)')",
    "service": "coalesce(service_name, '(none)')",
    "source": "coalesce(source, '(none)')",
}


def lit(value: str) -> str:
    """``value`` as a quoted SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def ts(moment: datetime) -> str:
    """``moment`` as a TIMESTAMPTZ literal."""
    return f"TIMESTAMPTZ {lit(moment.isoformat())}"


def attr(key: str) -> str:
    """One key of the ``attributes`` JSON, as text."""
    return attribute_sql(key)


def in_list(column: str, values: tuple[str, ...]) -> str:
    """``column IN (...)`` over quoted values."""
    return f"{column} IN ({', '.join(lit(v) for v in values)})"


def where(f: Filters, *, start: datetime | None = None, end: datetime | None = None) -> str:
    """The WHERE clause of ``f``: time range (overridable) and every attribution filter."""
    clauses = [f"start_time >= {ts(start or f.start)}", f"start_time < {ts(end or f.end)}"]
    for column, values in (
        ("service_name", f.services),
        (MODEL, f.models),
        ("feature", f.features),
        ("user_id", f.users),
        ("prompt_version", f.prompt_versions),
    ):
        if values:
            clauses.append(in_list(column, values))
    if f.sources:
        clauses.append(sources_clause(f.sources))
    return " AND ".join(clauses)


def sources_clause(sources: tuple[str, ...]) -> str:
    """The producers filter: named sources, and ``APPS`` for every source but Claude Code."""
    named = tuple(s for s in sources if s != APPS)
    parts = [in_list("source", named)] if named else []
    if APPS in sources:
        parts.append(f"coalesce(source, '') <> {lit(CLAUDE_CODE)}")
    return "(" + " OR ".join(parts) + ")"


def bucket(f: Filters, start: datetime | None = None) -> str:
    """The ``bucket`` column: each call's UTC time bucket for the range's bucket width."""
    return f"{bucket_sql('start_time', bucket_step(start or f.start, f.end))} AS bucket"


def decimal_key(series: pd.Series) -> pd.Series:
    """A sort key for object columns of Decimal/None: None below every amount."""
    return series.map(lambda v: float("-inf") if v is None or v != v else float(v))
