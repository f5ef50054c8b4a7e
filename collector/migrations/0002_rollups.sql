-- Per-minute rollups maintained at ingest so dashboard aggregates stay fast at scale.
CREATE TABLE calls_minute (
    minute TIMESTAMPTZ NOT NULL,
    model VARCHAR,
    feature VARCHAR,
    user_id VARCHAR,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    input_tokens HUGEINT NOT NULL,
    cache_read_tokens HUGEINT NOT NULL,
    cache_write_tokens HUGEINT NOT NULL,
    output_tokens HUGEINT NOT NULL,
    cost_usd DECIMAL(38,9),
    unpriced_calls BIGINT NOT NULL,
    max_tokens_stops BIGINT NOT NULL,
    duration_ms_sum DOUBLE NOT NULL
);
