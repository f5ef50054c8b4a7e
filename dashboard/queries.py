"""Every SQL statement the dashboard runs, one function per question it answers.

Pages call these and never hold SQL. Each function takes the ``QueryClient`` and the page's
``Filters`` and returns a DataFrame whose additive columns are merged across shards (see
``frames``). The query API takes no bind parameters, so every literal goes through ``_lit`` /
``_ts``, which quote it; user input never reaches SQL unquoted.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters, bucket_for
from claudescope.dashboard.frames import to_frame

MODEL = "coalesce(response_model, request_model)"
# Keys of the attributes JSON this module reads (names from claudescope.semconv).
PREFIX_HASH = "claudescope.cache.prefix_hash"
PREFIX_TOKENS = "claudescope.cache.prefix_tokens"
RATELIMIT = "claudescope.ratelimit."
DIMENSIONS = {
    "model": MODEL,
    "feature": "coalesce(feature, '(none)')",
    "user": "coalesce(user_id, '(none)')",
    "prompt_version": "coalesce(prompt_version, '(none)')",
    "service": "coalesce(service_name, '(none)')",
}
_TOKEN_SUMS = """
    count(*) AS calls,
    count(*) FILTER (WHERE status = 'error') AS errors,
    count(*) FILTER (WHERE cost_usd IS NULL AND status = 'ok') AS unpriced_calls,
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


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ts(moment: datetime) -> str:
    return f"TIMESTAMPTZ {_lit(moment.isoformat())}"


def _attr(key: str) -> str:
    return f"json_extract_string(attributes, {_lit('$.' + chr(34) + key + chr(34))})"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(_lit(v) for v in values)})"


def where(f: Filters, *, start: datetime | None = None, end: datetime | None = None) -> str:
    """The WHERE clause of ``f``: time range (overridable) and every attribution filter."""
    clauses = [f"start_time >= {_ts(start or f.start)}", f"start_time < {_ts(end or f.end)}"]
    for column, values in (
        ("service_name", f.services),
        (MODEL, f.models),
        ("feature", f.features),
        ("user_id", f.users),
        ("prompt_version", f.prompt_versions),
    ):
        if values:
            clauses.append(_in(column, values))
    return " AND ".join(clauses)


def _bucket(f: Filters) -> str:
    return f"time_bucket(INTERVAL '{bucket_for(f.start, f.end)}', start_time) AS bucket"


# --- overview -----------------------------------------------------------------------------


def totals(client: QueryClient, f: Filters) -> pd.DataFrame:
    """How many calls and how much money in the range, split into cost parts and token kinds."""
    return to_frame(client.query(f"SELECT {_TOKEN_SUMS} FROM calls WHERE {where(f)}"))


def spend_between(client: QueryClient, f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Spend and calls between two instants whatever the selected range (budgets)."""
    sql = f"SELECT count(*) AS calls, sum(cost_usd) AS cost_usd FROM calls WHERE {where(f, start=start, end=end)}"
    return to_frame(client.query(sql))


def latency_percentiles(client: QueryClient, f: Filters) -> pd.DataFrame:
    """p50 / p95 / p99 wall time over the range (max across shards: an upper bound)."""
    sql = f"""SELECT quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
        quantile_cont(duration_ms, 0.99) AS p99_ms, quantile_cont(ttft_ms, 0.95) AS ttft_p95_ms
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens'"""
    return to_frame(client.query(sql), merge="max")


def cost_by(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Which models / features / users / prompt versions cost the most, with token sums."""
    column = DIMENSIONS[dimension]
    sql = f"SELECT {column} AS {dimension}, {_TOKEN_SUMS} FROM calls WHERE {where(f)} GROUP BY 1"
    frame = to_frame(client.query(sql), keys=[dimension])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=_decimal_key)


def dimension_values(client: QueryClient, f: Filters, limit: int = 500) -> dict[str, list[str]]:
    """The values each filter can take over the last 30 days (for the sidebar pickers)."""
    parts = [
        f"SELECT {_lit(name)} AS dim, {column} AS value, count(*) AS calls FROM calls "
        f"WHERE start_time >= {_ts(f.now)} - INTERVAL 30 DAY AND {column} IS NOT NULL GROUP BY 2"
        for name, column in (
            ("service", "service_name"), ("model", MODEL), ("feature", "feature"),
            ("user", "user_id"), ("prompt_version", "prompt_version"),
        )
    ]
    frame = to_frame(client.query(" UNION ALL ".join(parts)), keys=["dim", "value"])
    out: dict[str, list[str]] = {}
    for dim, group in frame.groupby("dim"):
        out[str(dim)] = group.sort_values("calls", ascending=False)["value"].astype(str).head(limit).tolist()
    return out


# --- cost ---------------------------------------------------------------------------------


def spend_over_time(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Spend per time bucket, stacked by one dimension."""
    sql = f"""SELECT {_bucket(f)}, {DIMENSIONS[dimension]} AS series, count(*) AS calls, sum(cost_usd) AS cost_usd
        FROM calls WHERE {where(f)} GROUP BY 1, 2 ORDER BY 1"""
    return to_frame(client.query(sql), keys=["bucket", "series"])


def unpriced_calls(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Successful calls whose model has no price (cost unknown, not zero)."""
    sql = f"""SELECT {MODEL} AS model, count(*) AS calls, sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens, max(start_time) AS last_seen
        FROM calls WHERE {where(f)} AND cost_usd IS NULL AND status = 'ok' GROUP BY 1"""
    return to_frame(client.query(sql), keys=["model"])


# --- caching ------------------------------------------------------------------------------


def cache_over_time(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Input token kinds per bucket: the cache hit rate over time."""
    sql = f"""SELECT {_bucket(f)}, coalesce(sum(input_tokens), 0) AS input_tokens,
        coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_5m_tokens), 0) + coalesce(sum(cache_write_1h_tokens), 0) AS cache_write_tokens
        FROM calls WHERE {where(f)} GROUP BY 1 ORDER BY 1"""
    return to_frame(client.query(sql), keys=["bucket"])


def cache_usage_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Token and cost sums per model and billing tier: the input to caching-savings pricing."""
    sql = f"""SELECT {MODEL} AS model, coalesce(service_tier, 'standard') AS service_tier,
        {_TOKEN_SUMS} FROM calls WHERE {where(f)} AND status = 'ok' GROUP BY 1, 2"""
    return to_frame(client.query(sql), keys=["model", "service_tier"])


def prefix_reuse(client: QueryClient, f: Filters, limit: int = 200) -> pd.DataFrame:
    """Per prompt prefix: how often it was sent, how often cached, and the gaps between sends.

    ``writes_5m`` / ``writes_1h`` count the sends that a 5-minute / 1-hour cache would have had
    to (re)write, i.e. the first send and every send after a gap longer than the TTL.
    """
    sql = f"""WITH p AS (
            SELECT {_attr(PREFIX_HASH)} AS prefix_hash, TRY_CAST({_attr(PREFIX_TOKENS)} AS BIGINT) AS prefix_tokens,
                {MODEL} AS model, coalesce(feature, '(none)') AS feature, start_time,
                cache_read_tokens, cache_write_5m_tokens + cache_write_1h_tokens AS write_tokens, cost_input_usd
            FROM calls WHERE {where(f)} AND status = 'ok' AND {_attr(PREFIX_HASH)} IS NOT NULL),
        g AS (SELECT *, epoch(start_time - lag(start_time) OVER (PARTITION BY prefix_hash ORDER BY start_time)) AS gap_s FROM p)
        SELECT prefix_hash, any_value(model) AS model, any_value(feature) AS feature,
            max(prefix_tokens) AS prefix_tokens, count(*) AS calls,
            count(*) FILTER (WHERE cache_read_tokens > 0) AS cache_hits,
            count(*) FILTER (WHERE write_tokens > 0) AS cache_writes,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 300) AS writes_5m,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 3600) AS writes_1h,
            sum(cost_input_usd) AS cost_input_usd
        FROM g GROUP BY 1 HAVING count(*) > 1 ORDER BY max(prefix_tokens) * count(*) DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat")


# --- latency & reliability ----------------------------------------------------------------


def latency_over_time(client: QueryClient, f: Filters) -> pd.DataFrame:
    """p50/p95/p99 and TTFT p50/p95 per bucket and model."""
    sql = f"""SELECT {_bucket(f)}, {MODEL} AS model, count(*) AS calls,
        quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
        quantile_cont(duration_ms, 0.99) AS p99_ms, quantile_cont(ttft_ms, 0.5) AS ttft_p50_ms,
        quantile_cont(ttft_ms, 0.95) AS ttft_p95_ms
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY 1, 2 ORDER BY 1"""
    return to_frame(client.query(sql), keys=["bucket", "model"], merge="max")


def latency_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Latency percentiles, error and retry counts per model over the whole range."""
    sql = f"""SELECT {MODEL} AS model, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,
        coalesce(sum(retries), 0) AS retries,
        quantile_cont(duration_ms, 0.5) AS p50_ms, quantile_cont(duration_ms, 0.95) AS p95_ms,
        quantile_cont(duration_ms, 0.99) AS p99_ms, quantile_cont(ttft_ms, 0.95) AS ttft_p95_ms
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY 1 ORDER BY calls DESC"""
    return to_frame(client.query(sql), merge="concat")


def errors_by_type(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Failed calls by error type and final HTTP status."""
    sql = f"""SELECT coalesce(error_type, 'unknown') AS error_type, coalesce(http_status, 0) AS http_status,
        count(*) AS calls FROM calls WHERE {where(f)} AND status = 'error' GROUP BY 1, 2"""
    frame = to_frame(client.query(sql), keys=["error_type", "http_status"])
    return frame.sort_values("calls", ascending=False)


def retry_cost(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Calls that needed retries, and the wall time they took beyond a typical first try.

    Time lost to retries and backoff is estimated per model as each retried call's duration
    minus the median duration of that model's calls that succeeded first time.
    """
    sql = f"""WITH c AS (SELECT {MODEL} AS model, status, coalesce(retries, 0) AS retries, duration_ms
            FROM calls WHERE {where(f)} AND operation <> 'count_tokens'),
        base AS (SELECT model, quantile_cont(duration_ms, 0.5) AS median_ms FROM c
            WHERE retries = 0 AND status = 'ok' GROUP BY 1)
        SELECT c.model, count(*) AS retried_calls, sum(c.retries) AS retries,
            count(*) FILTER (WHERE c.status = 'error') AS failed_after_retries,
            sum(greatest(c.duration_ms - coalesce(base.median_ms, 0), 0)) AS time_lost_ms
        FROM c LEFT JOIN base USING (model) WHERE c.retries > 0 GROUP BY 1"""
    return to_frame(client.query(sql), keys=["model"])


def ratelimit_headroom(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Lowest remaining share of each rate limit per bucket (from anthropic-ratelimit-* headers)."""
    kinds = ("requests", "tokens", "input_tokens", "output_tokens")
    cols = ", ".join(
        f"min(TRY_CAST({_attr(RATELIMIT + k + '.remaining')} AS DOUBLE) / "
        f"nullif(TRY_CAST({_attr(RATELIMIT + k + '.limit')} AS DOUBLE), 0)) AS \"{k}\""
        for k in kinds
    )
    sql = f"SELECT {_bucket(f)}, {cols} FROM calls WHERE {where(f)} GROUP BY 1 ORDER BY 1"
    return to_frame(client.query(sql), keys=["bucket"], merge="max")


# --- stop reasons -------------------------------------------------------------------------


def stop_reasons_by(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """How calls ended (stop_reason) per feature / prompt version / model."""
    sql = f"""SELECT {DIMENSIONS[dimension]} AS {dimension}, coalesce(stop_reason, '(none)') AS stop_reason,
        count(*) AS calls FROM calls WHERE {where(f)} AND status = 'ok' AND operation <> 'count_tokens'
        GROUP BY 1, 2"""
    return to_frame(client.query(sql), keys=[dimension, "stop_reason"])


def output_vs_max_tokens(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Per feature: output tokens against the requested max_tokens (headroom or truncation)."""
    sql = f"""SELECT coalesce(feature, '(none)') AS feature, count(*) AS calls,
        count(*) FILTER (WHERE stop_reason = 'max_tokens') AS max_tokens_stops,
        sum(output_tokens) AS output_tokens, sum(max_tokens) AS max_tokens,
        max(max_tokens) AS largest_max_tokens
        FROM calls WHERE {where(f)} AND status = 'ok' AND max_tokens > 0 GROUP BY 1"""
    return to_frame(client.query(sql), keys=["feature"])


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
        coalesce(speed, '') AS speed, coalesce(sum(web_search_requests), 0) AS web_search_requests,
        {_TOKEN_SUMS} FROM calls WHERE {where(f)} AND status = 'ok' AND operation <> 'count_tokens'
        GROUP BY 1, 2, 3, 4, 5"""
    return to_frame(client.query(sql), keys=["model", "feature", "service_tier", "inference_geo", "speed"])


# --- alerts -------------------------------------------------------------------------------


def alert_history(client: QueryClient, f: Filters, limit: int = 500) -> pd.DataFrame:
    """Alerts fired or resolved in the range, newest first."""
    sql = f"""SELECT time, rule, severity, state, summary, delivered, channels, CAST(details AS VARCHAR) AS details
        FROM alert_events WHERE time >= {_ts(f.start)} AND time < {_ts(f.end)} ORDER BY time DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")


def firing_alerts(client: QueryClient) -> pd.DataFrame:
    """Rules whose latest event is ``firing``: what is wrong right now."""
    sql = """SELECT rule, severity, summary, time AS since FROM (
            SELECT *, row_number() OVER (PARTITION BY rule ORDER BY time DESC) AS n FROM alert_events)
        WHERE n = 1 AND state = 'firing' ORDER BY time DESC"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")


def _decimal_key(series: pd.Series) -> pd.Series:
    # Sorting object columns of Decimal/None: map None below every amount.
    return series.map(lambda v: float("-inf") if v is None else float(v))
