"""The dashboard's queries about money, usage, caching, single calls and alerts.

Pages call these (and ``queries_reliability``'s, re-exported here) and never hold SQL. Each
function takes the ``QueryClient`` and the page's ``Filters`` and returns a DataFrame whose
additive columns are merged across shards (see ``frames``). SQL text is built with
``sqltext`` (every literal quoted); which calls each number counts is ``metrics``'.

Additive aggregates (spend, calls, tokens by bucket / model / feature / user) read the collector's
rollups through ``rollup`` whenever the filters allow, with the same result as the raw query;
percentiles, per-call detail and service / prompt-version filters read ``calls``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from claudescope import semconv as sc
from claudescope.call_facts import TOTAL_INPUT_TOKENS_SQL
from claudescope.dashboard import rollup
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters, bucket_step
from claudescope.dashboard.frames import to_frame
from claudescope.dashboard.metrics import FAILED_MODEL_CALL, MODEL_CALL, UNPRICED
from claudescope.dashboard.queries_reliability import (  # noqa: F401 (re-exported: pages read queries.*)
    ALL_MODELS, HEADROOM_WINDOW, RATELIMIT, errors_by_type, latency_by_model, latency_over_time,
    latency_percentiles, output_vs_max_tokens, ratelimit_headroom, retry_cost, stop_reasons,
)
from claudescope.dashboard.sqltext import DIMENSIONS, MODEL, where  # noqa: F401 (re-exported)
from claudescope.dashboard.sqltext import attr as _attr
from claudescope.dashboard.sqltext import bucket as _bucket
from claudescope.dashboard.sqltext import decimal_key as _decimal_key
from claudescope.dashboard.sqltext import lit as _lit
from claudescope.dashboard.sqltext import ts as _ts

# Keys of the attributes JSON this module reads (names from claudescope.semconv).
PREFIX_HASH = sc.CS_PREFIX_HASH
PREFIX_TOKENS = sc.CS_PREFIX_TOKENS
_TOKEN_SUMS = f"""
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'error') AS errors,
    count(*) FILTER (WHERE {MODEL_CALL}) AS model_calls,
    count(*) FILTER (WHERE {FAILED_MODEL_CALL}) AS model_errors,
    count(*) FILTER (WHERE {UNPRICED}) AS unpriced_calls,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(cache_write_5m_tokens), 0) AS cache_write_5m_tokens,
    coalesce(sum(cache_write_1h_tokens), 0) AS cache_write_1h_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    sum(cost_input_usd) AS cost_input_usd,
    sum(cost_output_usd) AS cost_output_usd,
    sum(cost_cache_read_usd) AS cost_cache_read_usd,
    sum(cost_cache_write_usd) AS cost_cache_write_usd,
    sum(cost_other_usd) AS cost_other_usd"""
# Calls to models with no price, beside the spend: from a rollup (count_if(cost_usd IS NULL)) or raw.
_UNPRICED_EXTRA = {"unpriced_calls": (f"count(*) FILTER (WHERE {UNPRICED})", "sum(unpriced_calls)")}
_AS_BIGINT = "unpriced_calls::BIGINT AS unpriced_calls"  # a rollup's sum is HUGEINT; raw count(*) is BIGINT
_CACHE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens")
# Prompt-size bands start above 100K or 200K prompt tokens (claudescope.pricing): a call's band, as
# text (a label, never summed), so a group's tokens reprice at the rates its calls were billed at.
_PROMPT = TOTAL_INPUT_TOKENS_SQL
_PROMPT_BAND = f"CASE WHEN {_PROMPT} > 200000 THEN '200001' WHEN {_PROMPT} > 100000 THEN '100001' ELSE '' END"


# --- overview -----------------------------------------------------------------------------


def usage_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Calls, token kinds and cost parts per model and billing facts (tier, geo, speed, prompt-size
    band): one scan that feeds the headline totals, the cost split and the caching savings of
    every page, grouped finely enough to reprice each group exactly (``savings.caching_savings``)."""
    sql = f"""SELECT {MODEL} AS model, coalesce(service_tier, 'standard') AS service_tier,
        coalesce(inference_geo, '') AS inference_geo, coalesce(speed, '') AS speed, {_PROMPT_BAND} AS prompt_band,
        {_TOKEN_SUMS} FROM calls WHERE {where(f)} GROUP BY 1, 2, 3, 4, 5"""
    return to_frame(client.query(sql), keys=["model", "service_tier", "inference_geo", "speed", "prompt_band"])


def call_counts(client: QueryClient, f: Filters) -> pd.DataFrame:
    """How many calls and failed calls in the range (from a rollup when the filters allow)."""
    p = rollup.plan(f, [])
    if p:
        return to_frame(client.query(rollup.sql(p, f, dims=[], measures=["calls", "errors"])))
    sql = f"""SELECT count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors
        FROM calls WHERE {where(f)}"""
    return to_frame(client.query(sql))


def budget_spend(client: QueryClient, f: Filters, day_start: datetime, month_start: datetime,
                 end: datetime) -> pd.DataFrame:
    """Spend since the budget day's and the budget month's start (from calls_hour where it can)."""
    org = f.without_dimensions()
    today, month = (rollup.plan(org, [], start=s, end=end) for s in (day_start, min(day_start, month_start)))
    if today and month:
        parts = (rollup.sql(p, org, dims=[], measures=["cost_usd"]) for p in (today, month))
        return to_frame(client.query("SELECT ({}) AS today_usd, ({}) AS month_usd".format(*parts)))
    sql = f"""SELECT sum(cost_usd) FILTER (WHERE start_time >= {_ts(day_start)}) AS today_usd,
        sum(cost_usd) AS month_usd FROM calls WHERE {where(f, start=min(day_start, month_start), end=end)}"""
    return to_frame(client.query(sql))


def cost_by(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Which models / features / users / prompt versions cost the most, with token sums."""
    column = DIMENSIONS[dimension]
    sql = f"SELECT {column} AS {dimension}, {_TOKEN_SUMS} FROM calls WHERE {where(f)} GROUP BY 1"
    frame = to_frame(client.query(sql), keys=[dimension])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=_decimal_key)


def unit_costs(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Calls, output tokens, spend and unpriced calls per value of one dimension, costliest first
    (from a rollup when the dimension and filters allow; the Cost page's unit-cost table)."""
    p = rollup.plan(f, [dimension]) if dimension in rollup.KEYS else None
    if p:
        inner = rollup.sql(p, f, dims=[dimension], measures=["calls", "output_tokens", "cost_usd"],
                           extra=_UNPRICED_EXTRA)
        sql = f"SELECT * REPLACE ({_AS_BIGINT}) FROM ({inner})"
    else:
        sql = f"""SELECT {DIMENSIONS[dimension]} AS {dimension}, count(*) AS calls,
            coalesce(sum(output_tokens), 0) AS output_tokens, sum(cost_usd) AS cost_usd,
            {_UNPRICED_EXTRA["unpriced_calls"][0]} AS unpriced_calls
            FROM calls WHERE {where(f)} GROUP BY 1"""
    frame = to_frame(client.query(sql), keys=[dimension])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=_decimal_key)


def dimension_values(client: QueryClient, f: Filters, limit: int = 500) -> dict[str, list[str]]:
    """The values each filter can take over the last 30 days (for the sidebar pickers), one scan."""
    columns = {"service": "service_name", "model": MODEL, "feature": "feature", "user": "user_id",
               "prompt_version": "prompt_version", "source": "source"}
    projected = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    which = " ".join(f"WHEN grouping({name}) = 0 THEN {_lit(name)}" for name in columns)
    sql = f"""WITH c AS (SELECT {projected} FROM calls WHERE start_time >= {_ts(f.now)} - INTERVAL 30 DAY)
        SELECT CASE {which} END AS dim, coalesce({", ".join(columns)}) AS value, count(*) AS calls
        FROM c GROUP BY GROUPING SETS ({", ".join(f"({name})" for name in columns)})"""
    frame = to_frame(client.query(sql), keys=["dim", "value"])
    frame = frame[frame["value"].notna()]
    out: dict[str, list[str]] = {}
    for dim, group in frame.groupby("dim"):
        out[str(dim)] = group.sort_values("calls", ascending=False)["value"].astype(str).head(limit).tolist()
    return out


# --- cost ---------------------------------------------------------------------------------


def spend_over_time(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Spend per time bucket, stacked by one dimension, with the calls no price covers."""
    step = bucket_step(f.start, f.end)
    p = rollup.plan(f, [dimension], bucket=step) if dimension in rollup.KEYS else None
    if p:
        inner = rollup.sql(p, f, dims=[dimension], measures=["calls", "cost_usd"], bucket=step,
                           extra=_UNPRICED_EXTRA)
        sql = f"SELECT bucket, {dimension} AS series, calls, cost_usd, {_AS_BIGINT} FROM ({inner}) ORDER BY 1"
        return to_frame(client.query(sql), keys=["bucket", "series"])
    sql = f"""SELECT {_bucket(f)}, {DIMENSIONS[dimension]} AS series, count(*) AS calls, sum(cost_usd) AS cost_usd,
        {_UNPRICED_EXTRA["unpriced_calls"][0]} AS unpriced_calls
        FROM calls WHERE {where(f)} GROUP BY 1, 2 ORDER BY 1"""
    return to_frame(client.query(sql), keys=["bucket", "series"])


def unpriced_calls(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Successful calls whose model has no price (cost unknown, not zero)."""
    sql = f"""SELECT {MODEL} AS model, count(*) AS calls, sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens, max(start_time) AS last_seen
        FROM calls WHERE {where(f)} AND {UNPRICED} GROUP BY 1"""
    return to_frame(client.query(sql), keys=["model"])


# --- caching ------------------------------------------------------------------------------


def cache_over_time(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Input token kinds per bucket: the cache hit rate over time."""
    step = bucket_step(f.start, f.end)
    p = rollup.plan(f, [], bucket=step)
    if p:
        inner = rollup.sql(p, f, dims=[], measures=["calls", *_CACHE_TOKENS], bucket=step)
        sql = f"SELECT bucket, {', '.join(_CACHE_TOKENS)} FROM ({inner}) ORDER BY 1"
        return to_frame(client.query(sql), keys=["bucket"])
    sql = f"""SELECT {_bucket(f)}, coalesce(sum(input_tokens), 0) AS input_tokens,
        coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_5m_tokens), 0) + coalesce(sum(cache_write_1h_tokens), 0) AS cache_write_tokens
        FROM calls WHERE {where(f)} GROUP BY 1 ORDER BY 1"""
    return to_frame(client.query(sql), keys=["bucket"])


def prefix_reuse(client: QueryClient, f: Filters, limit: int = 200) -> pd.DataFrame:
    """Per prompt prefix: how often it was sent, how often cached, and the gaps between sends.

    ``writes_5m`` / ``writes_1h`` count the sends that a 5-minute / 1-hour cache would have had
    to (re)write, i.e. the first send and every send after a gap longer than the TTL.
    """
    # contains() is a cheap prefilter before the JSON parse; each key is extracted once per row.
    sql = f"""WITH raw AS (
            SELECT {_attr(PREFIX_HASH)} AS prefix_hash, {_attr(PREFIX_TOKENS)} AS prefix_tokens,
                {MODEL} AS model, coalesce(feature, '(none)') AS feature, start_time,
                coalesce(service_tier, 'standard') AS service_tier, coalesce(inference_geo, '') AS inference_geo,
                coalesce(speed, '') AS speed,
                cache_read_tokens, cache_write_5m_tokens + cache_write_1h_tokens AS write_tokens, cost_input_usd
            FROM calls WHERE {where(f)} AND status = 'ok' AND contains(attributes::VARCHAR, {_lit(PREFIX_HASH)})),
        g AS (SELECT *, epoch(start_time - lag(start_time) OVER (PARTITION BY prefix_hash ORDER BY start_time)) AS gap_s
            FROM raw WHERE prefix_hash IS NOT NULL)
        SELECT prefix_hash, any_value(model) AS model, any_value(feature) AS feature,
            mode(service_tier) AS service_tier, mode(inference_geo) AS inference_geo, mode(speed) AS speed,
            max(TRY_CAST(prefix_tokens AS BIGINT)) AS prefix_tokens, count(*) AS calls,
            count(*) FILTER (WHERE cache_read_tokens > 0) AS cache_hits,
            count(*) FILTER (WHERE write_tokens > 0) AS cache_writes,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 300) AS writes_5m,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 3600) AS writes_1h,
            sum(cost_input_usd) AS cost_input_usd
        FROM g GROUP BY 1 HAVING count(*) > 1
        ORDER BY max(TRY_CAST(prefix_tokens AS BIGINT)) * count(*) DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat")


# --- calls explorer -----------------------------------------------------------------------


def recent_calls(
    client: QueryClient, f: Filters, *, status: str | None = None, stop_reason: str | None = None, limit: int = 500
) -> pd.DataFrame:
    """The latest calls matching the filters, newest first (one page of the explorer)."""
    extra = ""
    if status:
        extra += f" AND status = {_lit(status)}"
    if stop_reason:
        extra += f" AND stop_reason = {_lit(stop_reason)}"
    sql = f"""SELECT start_time, {MODEL} AS model, feature, user_id, prompt_version, status, stop_reason,
        duration_ms, input_tokens, cache_read_tokens, cache_write_5m_tokens + cache_write_1h_tokens AS cache_write_tokens,
        output_tokens, cost_usd, trace_id, span_id
        FROM calls WHERE {where(f)}{extra} ORDER BY start_time DESC LIMIT {int(limit)}"""
    frame = to_frame(client.query(sql), merge="concat")
    return frame.sort_values("start_time", ascending=False).head(limit).drop(columns="shard", errors="ignore")


def call_detail(client: QueryClient, trace_id: str, span_id: str) -> pd.DataFrame:
    """Every column of one call."""
    sql = f"SELECT * FROM calls WHERE trace_id = {_lit(trace_id)} AND span_id = {_lit(span_id)} LIMIT 1"
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore").head(1)


# --- advisor ------------------------------------------------------------------------------


def usage_for_repricing(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Token sums per model, feature and billing facts: enough to reprice the history exactly."""
    sql = f"""SELECT {MODEL} AS model, coalesce(feature, '(none)') AS feature,
        coalesce(service_tier, 'standard') AS service_tier, coalesce(inference_geo, '') AS inference_geo,
        coalesce(speed, '') AS speed, count(*) AS calls,
        coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_5m_tokens), 0) AS cache_write_5m_tokens,
        coalesce(sum(cache_write_1h_tokens), 0) AS cache_write_1h_tokens,
        coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(web_search_requests), 0) AS web_search_requests,
        sum(cost_usd) AS cost_usd, sum(cost_other_usd) AS cost_other_usd
        FROM calls WHERE {where(f)} AND status = 'ok' AND operation <> 'count_tokens' GROUP BY 1, 2, 3, 4, 5"""
    return to_frame(client.query(sql), keys=["model", "feature", "service_tier", "inference_geo", "speed"])


def unpinned_aliases(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Calls per feature, requested alias and the snapshot that answered, where the two differ:
    the features that call a model alias, which can start answering as a new snapshot."""
    sql = f"""SELECT coalesce(feature, '(none)') AS feature, request_model AS alias, response_model AS snapshot,
        count(*) AS calls FROM calls WHERE {where(f)} AND request_model IS NOT NULL
        AND response_model IS NOT NULL AND request_model <> response_model GROUP BY 1, 2, 3"""
    return to_frame(client.query(sql), keys=["feature", "alias", "snapshot"])


# --- alerts -------------------------------------------------------------------------------


def alert_history(client: QueryClient, f: Filters, limit: int = 500) -> pd.DataFrame:
    """Alerts fired or resolved in the range, newest first; ``no_channel`` marks an event that no
    channel was configured to take (nothing to deliver it to)."""
    sql = f"""SELECT time, rule, severity, state, summary, delivered, channels,
        coalesce(routes, '[]') = '[]' AS no_channel, CAST(details AS VARCHAR) AS details
        FROM alert_events WHERE time >= {_ts(f.start)} AND time < {_ts(f.end)} ORDER BY time DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")


def firing_alerts(client: QueryClient) -> pd.DataFrame:
    """Rules whose latest event is ``firing``: what is wrong right now."""
    sql = """SELECT rule, severity, summary, time AS since FROM (
            SELECT *, row_number() OVER (PARTITION BY coalesce(alert_key, rule) ORDER BY time DESC) AS n FROM alert_events)
        WHERE n = 1 AND state = 'firing' ORDER BY time DESC"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")

