-- Claude Code's own cost and token metrics (claude_code.cost.usage, claude_code.token.usage): a
-- cross-check against the rows of its api_request events, never calls (docs/claude-code.md).
-- One row per data point; a resend of the same point stores nothing new (the key).
CREATE TABLE claude_code_metric_points (
    series VARCHAR NOT NULL,          -- sha256 of the metric name and every data-point attribute
    metric VARCHAR NOT NULL,          -- 'cost' (USD) or the token type: input, output, cacheRead, cacheCreation
    session_id VARCHAR,
    model VARCHAR,
    user_id VARCHAR,                  -- user.email, else user.id, as for the event rows
    cumulative BOOLEAN NOT NULL,      -- aggregation temporality: a cumulative point is a running total
    start_time TIMESTAMPTZ NOT NULL,
    time TIMESTAMPTZ NOT NULL,
    value DECIMAL(38,9) NOT NULL,
    start_unix_nano UBIGINT NOT NULL, -- the point's own times, exact: two points a nanosecond apart are two
    time_unix_nano UBIGINT NOT NULL,
    PRIMARY KEY (series, start_unix_nano, time_unix_nano)
);
-- Per session and model: delta points summed; a cumulative series counts its last value per start
-- time (an exporter that restarts begins a new start time), and those are summed.
CREATE VIEW claude_code_metric_sums AS
WITH points AS (
    SELECT metric, session_id, model, user_id, value FROM claude_code_metric_points WHERE NOT cumulative
    UNION ALL
    SELECT any_value(metric), any_value(session_id), any_value(model), any_value(user_id), arg_max(value, time_unix_nano)
    FROM claude_code_metric_points WHERE cumulative GROUP BY series, start_unix_nano
)
SELECT session_id, model, any_value(user_id) AS user_id,
       coalesce(sum(value) FILTER (WHERE metric = 'cost'), 0)::DECIMAL(38,9) AS cost_usd,
       coalesce(sum(value) FILTER (WHERE metric = 'input'), 0)::BIGINT AS input_tokens,
       coalesce(sum(value) FILTER (WHERE metric = 'output'), 0)::BIGINT AS output_tokens,
       coalesce(sum(value) FILTER (WHERE metric = 'cacheRead'), 0)::BIGINT AS cache_read_tokens,
       coalesce(sum(value) FILTER (WHERE metric = 'cacheCreation'), 0)::BIGINT AS cache_write_tokens
FROM points GROUP BY session_id, model;
