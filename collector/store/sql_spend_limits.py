"""SQL of the Admin API data the collector keeps for itself: the spend limits it polls, and
when the last reconcile run finished (the daily run's start-up catch-up reads it)."""

from __future__ import annotations

SPEND_LIMIT_COLUMNS = (
    "fetched_at", "limit_id", "scope_type", "workspace_id", "period", "amount_usd", "currency", "is_enabled",
)

DELETE_SPEND_LIMITS = "DELETE FROM spend_limits"
INSERT_SPEND_LIMIT = (
    f"INSERT INTO spend_limits ({', '.join(SPEND_LIMIT_COLUMNS)}) VALUES ({', '.join('?' for _ in SPEND_LIMIT_COLUMNS)})"
)

# Any trigger counts: a `claudescope reconcile` that finished an hour ago makes a catch-up run pointless.
LAST_FINISHED_RECONCILE = "SELECT max(run_at) FROM reconcile_runs WHERE error IS NULL"
