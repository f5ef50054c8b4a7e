"""SQL of the store's writes: ingest, supersession, retention, repricing and bulk loads.

Table and view names come from the store's own constants or were checked by the caller;
values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

from claudescope.collector.columns import CALLS_TABLE

CALL_KEY = ("trace_id", "span_id")


def insert_calls(source: str) -> str:
    """Insert every row of the registered ``source``."""
    return f"INSERT INTO {CALLS_TABLE} BY NAME SELECT * FROM {source}"


def insert_new_calls(source: str) -> str:
    """Insert the rows of ``source`` whose key is not stored yet, returning their keys."""
    return f"INSERT OR IGNORE INTO {CALLS_TABLE} BY NAME SELECT * FROM {source} RETURNING trace_id, span_id"


def folded_rows_of(keys: str) -> str:
    """The stored, not superseded rows keyed in ``keys`` that a fold has reached ($1 = watermark)."""
    return (f"SELECT c.* FROM {CALLS_TABLE} AS c JOIN {keys} AS k USING (trace_id, span_id) "
            "WHERE NOT c.superseded AND c.ingested_at <= $1")


def mark_superseded(keys: str) -> str:
    """Mark the rows keyed in ``keys`` superseded (they leave the calls view)."""
    return (f"UPDATE {CALLS_TABLE} AS c SET superseded = true FROM {keys} AS k "
            "WHERE c.trace_id = k.trace_id AND c.span_id = k.span_id")


REPRICE_BOUNDS = "bounds"  # a reprice's column of JSON patches for an estimate's bounds


def update_costs(source: str, columns: Sequence[str]) -> str:
    """Set ``columns`` of the rows keyed in ``source`` to its values (a reprice); a non-NULL
    ``REPRICE_BOUNDS`` value is merged into the row's attributes (RFC 7386: null drops a key)."""
    sets = ", ".join(
        f"attributes = CASE WHEN k.{c} IS NULL THEN c.attributes ELSE json_merge_patch(c.attributes, k.{c}) END"
        if c == REPRICE_BOUNDS else f"{c} = k.{c}"
        for c in columns if c not in CALL_KEY
    )
    return (f"UPDATE {CALLS_TABLE} AS c SET {sets} FROM {source} AS k "
            "WHERE c.trace_id = k.trace_id AND c.span_id = k.span_id")


DELETE_CALLS_BEFORE = f"DELETE FROM {CALLS_TABLE} WHERE start_time < ?"
# Claude Code's metric points carry sessions and users as calls do: retention drops them alike.
DELETE_METRIC_POINTS_BEFORE = "DELETE FROM claude_code_metric_points WHERE time < ?"


def append_into(table: str, source: str) -> str:
    """Append ``source`` into ``table`` by column name (``table`` checked by the caller)."""
    return f"INSERT INTO {table} BY NAME SELECT * FROM {source}"
