"""Claude Code's metric data points (``claude_code_metric_points``, migration 0005): the store's writes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from claudescope.collector.store.core import Store

METRIC_POINT_COLUMNS = ("series", "metric", "session_id", "model", "user_id", "cumulative", "start_time", "time", "value",
                        "start_unix_nano", "time_unix_nano")
_ROW = "(" + ", ".join("?" for _ in METRIC_POINT_COLUMNS) + ")"
# One statement per export request keeps the write atomic and small (a few points a minute per developer).
_MAX_ROWS_PER_STATEMENT = 500


def insert_metric_points(store: Store, rows: Sequence[tuple[Any, ...]]) -> None:
    """Durably store ``rows`` (``METRIC_POINT_COLUMNS`` order); a point already stored is kept as it is."""
    for at in range(0, len(rows), _MAX_ROWS_PER_STATEMENT):
        chunk = rows[at:at + _MAX_ROWS_PER_STATEMENT]
        sql = (f"INSERT OR IGNORE INTO claude_code_metric_points ({', '.join(METRIC_POINT_COLUMNS)}) VALUES "
               + ", ".join(_ROW for _ in chunk))
        store.execute(sql, [value for row in chunk for value in row])
