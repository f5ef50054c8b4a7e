"""The dashboard's queries about the bill: does claudescope match what Anthropic billed
(``reconciliation_latest``, written by ``claudescope reconcile``), and how much of each spend
limit read from the Admin API is used (``spend_limits`` beside the traced spend in ``calls``).

Organisation-wide like the budget: the sidebar filters do not narrow a bill or a cap.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from claudescope.call_facts import SPEND_PERIODS, spend_by_limit_sql, spend_period_starts
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.frames import to_frame
from claudescope.dashboard.sqltext import ts


def bill_status(client: QueryClient) -> pd.DataFrame:
    """One row: the days the latest reconciliation covers, how many day x model pairs differ,
    the tolerance those runs matched with, and the last run (finished or not) with its error."""
    sql = """WITH rows AS (
            SELECT count(DISTINCT r.day) AS days, min(r.day) AS first_day, max(r.day) AS last_day,
                count(DISTINCT r.model || '|' || CAST(r.day AS VARCHAR)) FILTER (WHERE NOT r.matches) AS differing,
                max(k.tolerance) AS tolerance
            FROM reconciliation_latest r JOIN reconcile_runs k USING (run_id)),
        runs AS (SELECT count(*) FILTER (WHERE error IS NULL) AS finished_runs, max(run_at) AS last_run,
                arg_max(error, run_at) AS last_error FROM reconcile_runs)
        SELECT * FROM rows, runs"""
    return to_frame(client.query(sql), merge="max")


def bill_mismatches(client: QueryClient, limit: int = 200) -> pd.DataFrame:
    """The latest reconciliation's rows that do not match the bill: newest day first, then the
    largest difference; bill and claudescope in USD, the cause and the run's explanation."""
    sql = f"""SELECT day, model, workspace_id AS workspace, bill_usd, calls_usd, diff_usd, drift, cause, explanation
        FROM reconciliation_latest WHERE NOT matches ORDER BY day DESC, abs(diff_usd) DESC, model LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")


def spend_headroom(client: QueryClient, now: datetime) -> pd.DataFrame:
    """Each enabled spend limit with a USD cap, and what traced calls spent in its current period
    (the organisation's calls, or those carrying the limit's ``anthropic.workspace.id``)."""
    starts = spend_period_starts(now)
    inner = spend_by_limit_sql({p: ts(starts[p]) for p in SPEND_PERIODS}, ts(min(starts.values())))
    sql = f"""SELECT limit_id, scope_type, coalesce(workspace_id, '') AS workspace_id, period, amount_usd,
            spent AS spent_usd FROM ({inner}) ORDER BY 2, 3, 4"""
    tables = client.query(sql)
    keys = ["limit_id", "scope_type", "workspace_id", "period"]
    if len(tables) == 1:
        return to_frame(tables)
    # Shards each hold the same limits and their own share of the calls: sum the spend, not the cap.
    caps = to_frame(tables, keys=keys, merge="max")[[*keys, "amount_usd"]]
    return caps.merge(to_frame(tables, keys=keys, merge="sum")[[*keys, "spent_usd"]], on=keys)
