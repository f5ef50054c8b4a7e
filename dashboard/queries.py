"""Every SQL statement the dashboard runs, one function per question it answers.

Pages call these and never hold SQL. Each function takes the ``QueryClient`` and the page's
``Filters`` and returns a DataFrame whose additive columns are merged across shards (see
``frames``). The query API takes no bind parameters, so every literal goes through ``_lit`` /
``_ts``, which quote it; user input never reaches SQL unquoted.

Additive aggregates (spend, calls, tokens by bucket / model / feature / user) read the collector's
rollups through ``rollup`` whenever the filters allow, with the same result as the raw query;
percentiles, per-call detail and service / prompt-version filters read ``calls``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from claudescope.dashboard import rollup
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters, bucket_step
from claudescope.dashboard.frames import to_frame, total

MODEL = "coalesce(response_model, request_model, '(unknown)')"
# Keys of the attributes JSON this module reads (names from claudescope.semconv).
PREFIX_HASH = "claudescope.cache.prefix_hash"
PREFIX_TOKENS = "claudescope.cache.prefix_tokens"
RATELIMIT = "claudescope.ratelimit."
HEADROOM_WINDOW = timedelta(hours=24)
ALL_MODELS = "(all models)"
DIMENSIONS = {
    "model": MODEL,
    "feature": "coalesce(feature, '(none)')",
    "user": "coalesce(user_id, '(none)')",
    "prompt_version": "coalesce(prompt_version, '(none)')",
    "service": "coalesce(service_name, '(none)')",
}
# One sort per list: quantile_cont(x, [..]) is 4x faster than one quantile_cont per level.
_PERCENTILE_LISTS = ("quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q, "
                     "quantile_cont(ttft_ms, [0.5, 0.95]) AS t")
_PERCENTILE_COLUMNS = ("q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms, "
                       "t[1] AS ttft_p50_ms, t[2] AS ttft_p95_ms")
_METRICS = {"p50_ms": ("duration_ms", 0.5), "p95_ms": ("duration_ms", 0.95), "p99_ms": ("duration_ms", 0.99),
            "ttft_p50_ms": ("ttft_ms", 0.5), "ttft_p95_ms": ("ttft_ms", 0.95)}
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


_CACHE_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens")


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


def _bucket(f: Filters, start: datetime | None = None) -> str:
    # Integer epoch arithmetic, not time_bucket(): on TIMESTAMPTZ that goes through calendar code
    # per row (9 s for 1-day buckets over 10M rows, against 0.5 s). UTC buckets are multiples of
    # the width. epoch_ms is BIGINT so // floors; epoch() is DOUBLE, where // does not.
    seconds = int(bucket_step(start or f.start, f.end).total_seconds())
    return f"to_timestamp((epoch_ms(start_time) // {seconds * 1000}) * {seconds}) AS bucket"


# --- overview -----------------------------------------------------------------------------


def usage_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Calls, token kinds and cost parts per model and billing tier: one scan that feeds the
    headline totals, the cost split and the caching savings of every page."""
    sql = f"""SELECT {MODEL} AS model, coalesce(service_tier, 'standard') AS service_tier,
        {_TOKEN_SUMS} FROM calls WHERE {where(f)} GROUP BY 1, 2"""
    return to_frame(client.query(sql), keys=["model", "service_tier"])


def totals(client: QueryClient, f: Filters) -> pd.DataFrame:
    """How many calls and how much money in the range, split into cost parts and token kinds."""
    return total(usage_by_model(client, f))


def call_counts(client: QueryClient, f: Filters) -> pd.DataFrame:
    """How many calls and failed calls in the range (from a rollup when the filters allow)."""
    p = rollup.plan(f, [])
    if p:
        return to_frame(client.query(rollup.sql(p, f, where, _lit, _ts, dims=[], measures=["calls", "errors"])))
    sql = f"""SELECT count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors
        FROM calls WHERE {where(f)}"""
    return to_frame(client.query(sql))


def budget_spend(client: QueryClient, f: Filters, day_start: datetime, month_start: datetime,
                 end: datetime) -> pd.DataFrame:
    """Spend since the budget day's and the budget month's start (from calls_hour where it can)."""
    org = f.without_dimensions()
    today, month = (rollup.plan(org, [], start=s, end=end) for s in (day_start, min(day_start, month_start)))
    if today and month:
        parts = (rollup.sql(p, org, where, _lit, _ts, dims=[], measures=["cost_usd"]) for p in (today, month))
        return to_frame(client.query("SELECT ({}) AS today_usd, ({}) AS month_usd".format(*parts)))
    sql = f"""SELECT sum(cost_usd) FILTER (WHERE start_time >= {_ts(day_start)}) AS today_usd,
        sum(cost_usd) AS month_usd FROM calls WHERE {where(f, start=min(day_start, month_start), end=end)}"""
    return to_frame(client.query(sql))


def latency_percentiles(client: QueryClient, f: Filters, metric: str | None = None) -> pd.DataFrame:
    """p50 / p95 / p99 wall time over the range (max across shards: an upper bound); only
    ``metric`` (e.g. ``p95_ms``) if given, one exact quantile being much cheaper than five."""
    if metric is not None:
        column, level = _METRICS[metric]
        sql = f"""SELECT quantile_cont({column}, {level}) AS {metric}
            FROM calls WHERE {where(f)} AND operation <> 'count_tokens'"""
        return to_frame(client.query(sql), merge="max")
    sql = f"""SELECT {_PERCENTILE_COLUMNS} FROM (SELECT {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens')"""
    return to_frame(client.query(sql), merge="max")


def cost_by(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Which models / features / users / prompt versions cost the most, with token sums."""
    column = DIMENSIONS[dimension]
    sql = f"SELECT {column} AS {dimension}, {_TOKEN_SUMS} FROM calls WHERE {where(f)} GROUP BY 1"
    frame = to_frame(client.query(sql), keys=[dimension])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=_decimal_key)


def unit_costs(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """Calls, output tokens and spend per value of one dimension, costliest first (from a rollup
    when the dimension and filters allow; the Cost page's unit-cost table)."""
    p = rollup.plan(f, [dimension]) if dimension in rollup.KEYS else None
    if p:
        sql = rollup.sql(p, f, where, _lit, _ts, dims=[dimension], measures=["calls", "output_tokens", "cost_usd"])
    else:
        sql = f"""SELECT {DIMENSIONS[dimension]} AS {dimension}, count(*) AS calls,
            coalesce(sum(output_tokens), 0) AS output_tokens, sum(cost_usd) AS cost_usd
            FROM calls WHERE {where(f)} GROUP BY 1"""
    frame = to_frame(client.query(sql), keys=[dimension])
    return frame.sort_values("cost_usd", ascending=False, na_position="last", key=_decimal_key)


def dimension_values(client: QueryClient, f: Filters, limit: int = 500) -> dict[str, list[str]]:
    """The values each filter can take over the last 30 days (for the sidebar pickers), one scan."""
    columns = {"service": "service_name", "model": MODEL, "feature": "feature", "user": "user_id",
               "prompt_version": "prompt_version"}
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
    """Spend per time bucket, stacked by one dimension."""
    step = bucket_step(f.start, f.end)
    p = rollup.plan(f, [dimension], bucket=step) if dimension in rollup.KEYS else None
    if p:
        inner = rollup.sql(p, f, where, _lit, _ts, dims=[dimension], measures=["calls", "cost_usd"], bucket=step)
        sql = f"SELECT bucket, {dimension} AS series, calls, cost_usd FROM ({inner}) ORDER BY 1"
        return to_frame(client.query(sql), keys=["bucket", "series"])
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
    step = bucket_step(f.start, f.end)
    p = rollup.plan(f, [], bucket=step)
    if p:
        inner = rollup.sql(p, f, where, _lit, _ts, dims=[], measures=["calls", *_CACHE_TOKENS], bucket=step)
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
                cache_read_tokens, cache_write_5m_tokens + cache_write_1h_tokens AS write_tokens, cost_input_usd
            FROM calls WHERE {where(f)} AND status = 'ok' AND contains(attributes::VARCHAR, {_lit(PREFIX_HASH)})),
        g AS (SELECT *, epoch(start_time - lag(start_time) OVER (PARTITION BY prefix_hash ORDER BY start_time)) AS gap_s
            FROM raw WHERE prefix_hash IS NOT NULL)
        SELECT prefix_hash, any_value(model) AS model, any_value(feature) AS feature,
            max(TRY_CAST(prefix_tokens AS BIGINT)) AS prefix_tokens, count(*) AS calls,
            count(*) FILTER (WHERE cache_read_tokens > 0) AS cache_hits,
            count(*) FILTER (WHERE write_tokens > 0) AS cache_writes,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 300) AS writes_5m,
            count(*) FILTER (WHERE gap_s IS NULL OR gap_s > 3600) AS writes_1h,
            sum(cost_input_usd) AS cost_input_usd
        FROM g GROUP BY 1 HAVING count(*) > 1
        ORDER BY max(TRY_CAST(prefix_tokens AS BIGINT)) * count(*) DESC LIMIT {int(limit)}"""
    return to_frame(client.query(sql), merge="concat")


# --- latency & reliability ----------------------------------------------------------------


def latency_over_time(client: QueryClient, f: Filters, metric: str | None = None) -> pd.DataFrame:
    """p50/p95/p99 and TTFT p50/p95 per bucket and model; only ``metric`` (e.g. ``p95_ms``) if given.

    The chart shows one percentile at a time: one exact quantile of one column is about a third
    cheaper than all five over millions of calls.
    """
    if metric is not None:
        column, level = _METRICS[metric]
        sql = f"""SELECT {_bucket(f)}, {MODEL} AS model, count(*) AS calls, quantile_cont({column}, {level}) AS {metric}
            FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY 1, 2 ORDER BY bucket"""
        return to_frame(client.query(sql), keys=["bucket", "model"], merge="max")
    sql = f"""SELECT bucket, model, calls, {_PERCENTILE_COLUMNS} FROM (
        SELECT {_bucket(f)}, {MODEL} AS model, count(*) AS calls, {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY 1, 2) ORDER BY bucket"""
    return to_frame(client.query(sql), keys=["bucket", "model"], merge="max")


def latency_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Latency percentiles, error and retry counts per model, plus an ``(all models)`` row: the
    page's headline percentiles come from the same scan."""
    sql = f"""SELECT coalesce(model, {_lit(ALL_MODELS)}) AS model, calls, errors, retries, {_PERCENTILE_COLUMNS} FROM (
        SELECT {MODEL} AS model, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,
        coalesce(sum(retries), 0) AS retries, {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY GROUPING SETS ((1), ()))
        ORDER BY calls DESC"""
    return to_frame(client.query(sql), merge="concat")


def errors_by_type(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Failed calls by error type and final HTTP status."""
    sql = f"""SELECT coalesce(error_type, 'unknown') AS error_type, coalesce(http_status, 0) AS http_status,
        count(*) AS calls FROM calls WHERE {where(f)} AND status = 'error' GROUP BY 1, 2"""
    frame = to_frame(client.query(sql), keys=["error_type", "http_status"])
    return frame.sort_values("calls", ascending=False)


def retry_cost(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Calls that needed retries, and the wall time they took beyond a typical first try.

    Time lost to retries and backoff is estimated per model as the retried calls' total duration
    minus as many times the median duration of that model's first-try successes (a sampled
    median: one pass over the range instead of a sort).
    """
    sql = f"""SELECT model, retried_calls, retries, failed_after_retries,
            greatest(retried_ms - retried_calls * coalesce(median_ms, 0), 0) AS time_lost_ms FROM (
        SELECT {MODEL} AS model, count(*) FILTER (WHERE retries > 0) AS retried_calls,
            coalesce(sum(retries) FILTER (WHERE retries > 0), 0) AS retries,
            count(*) FILTER (WHERE retries > 0 AND status = 'error') AS failed_after_retries,
            coalesce(sum(duration_ms) FILTER (WHERE retries > 0), 0) AS retried_ms,
            reservoir_quantile(duration_ms, 0.5, 8192) FILTER (WHERE coalesce(retries, 0) = 0 AND status = 'ok')
                AS median_ms
        FROM calls WHERE {where(f)} AND operation <> 'count_tokens' GROUP BY 1) WHERE retried_calls > 0"""
    return to_frame(client.query(sql), keys=["model"])


def ratelimit_headroom(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Lowest remaining share of each rate limit per bucket over the range's last 24 hours at most.

    Headroom is a now-question, and reading it means parsing every call's attributes JSON, so
    it is bounded to the most recent day whatever the range.
    """
    kinds = ("requests", "tokens", "input_tokens", "output_tokens")
    cols = ", ".join(
        f"min(TRY_CAST({_attr(RATELIMIT + k + '.remaining')} AS DOUBLE) / "
        f"nullif(TRY_CAST({_attr(RATELIMIT + k + '.limit')} AS DOUBLE), 0)) AS \"{k}\""
        for k in kinds
    )
    start = max(f.start, f.end - HEADROOM_WINDOW)
    sql = f"SELECT {_bucket(f, start)}, {cols} FROM calls WHERE {where(f, start=start)} GROUP BY 1 ORDER BY 1"
    return to_frame(client.query(sql), keys=["bucket"], merge="min")


# --- stop reasons -------------------------------------------------------------------------


def stop_reasons(client: QueryClient, f: Filters,
                 dimensions: tuple[str, ...] = ("model", "feature", "prompt_version")) -> pd.DataFrame:
    """How calls ended (stop_reason) per model, per feature and per prompt version, in one scan
    (or only per ``dimensions``: fewer columns to group is a cheaper scan).

    Rows: ``dimension`` (model / feature / prompt_version), ``value``, ``stop_reason``, ``calls``.
    """
    columns = {"model": ("response_model", "request_model"), "feature": ("feature",),
               "prompt_version": ("prompt_version",)}
    raw = ", ".join(dict.fromkeys(c for d in dimensions for c in columns[d]))
    labels = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dimensions)
    which = " ".join(f"WHEN grouping({d}) = 0 THEN {_lit(d)}" for d in dimensions)
    # Counting per raw (dimension columns, stop_reason) first makes one hash aggregate over the
    # calls with no per-row coalesce; labels and the grouping sets then run over a few rows.
    sql = f"""WITH r AS (SELECT {raw}, stop_reason, count(*) AS n
            FROM calls WHERE {where(f)} AND status = 'ok' AND operation <> 'count_tokens' GROUP BY ALL),
        c AS (SELECT {labels}, coalesce(stop_reason, '(none)') AS stop_reason, n FROM r)
        SELECT CASE {which} END AS dimension, coalesce({", ".join(dimensions)}) AS value, stop_reason,
            sum(n)::BIGINT AS calls
        FROM c GROUP BY GROUPING SETS ({", ".join(f"({d}, stop_reason)" for d in dimensions)})"""
    return to_frame(client.query(sql), keys=["dimension", "value", "stop_reason"])


def stop_reasons_by(client: QueryClient, f: Filters, dimension: str) -> pd.DataFrame:
    """How calls ended per value of one dimension (model, feature or prompt_version)."""
    frame = stop_reasons(client, f)
    picked = frame[frame["dimension"] == dimension].drop(columns="dimension")
    return picked.rename(columns={"value": dimension}).reset_index(drop=True)


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
        coalesce(speed, '') AS speed, count(*) AS calls,
        coalesce(sum(input_tokens), 0) AS input_tokens, coalesce(sum(cache_read_tokens), 0) AS cache_read_tokens,
        coalesce(sum(cache_write_5m_tokens), 0) AS cache_write_5m_tokens,
        coalesce(sum(cache_write_1h_tokens), 0) AS cache_write_1h_tokens,
        coalesce(sum(output_tokens), 0) AS output_tokens, coalesce(sum(web_search_requests), 0) AS web_search_requests,
        sum(cost_usd) AS cost_usd, sum(cost_other_usd) AS cost_other_usd
        FROM calls WHERE {where(f)} AND status = 'ok' AND operation <> 'count_tokens' GROUP BY 1, 2, 3, 4, 5"""
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
            SELECT *, row_number() OVER (PARTITION BY coalesce(alert_key, rule) ORDER BY time DESC) AS n FROM alert_events)
        WHERE n = 1 AND state = 'firing' ORDER BY time DESC"""
    return to_frame(client.query(sql), merge="concat").drop(columns="shard", errors="ignore")


def _decimal_key(series: pd.Series) -> pd.Series:
    # Sorting object columns of Decimal/None: map None below every amount.
    return series.map(lambda v: float("-inf") if v is None else float(v))
