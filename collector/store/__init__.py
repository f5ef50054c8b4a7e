"""The DuckDB store: the only package of claudescope that talks to DuckDB.

``core`` opens the file, applies migrations and does ingest writes and reads; ``rollup_upkeep``
keeps the rollup tables folded in and compacted behind ingest.
"""

from claudescope.collector.columns import CALLS_ARROW_SCHEMA, CALLS_TABLE, EXTRA_COLUMNS, SPANS_ARROW_SCHEMA, arrow_schema
from claudescope.collector.migration_files import load_migrations
from claudescope.collector.store.core import QueryTimeout, Store, StoreError, StoreVersionError, statement_types

__all__ = [
    "CALLS_ARROW_SCHEMA", "CALLS_TABLE", "EXTRA_COLUMNS", "SPANS_ARROW_SCHEMA", "QueryTimeout", "Store", "StoreError",
    "StoreVersionError", "arrow_schema", "load_migrations", "statement_types",
]
