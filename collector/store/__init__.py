"""The DuckDB store: the only package of claudescope that talks to DuckDB.

``core`` opens the file, applies migrations and does ingest writes and reads; ``rollup_upkeep``
keeps the rollup tables folded in and compacted behind ingest; ``health`` connects and reopens
the file after a fatal error; ``migrate`` applies schema migrations.
"""

from claudescope.collector.columns import CALLS_ARROW_SCHEMA, CALLS_TABLE, EXTRA_COLUMNS, SPANS_ARROW_SCHEMA, arrow_schema
from claudescope.collector.migration_files import load_migrations
from claudescope.collector.store.core import Store, StoreError, StoreVersionError
from claudescope.collector.store.health import restoring_path
from claudescope.collector.store.readonly import (
    QueryBusy, QueryRefused, QueryTimeout, QueryTooLarge, statement_types,
)

__all__ = [
    "CALLS_ARROW_SCHEMA", "CALLS_TABLE", "EXTRA_COLUMNS", "SPANS_ARROW_SCHEMA", "QueryTimeout", "Store", "StoreError",
    "StoreVersionError", "arrow_schema", "load_migrations", "restoring_path", "statement_types", "QueryBusy", "QueryRefused",
    "QueryTooLarge",
]
