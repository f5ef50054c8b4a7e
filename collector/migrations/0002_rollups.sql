-- Per-minute rollups of the calls view, maintained at ingest (store.insert_spans) in the same
-- transaction as the rows, so dashboard aggregates over long ranges stay fast at scale.
-- Rows are additive deltas (a commit appends its own per-minute groups; a superseded call appends
-- a negative one): always read it with SUM(...) GROUP BY. Key columns use '' for "none".
CREATE TABLE calls_minute (
    minute TIMESTAMPTZ NOT NULL,
    model VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    calls BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    input_tokens HUGEINT NOT NULL,
    cache_read_tokens HUGEINT NOT NULL,
    cache_write_tokens HUGEINT NOT NULL,
    output_tokens HUGEINT NOT NULL,
    cost_usd DECIMAL(38,9) NOT NULL,
    unpriced_calls BIGINT NOT NULL,
    max_tokens_stops BIGINT NOT NULL,
    duration_ms_sum DOUBLE NOT NULL
);
