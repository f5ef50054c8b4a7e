-- Rollups are folded in behind ingest (store.Store.fold_rollups) rather than in every commit:
-- under load one fold covers many commits. Every call with ingested_at (its commit time, strictly
-- increasing) at or before rolled_through is in calls_minute / calls_hour; the *_live views add
-- the calls after it, so readers of the views see every stored call. Read it with max().
CREATE TABLE rollup_state (rolled_through TIMESTAMPTZ NOT NULL);
-- Until now rollups were maintained in the commit itself: everything stored is folded in.
INSERT INTO rollup_state SELECT coalesce(max(ingested_at), TIMESTAMPTZ '1970-01-01 00:00:00+00') FROM call_spans;
@ROLLUP_LIVE_VIEWS@;
