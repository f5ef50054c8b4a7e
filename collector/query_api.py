"""The read-only SQL guard and result encoding of ``POST /api/v1/query``.

A query passes only if DuckDB's own parser sees exactly one SELECT statement (WITH ... SELECT
parses as SELECT). Defence in depth lives in the store: external access is disabled and the
configuration locked, so even a SELECT cannot read files (read_csv, read_text, ...), attach
databases or change settings; each query has a time limit and a row cap.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from decimal import Decimal
from typing import Any

import pyarrow as pa

from claudescope.collector.store import statement_types

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_SQL_CHARS = 100_000


class QueryRefused(ValueError):
    """The SQL is not a single read-only query (answer 400)."""


def check_sql(sql: Any) -> str:
    """Return ``sql`` if it is exactly one SELECT statement; raise QueryRefused otherwise."""
    if not isinstance(sql, str) or not sql.strip():
        raise QueryRefused('body must be {"sql": "SELECT ..."}')
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRefused(f"query longer than {MAX_SQL_CHARS} characters")
    try:
        types = statement_types(sql)
    except ValueError as exc:
        raise QueryRefused(f"SQL does not parse: {exc}") from None
    if len(types) != 1:
        raise QueryRefused(f"exactly one statement allowed, got {len(types)}")
    if types[0] != "SELECT":
        raise QueryRefused(f"only SELECT / WITH queries are allowed, not {types[0]}")
    return sql


def to_json(table: pa.Table, *, truncated: bool = False) -> bytes:
    """``{"columns": [...], "rows": [[...]]}``: DECIMAL as strings, timestamps ISO 8601 UTC."""
    columns = [_column(table.column(i).type, table.column(i).to_pylist()) for i in range(table.num_columns)]
    rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
    body: dict[str, Any] = {"columns": table.column_names, "rows": rows}
    if truncated:
        body["truncated"] = True
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def to_arrow_ipc(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _column(kind: pa.DataType, values: list[Any]) -> list[Any]:
    if pa.types.is_integer(kind) or pa.types.is_string(kind) or pa.types.is_boolean(kind):
        return values
    return [_jsonable(v) for v in values]


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        # HUGEINT (e.g. sum of a BIGINT column) arrives as a scale-0 decimal: it is an integer.
        if value.as_tuple().exponent == 0:
            return int(value)
        # Fixed-point text keeps DECIMAL(18,9) exact and readable ("0.000000000", not "0E-9").
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)
