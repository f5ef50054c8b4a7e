"""The allow-list check of user SQL, on DuckDB's own parse tree (``json_serialize_sql``).

A user query may name only the store's own tables and views, its own CTEs, a few table
functions that only generate rows, and catalog functions other than those with side effects or
that show the server (``checkpoint``, ``query``, ``current_setting`` of a path, ``nextval`` ...).
Value generators (``range``, ``repeat``, ``lpad`` ...) given literal sizes must stay small.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import duckdb

from claudescope.collector.store.errors import QueryRefused

# Table functions that only generate rows; everything else (files, settings, catalog, checkpoint,
# query(), logging switches ...) is refused.
TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
# Binder-level functions that are not catalog entries.
SPECIAL_CALLABLES = frozenset({"unnest", "unlist", "grouping", "grouping_id", "columns", "row"})
# Callable functions with a side effect, that run SQL text, or that show the server.
DENIED_FUNCTIONS = frozenset({
    "current_setting", "getvariable", "getenv", "nextval", "currval", "setseed", "write_log",
    "json_execute_serialized_sql", "query", "query_table", "which_secret", "checkpoint", "force_checkpoint",
})
DENIED_PREFIXES = ("read_", "pragma_", "duckdb_", "parquet_", "glob", "sniff_", "enable_", "disable_")
# current_setting() is allowed for these only (no path settings).
SAFE_SETTINGS = frozenset({"timezone", "calendar"})
# Functions that make a value of a size given by one argument: (argument index, what it counts).
GENERATORS = {
    "range": (-1, "elements"), "generate_series": (-1, "elements"), "repeat": (1, "copies"),
    "lpad": (1, "characters"), "rpad": (1, "characters"), "list_resize": (1, "elements"),
    "array_resize": (1, "elements"), "bar": (3, "characters"),
}
MAX_GENERATED = 1_000_000

def statement_types(sql: str) -> list[str]:
    """DuckDB's own parse of ``sql`` into statement type names (e.g. ``["SELECT"]``).

    Raises:
        ValueError: the text does not parse.
    """
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    return [s.type.name for s in statements]


class SqlGuard:
    """The allow-list of one store, read from its catalog once."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'window', 'macro')"
        ).fetchall()
        self.callables = frozenset(r[0] for r in rows if _allowed_callable(r[0])) | SPECIAL_CALLABLES
        self.catalog = str(con.execute("SELECT lower(current_database())").fetchone()[0])
        self.tables = frozenset(r[0] for r in con.execute(
            "SELECT lower(table_name) FROM duckdb_tables() WHERE NOT internal AND database_name = current_database() "
            "UNION SELECT lower(view_name) FROM duckdb_views() WHERE NOT internal AND database_name = current_database()"
        ).fetchall())

    def check(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        """Raise QueryRefused unless every table and function ``sql`` names is allowed."""
        raw = con.execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchone()[0]
        tree = json.loads(raw)
        if tree.get("error"):
            raise QueryRefused(f"query not supported: {tree.get('error_message', 'unparsable')}")
        ctes = {str(k).lower() for k in _cte_names(tree)}
        stack: list[Any] = [tree]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                stack.extend(self._check_node(item, ctes))

    def _check_node(self, node: dict[str, Any], ctes: set[str]) -> list[Any]:
        """Check one parse-tree node; return the children still to check."""
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function") or {}
            name = _name(function)
            if name not in TABLE_FUNCTIONS:
                raise QueryRefused(f"table function {name}() is not allowed in queries")
            # Its arguments are expressions to check; the function node itself is not a scalar call.
            return [function.get("arguments") or [], node.get("sample")]
        if kind == "BASE_TABLE":
            self._check_table(node, ctes)
        elif "function_name" in node and node.get("class") in ("FUNCTION", "WINDOW"):
            self._check_call(node)
        return list(node.values())

    def _check_table(self, node: dict[str, Any], ctes: set[str]) -> None:
        name = str(node.get("table_name", "")).lower()
        schema = str(node.get("schema_name", "")).lower()
        catalog = str(node.get("catalog_name", "")).lower()
        own = schema in ("", "main") and catalog in ("", self.catalog)
        if not (own and (name in self.tables or (not schema and not catalog and name in ctes))):
            raise QueryRefused(f"{name} is not a table of the store (tables: calls, alert_events, ...)")

    def _check_call(self, node: dict[str, Any]) -> None:
        name = _name(node)
        args = [a.get("expression", a) for a in node.get("arguments") or node.get("children") or []]
        if name == "current_setting":
            setting = _literal(args[0]) if args else None
            if not isinstance(setting, str) or setting.lower() not in SAFE_SETTINGS:
                raise QueryRefused(f"current_setting() is allowed only for {', '.join(sorted(SAFE_SETTINGS))}")
            return
        if name not in self.callables:
            raise QueryRefused(f"function {name}() is not allowed in queries")
        _check_generator(name, args)


def _allowed_callable(name: str) -> bool:
    return name not in DENIED_FUNCTIONS and not name.startswith(DENIED_PREFIXES)


def _check_generator(name: str, args: list[dict[str, Any]]) -> None:
    if name not in GENERATORS or not args:
        return
    index, unit = GENERATORS[name]
    if name in ("range", "generate_series"):
        values = [_literal(a) for a in args]
        if all(isinstance(v, int) for v in values) and len(values) <= 2:
            size = values[-1] - (values[0] if len(values) == 2 else 0)
            if size > MAX_GENERATED:
                raise QueryRefused(f"{name}() would make {size} {unit}; the limit is {MAX_GENERATED}")
        return
    value = _literal(args[index]) if index < len(args) else None
    if isinstance(value, int) and value > MAX_GENERATED:
        raise QueryRefused(f"{name}() would make {value} {unit}; the limit is {MAX_GENERATED}")


def _name(node: dict[str, Any]) -> str:
    return str(node.get("function_name", "")).lower()


def _literal(node: dict[str, Any]) -> Any:
    if node.get("class") == "CAST":
        return _literal(node.get("child") or {})
    if node.get("class") != "CONSTANT":
        return None
    value = node.get("literal") or {}
    text = value.get("text")
    if value.get("kind") in ("INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "DECIMAL", "DOUBLE"):
        try:
            return int(float(text))
        except (TypeError, ValueError):
            return None
    return text


def _nodes(tree: Any) -> Iterator[dict[str, Any]]:
    stack = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _cte_names(tree: Any) -> Iterator[str]:
    for node in _nodes(tree):
        cte_map = node.get("cte_map")
        if isinstance(cte_map, dict):
            yield from (entry.get("key", "") for entry in cte_map.get("map") or [])
