"""The store's side of reconciliation and of the Admin API data the collector keeps (SQL in
sql_reconcile.py): read the calls aggregate, record a run with its rows, tell when the last run
finished, and replace the polled spend limits whole."""

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
    scalar: Callable[..., Any]

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
        self._one_then_many(sql_reconcile.INSERT_RUN, run, sql_reconcile.INSERT_ROW, rows)

    @translating
    def last_finished_reconcile_at(self) -> datetime | None:
        """When the most recent reconcile run that finished (any trigger) ran; None if none did."""
        value = self.scalar(sql_reconcile.LAST_FINISHED_RECONCILE)
        return value if isinstance(value, datetime) else None

    @translating
    def replace_spend_limits(self, rows: Sequence[Sequence[Any]]) -> None:
        """Replace every ``spend_limits`` row with ``rows`` (columns as
        ``sql_reconcile.SPEND_LIMIT_COLUMNS``) in one transaction: readers see the old set or
        the new one, never a mix or an empty table."""
        self._one_then_many(sql_reconcile.DELETE_SPEND_LIMITS, (), sql_reconcile.INSERT_SPEND_LIMIT, rows)

    def _one_then_many(self, sql: str, params: Sequence[Any], row_sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql`` once, then ``row_sql`` for each of ``rows``, in one write transaction."""
        with self._write_lock:
            self._check_open()

            def work() -> None:
                self._con.execute(sql, list(params))
                if rows:
                    self._con.executemany(row_sql, [list(r) for r in rows])

            self._transaction(work)
