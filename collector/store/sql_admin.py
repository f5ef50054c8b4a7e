"""SQL of the store's bookkeeping: sessions, migrations, the catalog, snapshots, probes."""

from __future__ import annotations

from claudescope import semconv as sc
from claudescope.call_facts import attribute_sql
from claudescope.collector.columns import CALLS_TABLE

# Every session (cursors included) reads and buckets time in UTC whatever the host's zone:
# rollup hours and the dashboard's bucket edges depend on it. After it, nothing may read or
# write files other than the store itself.
SESSION_UTC = "SET GLOBAL TimeZone = 'UTC'"
SESSION_LOCKDOWN = ("SET enable_external_access = false", "SET lock_configuration = true")
CHECKPOINT = "CHECKPOINT"
BEGIN = "BEGIN"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"
PING = "SELECT 1"
# A write that changes nothing but reaches the WAL: can the store take writes?
PROBE_WRITE = "UPDATE rollup_state SET rolled_through = rolled_through"

HAS_SCHEMA_MIGRATIONS = "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
CREATE_SCHEMA_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
    "checksum VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)
APPLIED_MIGRATIONS = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
RECORD_MIGRATION = "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)"

TABLE_NAMES = (
    "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary ORDER BY table_name"
)


def whole_table(name: str) -> str:
    """Every row of table ``name`` (checked against the catalog by the caller)."""
    return f'SELECT * FROM "{name}"'


# The newest stored rows' keys and producers, oldest first: what the stacking index preloads.
RECENT_CALL_KEYS = (
    # The stacking index matches on the response id, else the request id (stacking.match_keys).
    "SELECT trace_id, span_id, parent_span_id, coalesce(response_id, 'req:' || request_id), source_rank, source, "
    "superseded FROM "
    f"(SELECT * FROM {CALLS_TABLE} ORDER BY ingested_at DESC LIMIT ?) ORDER BY ingested_at"
)

# What a reprice reads of every stored call (superseded ones too).
REPRICE_COLUMNS = (
    "trace_id", "span_id", "operation", "status", "request_model", "response_model", "input_tokens", "cache_read_tokens",
    "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens", "web_search_requests", "service_tier",
    "inference_geo", "speed", "superseded", "start_time",  # start_time: the prices in force then
)


# An estimated cost's mark and bounds (collector/estimates.py), which a reprice recomputes too.
_ESTIMATE_COLUMNS = (
    f"coalesce(json_extract(attributes, '$.\"{sc.CS_CACHE_SPLIT_ESTIMATED}\"')::VARCHAR = 'true', false) AS estimated",
    f"{attribute_sql(sc.CS_COST_LOW_USD)} AS cost_low",
    f"{attribute_sql(sc.CS_COST_HIGH_USD)} AS cost_high",
)


def reprice_rows(cost_columns: tuple[str, ...], *, since: bool) -> str:
    """The rows a reprice recomputes: its inputs, the stored costs and the estimate's bounds
    (``estimated``, ``cost_low``, ``cost_high``), from ? on when ``since``."""
    where = " WHERE start_time >= ?" if since else ""
    return f"SELECT {', '.join(REPRICE_COLUMNS + cost_columns + _ESTIMATE_COLUMNS)} FROM {CALLS_TABLE}{where}"


SPEND_SINCE = "SELECT coalesce(sum(cost_usd), 0) FROM calls WHERE start_time >= ?"
UNPRICED_CALLS = "SELECT count(*) FROM calls WHERE cost_usd IS NULL"
