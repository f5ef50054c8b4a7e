"""The per-minute and per-hour rollups of ``calls`` the store maintains at ingest (SQL text).

Rows are additive deltas: each commit appends its own groups, a superseded call appends a
negative group, so readers always ``SUM(...) GROUP BY``.
"""

from __future__ import annotations

_ROLLUP_SUMS = """
       {sign} * count(*), {sign} * coalesce(count_if(status = 'error'), 0),
       {sign} * sum(coalesce(input_tokens, 0)), {sign} * sum(coalesce(cache_read_tokens, 0)),
       {sign} * sum(coalesce(cache_write_5m_tokens, 0) + coalesce(cache_write_1h_tokens, 0)),
       {sign} * sum(coalesce(output_tokens, 0)), {sign} * coalesce(sum(cost_usd), 0)::DECIMAL(38,9),
       {sign} * coalesce(count_if(cost_usd IS NULL), 0), {sign} * coalesce(count_if(stop_reason = 'max_tokens'), 0),
       {sign} * coalesce(sum(duration_ms), 0)
FROM {source} WHERE start_time IS NOT NULL GROUP BY ALL"""
_MODEL_FEATURE = "coalesce(response_model, request_model, '') AS model, coalesce(feature, '') AS feature"
# Each rollup: (table, bucket, SQL appending the additive deltas of {source} with {sign}).
ROLLUPS: tuple[tuple[str, str, str], ...] = (
    ("calls_minute", "minute", "INSERT INTO calls_minute SELECT date_trunc('minute', start_time) AS minute, "
     + _MODEL_FEATURE + ", coalesce(user_id, '') AS user_id," + _ROLLUP_SUMS),
    ("calls_hour", "hour", "INSERT INTO calls_hour SELECT date_trunc('hour', start_time) AS hour, "
     + _MODEL_FEATURE + ", coalesce(stop_reason, '') AS stop_reason," + _ROLLUP_SUMS),
)
