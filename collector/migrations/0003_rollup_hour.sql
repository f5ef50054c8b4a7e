-- Hourly rollup by model x feature x stop_reason, without the user dimension (minute x user is
-- nearly one row per call at scale): long-range spend / token / cache / stop-reason charts read
-- this. Additive deltas like calls_minute: always SUM(...) GROUP BY.
CREATE TABLE calls_hour (
    hour TIMESTAMPTZ NOT NULL,
    model VARCHAR NOT NULL,
    feature VARCHAR NOT NULL,
    stop_reason VARCHAR NOT NULL,
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
