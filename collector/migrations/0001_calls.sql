-- The calls store. The columns up to `attributes` are claudescope.schema.CALL_COLUMNS as of this
-- migration (tests/collector/test_store.py checks the calls view against schema.py); the
-- bookkeeping columns after them are the collector's. Plain SQL: these bytes are what runs and
-- what is checksummed, so a later change to the model is a new migration, never an edit here.
CREATE TABLE call_spans (
    trace_id VARCHAR,
    span_id VARCHAR,
    start_time TIMESTAMPTZ,
    end_time TIMESTAMPTZ,
    duration_ms DOUBLE,
    ttft_ms DOUBLE,
    service_name VARCHAR,
    operation VARCHAR,
    request_model VARCHAR,
    response_model VARCHAR,
    stream BOOLEAN,
    status VARCHAR,
    error_type VARCHAR,
    http_status INTEGER,
    retries INTEGER,
    stop_reason VARCHAR,
    max_tokens INTEGER,
    input_tokens BIGINT,
    cache_read_tokens BIGINT,
    cache_write_5m_tokens BIGINT,
    cache_write_1h_tokens BIGINT,
    output_tokens BIGINT,
    web_search_requests INTEGER,
    service_tier VARCHAR,
    inference_geo VARCHAR,
    speed VARCHAR,
    user_id VARCHAR,
    feature VARCHAR,
    prompt_version VARCHAR,
    cost_usd DECIMAL(18,9),
    cost_input_usd DECIMAL(18,9),
    cost_output_usd DECIMAL(18,9),
    cost_cache_read_usd DECIMAL(18,9),
    cost_cache_write_usd DECIMAL(18,9),
    cost_other_usd DECIMAL(18,9),
    price_version VARCHAR,
    response_id VARCHAR,
    request_id VARCHAR,
    source VARCHAR,
    attributes JSON,
    parent_span_id VARCHAR,
    source_rank TINYINT NOT NULL,
    superseded BOOLEAN NOT NULL DEFAULT false,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

-- One row per logical call: a call reported by several stacked producers keeps only its
-- preferred copy (see store.Store._supersede).
CREATE VIEW calls AS SELECT trace_id, span_id, start_time, end_time, duration_ms, ttft_ms, service_name, operation, request_model, response_model, stream, status, error_type, http_status, retries, stop_reason, max_tokens, input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens, web_search_requests, service_tier, inference_geo, speed, user_id, feature, prompt_version, cost_usd, cost_input_usd, cost_output_usd, cost_cache_read_usd, cost_cache_write_usd, cost_other_usd, price_version, response_id, request_id, source, attributes FROM call_spans WHERE NOT superseded;

CREATE TABLE alert_events (
    time TIMESTAMPTZ,
    rule VARCHAR,
    severity VARCHAR,
    state VARCHAR,
    summary VARCHAR,
    details JSON,
    delivered BOOLEAN,
    channels VARCHAR
);
