"""The store's side of reconciliation: read the calls aggregate, record a run with its rows."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from claudescope.collector.store import sql_reconcile
from claudescope.collector.store.errors import translating


class ReconcileRecords:
    """Mixin of :class:`Store` (uses its connection, write lock and transactions)."""

    _con: duckdb.DuckDBPyConnection
    _write_lock: threading.Lock
    _transaction: Callable[[Callable[[], Any]], Any]
    _check_open: Callable[[], None]
    read_arrow: Callable[..., pa.Table]

    @translating
    def reconcile_calls(self, since: date, until: date) -> list[dict[str, Any]]:
        """Billed calls of the UTC days [since, until], aggregated by day, request and response
        model, workspace id, service tier and service (see ``sql_reconcile.CALLS_BY_DAY``)."""
        start = datetime.combine(since, time(), UTC)
        end = datetime.combine(until + timedelta(days=1), time(), UTC)
        return self.read_arrow(sql_reconcile.CALLS_BY_DAY, [start, end]).to_pylist()

    @translating
    def record_reconcile_run(self, run: Sequence[Any], rows: Sequence[Sequence[Any]]) -> None:
        """Insert one ``reconcile_runs`` row and its ``reconciliation`` rows in one transaction
        (values in the tables' column order)."""
        with self._write_lock:
            self._check_open()

            def insert() -> None:
                self._con.execute(sql_reconcile.INSERT_RUN, list(run))
                if rows:
                    self._con.executemany(sql_reconcile.INSERT_ROW, [list(r) for r in rows])

            self._transaction(insert)
