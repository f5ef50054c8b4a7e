"""The Coding agents page's queries: Claude Code's calls by developer, session, model and agent.

Claude Code's calls are rows of ``calls`` with ``source = 'claude-code'`` (docs/claude-code.md):
the developer is ``user_id``, the session ``attributes."session.id"``, the agent / skill / query
source come from the attributes Claude Code sends, and Claude Code's own price of each call is
``attributes.cost_usd``. Its metrics are kept apart (``claude_code_metric_sums``) as a cross-check.
"""

from __future__ import annotations

import pandas as pd

from claudescope import semconv as sc
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import to_frame
from claudescope.dashboard.metrics import CLAUDE_CODE_CALL, ROUNDING_USD, UNPRICED
from claudescope.dashboard.sqltext import MODEL, attr, decimal_key, where

SESSION = attr(sc.SESSION_ID)
OWN_COST = f"TRY_CAST({attr('cost_usd')} AS DECIMAL(18,9))"
# What ran the request: a subagent or a skill when Claude Code names one, else its query source.
AGENT = f"coalesce({attr('agent.name')}, {attr('skill.name')}, {attr('query_source')}, feature, '(none)')"
BY = {
    "developer": "coalesce(user_id, '(none)')",
    "session": f"coalesce({SESSION}, '(none)')",
    "model": MODEL,
    "agent": AGENT,
}
_SUMS = f"""
    count(*) AS calls,
    count(*) FILTER (WHERE {UNPRICED}) AS unpriced_calls,
    count(DISTINCT {SESSION}) AS sessions,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(cache_write_5m_tokens) + sum(cache_write_1h_tokens), 0) AS cache_write_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    sum({OWN_COST}) AS claude_code_cost_usd"""


def spend_split(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Claude Code spend beside the applications' spend in the range (one row per side)."""
    sql = f"""SELECT CASE WHEN {CLAUDE_CODE_CALL} THEN 'Claude Code' ELSE 'Applications' END AS side,
        count(*) AS calls, count(*) FILTER (WHERE {UNPRICED}) AS unpriced_calls, sum(cost_usd) AS cost_usd
        FROM calls WHERE {where(f)} GROUP BY 1"""
    return to_frame(client.query(sql), keys=["side"])


def coding_by(client: QueryClient, f: Filters, by: str) -> pd.DataFrame:
    """Claude Code's calls grouped ``by`` developer, session, model or agent, costliest first."""
    sql = f"""SELECT {BY[by]} AS {by}, {_SUMS}
        FROM calls WHERE {where(f)} AND {CLAUDE_CODE_CALL} GROUP BY 1"""
    frame = to_frame(client.query(sql), keys=[by])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=decimal_key)


def coding_totals(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Claude Code's totals over the range (one row): spend, sessions, developers, tokens."""
    sql = f"""SELECT {_SUMS}, count(DISTINCT user_id) AS developers
        FROM calls WHERE {where(f)} AND {CLAUDE_CODE_CALL}"""
    return to_frame(client.query(sql))


def metric_mismatches(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Sessions and models of the range whose Claude Code metrics disagree with their call events.

    Claude Code's cost and token metrics (``claude_code_metric_sums``, never calls) are compared
    with the sums of its events' rows over each whole session; beyond rounding, events or
    metrics were lost on the way (or a session spans a retention cut).
    """
    sql = f"""WITH ranged AS (SELECT DISTINCT {SESSION} AS session_id FROM calls WHERE {where(f)} AND {CLAUDE_CODE_CALL}),
        events AS (SELECT {SESSION} AS session_id, request_model AS model,
                coalesce(sum({OWN_COST}), 0) AS event_cost_usd, coalesce(sum(input_tokens), 0) AS event_input,
                coalesce(sum(output_tokens), 0) AS event_output, coalesce(sum(cache_read_tokens), 0) AS event_cache_read,
                coalesce(sum(cache_write_5m_tokens) + sum(cache_write_1h_tokens), 0) AS event_cache_write
            FROM calls WHERE {CLAUDE_CODE_CALL} AND {SESSION} IN (SELECT session_id FROM ranged) GROUP BY 1, 2)
        SELECT m.session_id, m.model, m.cost_usd AS metric_cost_usd, coalesce(e.event_cost_usd, 0) AS event_cost_usd,
            m.input_tokens + m.output_tokens + m.cache_read_tokens + m.cache_write_tokens AS metric_tokens,
            coalesce(e.event_input + e.event_output + e.event_cache_read + e.event_cache_write, 0) AS event_tokens
        FROM claude_code_metric_sums AS m LEFT JOIN events AS e USING (session_id, model)
        WHERE m.session_id IN (SELECT session_id FROM ranged)
          AND (abs(m.cost_usd - coalesce(e.event_cost_usd, 0)) > {ROUNDING_USD}
               OR m.input_tokens <> coalesce(e.event_input, 0) OR m.output_tokens <> coalesce(e.event_output, 0)
               OR m.cache_read_tokens <> coalesce(e.event_cache_read, 0)
               OR m.cache_write_tokens <> coalesce(e.event_cache_write, 0))"""
    return to_frame(client.query(sql), merge="concat")


def own_cost_differences(client: QueryClient, f: Filters, limit: int = 200) -> pd.DataFrame:
    """Claude Code calls whose own price differs from claudescope's beyond rounding."""
    sql = f"""SELECT start_time, coalesce(user_id, '(none)') AS developer, {MODEL} AS model, request_id,
        cost_usd, {OWN_COST} AS claude_code_cost_usd
        FROM calls WHERE {where(f)} AND {CLAUDE_CODE_CALL} AND {OWN_COST} IS NOT NULL
          AND (cost_usd IS NULL OR abs(cost_usd - {OWN_COST}) > {ROUNDING_USD})
        ORDER BY start_time DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat")
