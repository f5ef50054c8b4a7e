"""The stored row shapes as Arrow schemas, free of DuckDB so ingest workers need not import it.

Built from ``claudescope.schema`` (the one definition of the ``calls`` columns) plus the
collector's bookkeeping columns of ``call_spans``.
"""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa

from claudescope.schema import CALL_COLUMNS, Column

# Bookkeeping columns of call_spans after the schema.py columns.
EXTRA_COLUMNS: tuple[Column, ...] = (
    Column("parent_span_id", "VARCHAR", "parent span id (hex), for stacked-producer matching"),
    Column("source_rank", "TINYINT", "producer preference, lower wins"),
    Column("superseded", "BOOLEAN", "another producer's copy of the same call is preferred"),
    Column("ingested_at", "TIMESTAMPTZ", "when the collector committed it"),
)

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "JSON": pa.string(),
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "TINYINT": pa.int8(),
    "DECIMAL(18,9)": pa.decimal128(18, 9),
}


def arrow_schema(columns: Iterable[Column]) -> pa.Schema:
    """Arrow schema for ``columns`` (built from claudescope.schema, the one definition)."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.sql_type]) for c in columns])


CALLS_ARROW_SCHEMA = arrow_schema(CALL_COLUMNS)
SPANS_ARROW_SCHEMA = arrow_schema((*CALL_COLUMNS, *EXTRA_COLUMNS))
# The table of every producer's copy of a call (the ``calls`` view shows the preferred ones).
CALLS_TABLE = "call_spans"
