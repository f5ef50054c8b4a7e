-- Rollups are folded in behind ingest (store.Store.fold_rollups) rather than in every commit:
-- under load one fold covers many commits. Every call with ingested_at (its commit time, strictly
-- increasing) at or before rolled_through is in calls_minute / calls_hour; the *_live views add
-- the calls after it, so readers of the views see every stored call. Read it with max().
-- The views' SELECT is the rollup contract (claudescope/rollup_contract.py) as of this migration.
CREATE TABLE rollup_state (rolled_through TIMESTAMPTZ NOT NULL);
-- Until now rollups were maintained in the commit itself: everything stored is folded in.
INSERT INTO rollup_state SELECT coalesce(max(ingested_at), TIMESTAMPTZ '1970-01-01 00:00:00+00') FROM call_spans;
CREATE OR REPLACE VIEW calls_minute_live AS SELECT * FROM calls_minute UNION ALL SELECT date_trunc('minute', start_time) AS minute, coalesce(response_model, request_model, '') AS model, coalesce(feature, '') AS feature, coalesce(user_id, '') AS user_id,
       1 * count(*), 1 * coalesce(count_if(status = 'error'), 0),
       1 * sum(coalesce(input_tokens, 0)), 1 * sum(coalesce(cache_read_tokens, 0)),
       1 * sum(coalesce(cache_write_5m_tokens, 0) + coalesce(cache_write_1h_tokens, 0)),
       1 * sum(coalesce(output_tokens, 0)), 1 * coalesce(sum(cost_usd), 0)::DECIMAL(38,9),
       1 * coalesce(count_if(cost_usd IS NULL), 0), 1 * coalesce(count_if(stop_reason = 'max_tokens'), 0),
       1 * coalesce(sum(duration_ms), 0)
FROM (WITH watermark AS MATERIALIZED (SELECT max(rolled_through) AS rolled_through FROM rollup_state) SELECT c.* FROM call_spans AS c, watermark WHERE NOT c.superseded AND c.ingested_at > watermark.rolled_through) WHERE start_time IS NOT NULL GROUP BY ALL;
CREATE OR REPLACE VIEW calls_hour_live AS SELECT * FROM calls_hour UNION ALL SELECT date_trunc('hour', start_time) AS hour, coalesce(response_model, request_model, '') AS model, coalesce(feature, '') AS feature, coalesce(stop_reason, '') AS stop_reason,
       1 * count(*), 1 * coalesce(count_if(status = 'error'), 0),
       1 * sum(coalesce(input_tokens, 0)), 1 * sum(coalesce(cache_read_tokens, 0)),
       1 * sum(coalesce(cache_write_5m_tokens, 0) + coalesce(cache_write_1h_tokens, 0)),
       1 * sum(coalesce(output_tokens, 0)), 1 * coalesce(sum(cost_usd), 0)::DECIMAL(38,9),
       1 * coalesce(count_if(cost_usd IS NULL), 0), 1 * coalesce(count_if(stop_reason = 'max_tokens'), 0),
       1 * coalesce(sum(duration_ms), 0)
FROM (WITH watermark AS MATERIALIZED (SELECT max(rolled_through) AS rolled_through FROM rollup_state) SELECT c.* FROM call_spans AS c, watermark WHERE NOT c.superseded AND c.ingested_at > watermark.rolled_through) WHERE start_time IS NOT NULL GROUP BY ALL;
