"""The dashboard's queries about how calls went: latency, errors, retries, rate limits, stop reasons.

Which calls each of these counts is ``metrics``' definition (model calls, or answered model
calls); the Latency and Stop reasons pages and the Overview read them from here only.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from claudescope import semconv as sc
from claudescope.call_facts import RATELIMIT_RESOURCES
from claudescope.dashboard.client import QueryClient
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.frames import to_frame
from claudescope.dashboard.metrics import ANSWERED, FAILED_MODEL_CALL, MODEL_CALL
from claudescope.dashboard.sqltext import DIMENSIONS, MODEL, attr, bucket, lit, where

RATELIMIT = sc.CS_RATELIMIT_PREFIX
HEADROOM_WINDOW = timedelta(hours=24)
ALL_MODELS = "(all models)"
# One sort per list: quantile_cont(x, [..]) is 4x faster than one quantile_cont per level.
_PERCENTILE_LISTS = ("quantile_cont(duration_ms, [0.5, 0.95, 0.99]) AS q, "
                     "quantile_cont(ttft_ms, [0.5, 0.95]) AS t")
_PERCENTILE_COLUMNS = ("q[1] AS p50_ms, q[2] AS p95_ms, q[3] AS p99_ms, "
                       "t[1] AS ttft_p50_ms, t[2] AS ttft_p95_ms")
_METRICS = {"p50_ms": ("duration_ms", 0.5), "p95_ms": ("duration_ms", 0.95), "p99_ms": ("duration_ms", 0.99),
            "ttft_p50_ms": ("ttft_ms", 0.5), "ttft_p95_ms": ("ttft_ms", 0.95)}


def latency_percentiles(client: QueryClient, f: Filters, metric: str | None = None) -> pd.DataFrame:
    """p50 / p95 / p99 wall time of model calls over the range (max across shards: an upper
    bound); only ``metric`` (e.g. ``p95_ms``) if given, one exact quantile being much cheaper."""
    if metric is not None:
        column, level = _METRICS[metric]
        sql = f"""SELECT quantile_cont({column}, {level}) AS {metric}
            FROM calls WHERE {where(f)} AND {MODEL_CALL}"""
        return to_frame(client.query(sql), merge="max")
    sql = f"""SELECT {_PERCENTILE_COLUMNS} FROM (SELECT {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND {MODEL_CALL})"""
    return to_frame(client.query(sql), merge="max")


def latency_over_time(client: QueryClient, f: Filters, metric: str | None = None) -> pd.DataFrame:
    """p50/p95/p99 and TTFT p50/p95 per bucket and model; only ``metric`` (e.g. ``p95_ms``) if given.

    The chart shows one percentile at a time: one exact quantile of one column is about a third
    cheaper than all five over millions of calls.
    """
    if metric is not None:
        column, level = _METRICS[metric]
        sql = f"""SELECT {bucket(f)}, {MODEL} AS model, count(*) AS calls, quantile_cont({column}, {level}) AS {metric}
            FROM calls WHERE {where(f)} AND {MODEL_CALL} GROUP BY 1, 2 ORDER BY bucket"""
        return to_frame(client.query(sql), keys=["bucket", "model"], merge="max")
    sql = f"""SELECT bucket, model, calls, {_PERCENTILE_COLUMNS} FROM (
        SELECT {bucket(f)}, {MODEL} AS model, count(*) AS calls, {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND {MODEL_CALL} GROUP BY 1, 2) ORDER BY bucket"""
    return to_frame(client.query(sql), keys=["bucket", "model"], merge="max")


def latency_by_model(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Model calls, errors, retries and latency percentiles per model, plus an ``(all models)``
    row: the page's headline percentiles and error rate come from the same scan."""
    sql = f"""SELECT coalesce(model, {lit(ALL_MODELS)}) AS model, calls, errors, retries, {_PERCENTILE_COLUMNS} FROM (
        SELECT {MODEL} AS model, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,
        coalesce(sum(retries), 0) AS retries, {_PERCENTILE_LISTS}
        FROM calls WHERE {where(f)} AND {MODEL_CALL} GROUP BY GROUPING SETS ((1), ()))
        ORDER BY calls DESC"""
    return to_frame(client.query(sql), merge="concat")


def errors_by_type(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Failed model calls by error type and final HTTP status."""
    sql = f"""SELECT coalesce(error_type, 'unknown') AS error_type, coalesce(http_status, 0) AS http_status,
        count(*) AS calls FROM calls WHERE {where(f)} AND {FAILED_MODEL_CALL} GROUP BY 1, 2"""
    frame = to_frame(client.query(sql), keys=["error_type", "http_status"])
    return frame.sort_values("calls", ascending=False)


def retry_cost(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Model calls that needed retries, and the wall time they took beyond a typical first try.

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
        FROM calls WHERE {where(f)} AND {MODEL_CALL} GROUP BY 1) WHERE retried_calls > 0"""
    return to_frame(client.query(sql), keys=["model"])


def ratelimit_headroom(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Lowest remaining share of each rate limit per bucket over the range's last 24 hours at most.

    Headroom is a now-question, and reading it means parsing every call's attributes JSON, so
    it is bounded to the most recent day whatever the range.
    """
    kinds = RATELIMIT_RESOURCES
    cols = ", ".join(
        f"min(TRY_CAST({attr(RATELIMIT + k + '.remaining')} AS DOUBLE) / "
        f"nullif(TRY_CAST({attr(RATELIMIT + k + '.limit')} AS DOUBLE), 0)) AS \"{k}\""
        for k in kinds
    )
    start = max(f.start, f.end - HEADROOM_WINDOW)
    sql = f"SELECT {bucket(f, start)}, {cols} FROM calls WHERE {where(f, start=start)} GROUP BY 1 ORDER BY 1"
    return to_frame(client.query(sql), keys=["bucket"], merge="min")


def stop_reasons(client: QueryClient, f: Filters,
                 dimensions: tuple[str, ...] = ("model", "feature", "prompt_version")) -> pd.DataFrame:
    """How answered model calls ended (stop_reason) per model, per feature and per prompt
    version, in one scan (or only per ``dimensions``: fewer columns to group is a cheaper scan).

    Rows: ``dimension`` (model / feature / prompt_version), ``value``, ``stop_reason``, ``calls``.
    """
    columns = {"model": ("response_model", "request_model"), "feature": ("feature",),
               "prompt_version": ("prompt_version",)}
    raw = ", ".join(dict.fromkeys(c for d in dimensions for c in columns[d]))
    labels = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dimensions)
    which = " ".join(f"WHEN grouping({d}) = 0 THEN {lit(d)}" for d in dimensions)
    # Counting per raw (dimension columns, stop_reason) first makes one hash aggregate over the
    # calls with no per-row coalesce; labels and the grouping sets then run over a few rows.
    sql = f"""WITH r AS (SELECT {raw}, stop_reason, count(*) AS n
            FROM calls WHERE {where(f)} AND {ANSWERED} GROUP BY ALL),
        c AS (SELECT {labels}, coalesce(stop_reason, '(none)') AS stop_reason, n FROM r)
        SELECT CASE {which} END AS dimension, coalesce({", ".join(dimensions)}) AS value, stop_reason,
            sum(n)::BIGINT AS calls
        FROM c GROUP BY GROUPING SETS ({", ".join(f"({d}, stop_reason)" for d in dimensions)})"""
    return to_frame(client.query(sql), keys=["dimension", "value", "stop_reason"])


def output_vs_max_tokens(client: QueryClient, f: Filters) -> pd.DataFrame:
    """Per feature: output tokens against the requested max_tokens (headroom or truncation).

    ``calls`` and ``max_tokens_stops`` count the same answered model calls as ``stop_reasons``,
    so a feature's truncation share is one number on every table; the averages are over the
    calls that stated a max_tokens (``with_max_tokens``).
    """
    sql = f"""SELECT coalesce(feature, '(none)') AS feature, count(*) AS calls,
        count(*) FILTER (WHERE stop_reason = 'max_tokens') AS max_tokens_stops,
        count(*) FILTER (WHERE max_tokens > 0) AS with_max_tokens,
        sum(output_tokens) FILTER (WHERE max_tokens > 0) AS output_tokens,
        sum(max_tokens) FILTER (WHERE max_tokens > 0) AS max_tokens,
        max(max_tokens) AS largest_max_tokens
        FROM calls WHERE {where(f)} AND {ANSWERED} GROUP BY 1"""
    return to_frame(client.query(sql), keys=["feature"])
