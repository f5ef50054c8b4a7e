"""The DuckDB store: the only package of claudescope that talks to DuckDB.

``core`` opens the file and does ingest writes and reads; ``rollup_upkeep`` keeps the rollup
tables folded in and compacted behind ingest; ``health`` connects and reopens the file after a
fatal error; ``migrate`` applies the plain-SQL migrations (``migration_files``); ``readonly``
and ``sql_guard`` run user queries under limits. Every SQL statement of the collector lives in
this package, by kind: ``sql_writes``, ``sql_rollups``, ``sql_admin``, ``sql_reconcile``
(``reconcile_records``: the calls side of a reconciliation, its runs, and the spend limits polled
from the Admin API), and the guard's own.
``errors`` is the one error tree its callers catch: no DuckDB error leaves the package.
"""

from claudescope.collector.columns import CALLS_ARROW_SCHEMA, CALLS_TABLE, EXTRA_COLUMNS, SPANS_ARROW_SCHEMA, arrow_schema
from claudescope.collector.store.core import Store
from claudescope.collector.store.errors import (
    Conflict, MigrationError, QueryBusy, QueryFailed, QueryRefused, QueryTimeout, QueryTooLarge, StoreError,
    StoreUnavailable, StoreVersionError,
)
from claudescope.collector.store.health import restoring_path
from claudescope.collector.store.migration_files import load_migrations
from claudescope.collector.store.readonly import statement_types
from claudescope.collector.store.sql_writes import REPRICE_BOUNDS

__all__ = [
    "CALLS_ARROW_SCHEMA", "CALLS_TABLE", "EXTRA_COLUMNS", "SPANS_ARROW_SCHEMA", "Conflict", "MigrationError", "QueryBusy",
    "QueryFailed", "QueryRefused", "QueryTimeout", "QueryTooLarge", "REPRICE_BOUNDS", "Store", "StoreError", "StoreUnavailable",
    "StoreVersionError", "arrow_schema", "load_migrations", "restoring_path", "statement_types",
]
