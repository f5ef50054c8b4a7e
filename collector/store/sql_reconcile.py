"""SQL of reconciliation (docs/reconciliation.md): the calls side of the comparison, a run's records,
and the Admin API spend limits the collector polls."""

from __future__ import annotations

from claudescope.call_facts import WORKSPACE_ID_SQL
from claudescope.pricing import UNBILLED_OPERATIONS

# The operations that bill nothing, as a SQL list (constants of the pricing rule, not input).
_UNBILLED = ", ".join(f"'{op}'" for op in sorted(UNBILLED_OPERATIONS))

# Billed calls (not failed, not an unbilled operation) started in [?, ?), by UTC day, model,
# workspace, service tier and service: tokens, costs by part, and how many have no price.
CALLS_BY_DAY = (
    "SELECT CAST(timezone('UTC', start_time) AS DATE) AS day, request_model, response_model, "
    f"{WORKSPACE_ID_SQL} AS workspace_id, "
    "service_tier, service_name, count(*) AS calls, count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced_calls, "
    "sum(input_tokens) AS input_tokens, sum(cache_read_tokens) AS cache_read_tokens, "
    "sum(cache_write_5m_tokens) AS cache_write_5m_tokens, sum(cache_write_1h_tokens) AS cache_write_1h_tokens, "
    "sum(output_tokens) AS output_tokens, sum(web_search_requests) AS web_search_requests, "
    "sum(cost_usd) AS cost_usd, sum(cost_input_usd) AS cost_input_usd, sum(cost_output_usd) AS cost_output_usd, "
    "sum(cost_cache_read_usd) AS cost_cache_read_usd, sum(cost_cache_write_usd) AS cost_cache_write_usd, "
    "sum(cost_other_usd) AS cost_other_usd "
    "FROM calls WHERE start_time >= ? AND start_time < ? AND status IS DISTINCT FROM 'error' "
    f"AND coalesce(operation, '') NOT IN ({_UNBILLED}) "
    "GROUP BY ALL ORDER BY ALL"
)

INSERT_RUN = "INSERT INTO reconcile_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# One placeholder per reconciliation column (run_id first, then ReconRow's fields in order).
INSERT_ROW = "INSERT INTO reconciliation VALUES (" + ", ".join(["?"] * 26) + ")"

# Any trigger counts: a `claudescope reconcile` that finished an hour ago makes a catch-up run pointless.
LAST_FINISHED_RECONCILE = "SELECT max(run_at) FROM reconcile_runs WHERE error IS NULL"

SPEND_LIMIT_COLUMNS = (
    "fetched_at", "limit_id", "scope_type", "workspace_id", "period", "amount_usd", "currency", "is_enabled",
)
DELETE_SPEND_LIMITS = "DELETE FROM spend_limits"
INSERT_SPEND_LIMIT = (
    f"INSERT INTO spend_limits ({', '.join(SPEND_LIMIT_COLUMNS)}) VALUES ({', '.join('?' for _ in SPEND_LIMIT_COLUMNS)})"
)
