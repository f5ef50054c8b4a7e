-- The alert engine's bookkeeping (owned by claudescope.alerts; see alerts/sql.py).
-- alert_events (0001) gets the columns that let a restart rebuild alert state and the outbox.
ALTER TABLE alert_events ADD COLUMN id VARCHAR;
ALTER TABLE alert_events ADD COLUMN alert_key VARCHAR;   -- rule + series key, e.g. max_tokens_rate|support_chat
ALTER TABLE alert_events ADD COLUMN routes VARCHAR;      -- JSON array of channel ids it must reach

-- Every delivery attempt, per event and channel: an event is pending on a channel until an ok row exists.
CREATE TABLE alert_deliveries (
    event_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,       -- stable channel id (hash of the configured URL)
    channel_name VARCHAR,           -- the URL with secrets masked
    time TIMESTAMPTZ NOT NULL,
    ok BOOLEAN NOT NULL,
    error VARCHAR
);
