-- Reconciliation against Anthropic's Usage & Cost Admin API (docs/reconciliation.md), and the
-- spend limits read from the Admin API for the spend_limit_headroom alert.

-- One row per `claudescope reconcile` (or daily) run.
CREATE TABLE reconcile_runs (
    run_id VARCHAR PRIMARY KEY,
    run_at TIMESTAMPTZ NOT NULL,
    trigger VARCHAR NOT NULL,          -- 'command' or 'daily'
    since DATE NOT NULL,               -- first UTC day compared
    until DATE NOT NULL,               -- last UTC day compared (inclusive)
    tolerance DECIMAL(18,9) NOT NULL,  -- a row matches when |calls - bill| <= tolerance x bill
    bill_usd DECIMAL(18,9),            -- the cost report's total over the days compared
    calls_usd DECIMAL(18,9),           -- what calls hold for the same days
    rows_compared INTEGER NOT NULL,
    rows_mismatched INTEGER NOT NULL,
    error VARCHAR                      -- why the run did not finish (NULL when it did); never the key
);

-- One row per run x UTC day x model x workspace: the bill beside what calls hold, and why they differ.
CREATE TABLE reconciliation (
    run_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    model VARCHAR NOT NULL,            -- the model as the bill names it
    workspace_id VARCHAR NOT NULL,     -- '*' every workspace (the calls carry none), 'default', or 'wrkspc_...'
    bill_usd DECIMAL(18,9) NOT NULL,   -- the cost report (cents / 100), priority tier not included
    calls_usd DECIMAL(18,9) NOT NULL,  -- priced calls, priority tier left out as the cost report does
    diff_usd DECIMAL(18,9) NOT NULL,   -- calls_usd - bill_usd
    drift DECIMAL(18,9),               -- diff_usd / bill_usd; NULL when the bill is 0
    bill_input_tokens BIGINT NOT NULL, -- usage report, by class
    bill_cache_read_tokens BIGINT NOT NULL,
    bill_cache_write_5m_tokens BIGINT NOT NULL,
    bill_cache_write_1h_tokens BIGINT NOT NULL,
    bill_output_tokens BIGINT NOT NULL,
    bill_web_search_requests BIGINT NOT NULL,
    calls_input_tokens BIGINT NOT NULL,  -- calls, same classes (uncached input)
    calls_cache_read_tokens BIGINT NOT NULL,
    calls_cache_write_5m_tokens BIGINT NOT NULL,
    calls_cache_write_1h_tokens BIGINT NOT NULL,
    calls_output_tokens BIGINT NOT NULL,
    calls_web_search_requests BIGINT NOT NULL,
    calls INTEGER NOT NULL,            -- traced calls counted on this row
    unpriced_calls INTEGER NOT NULL,   -- of them, with no price (cost NULL)
    priority_usd DECIMAL(18,9) NOT NULL,  -- priority-tier calls' cost, absent from the cost report
    matches BOOLEAN NOT NULL,
    cause VARCHAR NOT NULL,            -- match | price_table | untraced | extra_traced | unpriced | priority_tier | not_in_bill | mixed
    explanation VARCHAR NOT NULL,      -- one or more sentences, for people
    PRIMARY KEY (run_id, day, model, workspace_id)
);

-- For each UTC day, the rows of the most recent finished run that covered it.
CREATE VIEW reconciliation_latest AS
WITH covered AS (
    SELECT run_id, run_at, unnest(generate_series(since::TIMESTAMP, until::TIMESTAMP, INTERVAL 1 DAY))::DATE AS day
    FROM reconcile_runs WHERE error IS NULL
), latest AS (
    SELECT day, arg_max(run_id, run_at) AS run_id FROM covered GROUP BY day
)
SELECT r.* FROM reconciliation r JOIN latest USING (day, run_id);

-- The organisation's and workspaces' spend limits as last read from the Admin API (replaced whole on each read).
CREATE TABLE spend_limits (
    fetched_at TIMESTAMPTZ NOT NULL,
    limit_id VARCHAR NOT NULL,         -- spl_...
    scope_type VARCHAR NOT NULL,       -- organization | workspace | ... (as the API names it)
    workspace_id VARCHAR,              -- for scope_type 'workspace'
    period VARCHAR NOT NULL,           -- daily | weekly | monthly
    amount_usd DECIMAL(18,9),          -- the cap; NULL when no numeric cap is set at this scope
    currency VARCHAR NOT NULL,
    is_enabled BOOLEAN NOT NULL
);
