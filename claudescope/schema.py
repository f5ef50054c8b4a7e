"""The ``calls`` data model (SPEC §4): one row per logical Claude API call.

This is the single definition of the columns, their DuckDB types and meaning. The collector
builds its Arrow schema from it; its plain-SQL migrations, the docs and the tests are checked
against it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the ``calls`` view."""

    name: str
    sql_type: str
    meaning: str


MONEY_SQL_TYPE = "DECIMAL(18,9)"

CALL_COLUMNS: tuple[Column, ...] = (
    Column("trace_id", "VARCHAR", "the call's span trace id (hex)"),
    Column("span_id", "VARCHAR", "the call's span id (hex)"),
    Column("start_time", "TIMESTAMPTZ", "UTC start of the call"),
    Column("end_time", "TIMESTAMPTZ", "UTC end of the call"),
    Column("duration_ms", "DOUBLE", "wall time seen by the caller, retries included"),
    Column("ttft_ms", "DOUBLE", "time to first token from the request's start (streams only)"),
    Column("service_name", "VARCHAR", "OTel resource service.name"),
    Column("operation", "VARCHAR", "chat, count_tokens, batch_create, batch_result, ..."),
    Column("request_model", "VARCHAR", "model as sent"),
    Column("response_model", "VARCHAR", "model as answered"),
    Column("stream", "BOOLEAN", "whether the call streamed"),
    Column("status", "VARCHAR", "ok or error"),
    Column("error_type", "VARCHAR", "Anthropic error type of the final attempt, or timeout / connection_error"),
    Column("http_status", "INTEGER", "final HTTP status"),
    Column("retries", "INTEGER", "attempts beyond the first"),
    Column("stop_reason", "VARCHAR", "Anthropic's raw stop_reason"),
    Column("max_tokens", "INTEGER", "requested limit"),
    Column("input_tokens", "BIGINT", "uncached input tokens (Anthropic's usage.input_tokens)"),
    Column("cache_read_tokens", "BIGINT", "cache read input tokens"),
    Column("cache_write_5m_tokens", "BIGINT", "5-minute cache write tokens"),
    Column("cache_write_1h_tokens", "BIGINT", "1-hour cache write tokens"),
    Column("output_tokens", "BIGINT", "output tokens, thinking included"),
    Column("web_search_requests", "INTEGER", "server web search requests"),
    Column("service_tier", "VARCHAR", "usage.service_tier"),
    Column("inference_geo", "VARCHAR", "usage.inference_geo"),
    Column("speed", "VARCHAR", "usage.speed"),
    Column("user_id", "VARCHAR", "attribution: user"),
    Column("feature", "VARCHAR", "attribution: feature"),
    Column("prompt_version", "VARCHAR", "attribution: prompt version"),
    Column("cost_usd", MONEY_SQL_TYPE, "total price; NULL when the model has no price"),
    Column("cost_input_usd", MONEY_SQL_TYPE, "uncached input part"),
    Column("cost_output_usd", MONEY_SQL_TYPE, "output part"),
    Column("cost_cache_read_usd", MONEY_SQL_TYPE, "cache read part"),
    Column("cost_cache_write_usd", MONEY_SQL_TYPE, "cache write part (5m + 1h)"),
    Column("cost_other_usd", MONEY_SQL_TYPE, "web search and other per-request fees"),
    Column("price_version", "VARCHAR", "which price table priced it"),
    Column("response_id", "VARCHAR", "msg_..."),
    Column("request_id", "VARCHAR", "req_..."),
    Column("source", "VARCHAR", "which instrumentation produced the span"),
    Column("attributes", "JSON", "everything else on the span"),
)

CALL_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in CALL_COLUMNS)

ALERT_EVENT_COLUMNS: tuple[Column, ...] = (
    Column("time", "TIMESTAMPTZ", "when the alert fired or resolved"),
    Column("rule", "VARCHAR", "rule name"),
    Column("severity", "VARCHAR", "info, warning, critical"),
    Column("state", "VARCHAR", "firing or resolved"),
    Column("summary", "VARCHAR", "one-line human summary"),
    Column("details", "JSON", "measured values, thresholds, top contributors"),
    Column("delivered", "BOOLEAN", "whether every channel accepted it"),
    Column("channels", "VARCHAR", "where it was delivered"),
)
