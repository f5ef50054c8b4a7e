"""The Store's upkeep of the rollup tables: folding new calls in behind ingest, compacting
the buckets folds touched, rebuilding after a reprice or a bulk load (SQL in sql_rollups.py).

Every commit stamps its rows' ``ingested_at`` with a strictly increasing time; calls stamped at
or before ``rollup_state.rolled_through`` are in the rollups, the ``*_live`` views add the rest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from claudescope.collector.store import sql_rollups, sql_writes
from claudescope.collector.store.errors import translating
from claudescope.collector.store.sql_rollups import ROLLUPS, Rollup, calls_after

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)


class RollupUpkeep:
    """Mixed into Store, whose connection, write lock and transactions it uses."""

    _con: duckdb.DuckDBPyConnection
    _write_lock: threading.Lock
    _check_open: Callable[[], None]
    _transaction: Callable[[Callable[[], Any]], Any]
    _unregister: Callable[[str], None]
    _checkpoint_locked: Callable[[], bool]

    def _init_rollup_state(self) -> None:
        # Start times of calls whose rollup rows were added since the last fold / compaction
        # say which buckets a compaction must rewrite.
        self._stamp = _EPOCH
        self._rolled_through = _EPOCH
        self._unfolded_from: datetime | None = None
        self._uncompacted_from: datetime | None = None

    def _load_rollup_state(self) -> None:
        cur = self._con.cursor()
        try:
            stamp, rolled = cur.execute(sql_rollups.LOAD_STATE).fetchone()
            self._stamp = max(self._stamp, stamp or _EPOCH)
            self._rolled_through = rolled or _EPOCH
            if self._stamp > self._rolled_through:  # left by a crash or a bulk load
                oldest = cur.execute(sql_rollups.first_unfolded_start(), [self._rolled_through]).fetchone()[0]
                self._unfolded_from = _earliest(self._unfolded_from, oldest)
        finally:
            cur.close()

    def _note_unfolded(self, calls: pa.Table) -> None:
        """Remember the oldest bucket ``calls`` add rollup rows to (for the next compaction)."""
        if calls.num_rows:
            self._unfolded_from = _earliest(self._unfolded_from, pc.min(calls["start_time"]).as_py())

    @translating
    def fold_rollups(self) -> None:
        """Bring the rollup tables up to every stored call (one transaction; no-op if they are)."""
        with self._write_lock:
            self._check_open()
            self._folded(self._transaction(self._fold))

    def _fold(self) -> datetime | None:
        """In the open transaction: append the rollup deltas of calls stamped after the last
        fold. Returns the stamp folded through (None when there was nothing to fold)."""
        if self._stamp <= self._rolled_through:
            return None
        for rollup in ROLLUPS:
            self._con.execute(rollup.insert(calls_after("$1")), [self._rolled_through])
        return self._mark_folded()

    def _folded(self, through: datetime | None) -> None:
        """After a commit: the fold through ``through`` (if any) is durable."""
        if through is not None:
            self._rolled_through = through
            self._uncompacted_from = _earliest(self._uncompacted_from, self._unfolded_from)
            self._unfolded_from = None

    def _subtract(self, calls: pa.Table) -> None:
        """Take folded ``calls`` rows back out of the rollups (they left the calls view)."""
        if not calls.num_rows:
            return
        name = f"roll_{threading.get_ident()}"
        self._con.register(name, calls)
        try:
            for rollup in ROLLUPS:
                self._con.execute(rollup.insert(name, sign=-1))
        finally:
            self._unregister(name)
        self._note_unfolded(calls)

    @translating
    def compact_rollups(self) -> int:
        """Rewrite the rollup buckets that folds touched since the last compaction as one row
        per group (folds append deltas: under load one group gets a row per fold). Returns the
        rows removed."""
        with self._write_lock:
            self._check_open()
            since = self._uncompacted_from
            if since is None:
                return 0
            start = _bucket_start(since, "hour")
            removed = self._transaction(lambda: sum(self._compact_one(rollup, start) for rollup in ROLLUPS))
            self._uncompacted_from = None
            return removed

    def _compact_one(self, rollup: Rollup, start: datetime) -> int:
        """Compact ``rollup`` from ``start`` on, a UTC day of buckets per pass (bounded memory,
        as in :meth:`_rebuild_one`); returns the rows removed."""
        merge, delete, insert = rollup.compact()
        removed = 0
        for first, end in self._day_slices(rollup.first_bucket_since(), start):
            self._con.execute(merge, [first, end])
            removed += int(self._con.execute(delete, [first, end]).fetchone()[0])
            removed -= int(self._con.execute(insert).fetchone()[0])
        self._con.execute(sql_rollups.DROP_COMPACT)
        return removed

    @translating
    def rebuild_rollups(self, since: datetime | None = None) -> None:
        """Recompute the rollups from ``calls`` (after a reprice or a bulk load), from ``since`` on."""
        with self._write_lock:
            self._check_open()
            self._rebuild_locked(since, lambda: None)

    @translating
    def reprice_costs(self, costs: pa.Table, since: datetime | None) -> None:
        """Write recomputed costs (trace_id, span_id, cost columns, price_version) and rebuild
        the rollups from ``since`` on, in ONE transaction, then checkpoint: a crash leaves every
        cost old or every cost new, with rollups that agree, and success means durable."""
        with self._write_lock:
            self._check_open()
            name = f"costs_{threading.get_ident()}"
            self._con.register(name, costs)
            try:
                update = sql_writes.update_costs(name, costs.column_names)
                self._rebuild_locked(since, lambda: self._con.execute(update))
            finally:
                self._unregister(name)
            self._checkpoint_locked()

    def _rebuild_locked(self, since: datetime | None, first: Callable[[], Any]) -> None:
        """Under the write lock: one transaction running ``first`` then the rebuild."""
        self._load_rollup_state()  # rows may have come in by plain SQL or load_arrow

        def rebuild() -> datetime | None:
            first()
            # A full rebuild covers every call; a partial one needs older calls folded first.
            folded = self._fold() if since is not None else self._mark_folded()
            for rollup in ROLLUPS:
                self._rebuild_one(rollup, since or _EPOCH)
            return folded

        self._folded(self._transaction(rebuild))
        if since is None:
            self._uncompacted_from = None  # rebuilt buckets hold one row per group

    @translating
    def verify_rollups(self) -> bool:
        """Check that the rollup tables hold exactly the folded calls (count and cost), and
        rebuild them when they do not (left by a crash of an older release, or a hand edit).
        Returns True when they agreed."""
        cur = self._con.cursor()
        try:
            expected = cur.execute(sql_rollups.FOLDED_TOTALS).fetchone()
            found = {r.table: cur.execute(r.totals()).fetchone() for r in ROLLUPS}
        finally:
            cur.close()
        wrong = {table: got for table, got in found.items() if tuple(got) != tuple(expected)}
        if not wrong:
            return True
        log.warning("rollups disagree with calls (calls %s, %s); rebuilding them", tuple(expected), wrong)
        self.rebuild_rollups()
        return False

    def _mark_folded(self) -> datetime:
        self._con.execute(sql_rollups.MARK_FOLDED, [self._stamp])
        return self._stamp

    def _rebuild_one(self, rollup: Rollup, start: datetime) -> None:
        """Recompute ``rollup``'s buckets from the one holding ``start`` on, a day of calls per
        statement: one GROUP BY over all of history outgrows the store's memory limit (10 M
        calls did at 1 GB)."""
        start = _bucket_start(start, rollup.bucket)
        self._con.execute(rollup.delete_from(), [start])
        for first, end in self._day_slices(sql_rollups.FIRST_CALL_SINCE, start):
            self._con.execute(rollup.insert(sql_rollups.CALLS_IN_RANGE), [_bucket_start(first, rollup.bucket), end])

    def _day_slices(self, first_since_sql: str, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """(first, next UTC midnight) for each UTC day from ``start`` on that has data, where
        ``first_since_sql`` finds the first moment with data at or after its parameter; days
        without data are skipped."""
        first = self._con.execute(first_since_sql, [start]).fetchone()[0]
        while first is not None:
            end = _next_day(first)
            yield first, end
            first = self._con.execute(first_since_sql, [end]).fetchone()[0]


def _next_day(moment: datetime) -> datetime:
    """The UTC midnight after ``moment``."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + _DAY


def _bucket_start(moment: datetime, bucket: str) -> datetime:
    """The start of the UTC ``bucket`` ('minute' or 'hour') holding ``moment``."""
    moment = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return moment.replace(minute=0) if bucket == "hour" else moment


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)
