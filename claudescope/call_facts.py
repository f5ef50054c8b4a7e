"""Facts about a call that several components compute: one definition each.

SQL expressions here are over the ``calls`` view (SPEC section 4), and the spend limits beside it;
no database code.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from claudescope.semconv import ANTHROPIC_WORKSPACE_ID

# The kinds of input token a call's prompt is made of, cached or not: their sum is the prompt's
# size, what prompt-size bands and cache hit rates divide by (pricing.Usage.total_input in Python).
INPUT_TOKEN_COLUMNS: tuple[str, ...] = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
# That sum over the calls view, one row at a time (a NULL count is 0).
TOTAL_INPUT_TOKENS_SQL = " + ".join(f"coalesce({c}, 0)" for c in INPUT_TOKEN_COLUMNS)

# The rate limits Anthropic reports in anthropic-ratelimit-<resource>-* headers, which the
# instrumentation records as claudescope.ratelimit.<resource>.{limit,remaining,reset}.
RATELIMIT_RESOURCES: tuple[str, ...] = ("requests", "tokens", "input_tokens", "output_tokens")



def attribute_sql(key: str) -> str:
    """SQL for one key of a call's ``attributes`` JSON, as text (NULL when absent)."""
    path = '$."' + key + '"'
    return "json_extract_string(attributes, '" + path.replace("'", "''") + "')"


# The Anthropic workspace a call was answered in (the anthropic-workspace-id header), as text.
WORKSPACE_ID_SQL = attribute_sql(ANTHROPIC_WORKSPACE_ID)

# The spend-limit periods whose traced spend claudescope can sum, and when the current one began.
SPEND_PERIODS: tuple[str, ...] = ("daily", "weekly", "monthly")


def spend_period_starts(now: datetime) -> dict[str, datetime]:
    """Start of each spend-limit period containing ``now``: UTC day, ISO week (Monday), month."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"daily": day, "weekly": day - timedelta(days=day.weekday()), "monthly": day.replace(day=1)}


def spend_by_limit_sql(starts: Mapping[str, str], since: str) -> str:
    """Each enabled spend limit with a USD cap (``spend_limits``) and what traced calls spent in
    its current period, in the organisation or in its workspace: columns limit_id, scope_type,
    workspace_id, period, amount_usd, fetched_at, spent.

    ``starts`` holds an SQL expression per ``SPEND_PERIODS`` entry (a bound parameter or a
    literal, appearing in that order) and ``since`` the earliest of them. Calls are read only
    while such a limit exists, and their attributes JSON only while a workspace limit does.
    """
    sums = ", ".join(f"coalesce(sum(cost_usd) FILTER (WHERE start_time >= {starts[p]}), 0) AS {p}" for p in SPEND_PERIODS)
    spent = " ".join(f"WHEN '{p}' THEN s.{p}" for p in SPEND_PERIODS)
    periods = ", ".join(f"'{p}'" for p in SPEND_PERIODS)
    return f"""WITH lim AS (
  SELECT limit_id, scope_type, workspace_id, period, amount_usd, fetched_at FROM spend_limits
  WHERE is_enabled AND amount_usd IS NOT NULL AND upper(currency) = 'USD' AND period IN ({periods})
    AND (scope_type = 'organization' OR (scope_type = 'workspace' AND workspace_id IS NOT NULL))),
spend AS (
  SELECT CASE WHEN EXISTS (SELECT 1 FROM lim WHERE scope_type = 'workspace') THEN {WORKSPACE_ID_SQL} END AS ws, {sums}
  FROM calls WHERE start_time >= {since} AND EXISTS (SELECT 1 FROM lim) GROUP BY 1)
SELECT l.limit_id, l.scope_type, l.workspace_id, l.period, l.amount_usd, l.fetched_at,
       coalesce(sum(CASE l.period {spent} END), 0) AS spent
FROM lim l LEFT JOIN spend s ON l.scope_type = 'organization' OR s.ws = l.workspace_id
GROUP BY ALL"""
