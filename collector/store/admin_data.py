"""The Store's writes and reads of the Admin API data the collector keeps for itself
(SQL in sql_spend_limits.py): the spend limits, replaced whole on each poll, and when the last
reconcile run finished."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import duckdb

from claudescope.collector.store import sql_spend_limits
from claudescope.collector.store.errors import translating


class AdminData:
    """Mixed into Store, whose connection, write lock and transactions it uses."""

    _con: duckdb.DuckDBPyConnection
    _write_lock: threading.Lock
    _check_open: Callable[[], None]
    _transaction: Callable[[Callable[[], Any]], Any]
    scalar: Callable[..., Any]

    @translating
    def replace_spend_limits(self, rows: Sequence[Sequence[Any]]) -> None:
        """Replace every ``spend_limits`` row with ``rows`` (columns as
        ``sql_spend_limits.SPEND_LIMIT_COLUMNS``) in one transaction: readers see the old set or
        the new one, never a mix or an empty table."""
        with self._write_lock:
            self._check_open()

            def replace() -> None:
                self._con.execute(sql_spend_limits.DELETE_SPEND_LIMITS)
                if rows:
                    self._con.executemany(sql_spend_limits.INSERT_SPEND_LIMIT, [list(r) for r in rows])

            self._transaction(replace)

    @translating
    def last_finished_reconcile_at(self) -> datetime | None:
        """When the most recent reconcile run that finished (any trigger) ran; None if none did."""
        value = self.scalar(sql_spend_limits.LAST_FINISHED_RECONCILE)
        return value if isinstance(value, datetime) else None
