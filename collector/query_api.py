"""The request check and result encoding of ``POST /api/v1/query``.

A query passes here only if DuckDB's own parser sees exactly one SELECT statement (WITH ...
SELECT parses as SELECT). The store then checks every table and function the query names
against its allow-list and runs it under a time limit, a memory budget, a row cap and an
answer-size cap (``claudescope.collector.store.readonly``); the answer is encoded here within
the same time limit. Defence in depth: the store's connection has external access disabled and
its configuration locked, so even a SELECT cannot read files, attach databases or change settings.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import time
from decimal import Decimal
from typing import Any

import pyarrow as pa

from claudescope.collector.store import QueryRefused, QueryTimeout, statement_types

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_SQL_CHARS = 100_000
ENCODE_ROWS = 4096

__all__ = ["ARROW_STREAM", "QueryRefused", "check_sql", "to_arrow_ipc", "to_json"]


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


def to_json(table: pa.Table, *, truncated: bool = False, deadline: float | None = None) -> bytes:
    """``{"columns": [...], "rows": [[...]]}``: DECIMAL as strings, timestamps ISO 8601 UTC.

    Encoded a slice of rows at a time; past ``deadline`` (time.monotonic) raises QueryTimeout.
    """
    parts = []
    for start in range(0, table.num_rows, ENCODE_ROWS):
        if deadline is not None and time.monotonic() > deadline:
            raise QueryTimeout("query answer took longer than the time limit to build")
        part = table.slice(start, ENCODE_ROWS)
        columns = [_column(part.column(i).type, part.column(i).to_pylist()) for i in range(part.num_columns)]
        rows = [list(r) for r in zip(*columns, strict=True)] if columns else []
        parts.append(json.dumps(rows, ensure_ascii=False, separators=(",", ":"))[1:-1])
    head = json.dumps(table.column_names, ensure_ascii=False, separators=(",", ":"))
    tail = ',"truncated":true}' if truncated else "}"
    return ('{"columns":' + head + ',"rows":[' + ",".join(p for p in parts if p) + "]" + tail).encode()


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
