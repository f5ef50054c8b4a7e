-- The calls store. The CALL_COLUMNS placeholder expands to claudescope.schema.CALL_COLUMNS,
-- the single definition of the calls model; the bookkeeping columns after it are the collector's.
CREATE TABLE call_spans (
    @CALL_COLUMNS@,
    parent_span_id VARCHAR,
    source_rank TINYINT NOT NULL,
    superseded BOOLEAN NOT NULL DEFAULT false,
    ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);

-- One row per logical call: a call reported by several stacked producers keeps only its
-- preferred copy (see store.Store._supersede).
CREATE VIEW calls AS SELECT @CALL_COLUMN_NAMES@ FROM call_spans WHERE NOT superseded;

CREATE TABLE alert_events (
    @ALERT_EVENT_COLUMNS@
);
