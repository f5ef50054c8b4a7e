"""Read queries against the store: the user-query guard and its time, memory and size limits.

User SQL (the query API, ``claudescope sql``) passes three checks (``sql_guard``) before it runs:

* DuckDB's own parser sees exactly one SELECT (:func:`statement_types`);
* every function and table it names is on an allow-list derived from its parse tree
  (``json_serialize_sql``): the store's own tables and views, the statement's CTEs, a few
  table functions that only generate rows, and catalog functions minus those with side effects
  or that show the server (``checkpoint``, ``query``, ``current_setting``, ``nextval``, ...);
* value generators (``range``, ``repeat``, ``lpad`` ...) given literal sizes stay small.

While it runs, a watchdog interrupts it when the process's resident memory passes a soft budget,
and the answer is fetched batch by batch under a row cap and a byte cap. DuckDB's own
``memory_limit`` does not bound list and string vectors, and one vector operation cannot be
interrupted, so while user queries run the growth of the process's data segment is capped too
(:class:`MemoryCap`).
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from claudescope.collector.store.errors import (
    QueryBusy, QueryFailed, QueryRefused, QueryTimeout, QueryTooLarge, translating,
)
from claudescope.collector.store.sql_guard import SqlGuard, statement_types

__all__ = ["QueryBusy", "QueryRefused", "QueryTimeout", "QueryTooLarge", "ReadQueries", "statement_types"]

USER_QUERY_SLOTS = 1
WATCH_EVERY_S = 0.02
BATCH_ROWS = 2048
_PAGE = resource.getpagesize()


def resident_bytes() -> int:
    """The process's resident memory (RSS)."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def data_bytes() -> int:
    """The process's data segment (VmData + stack): what RLIMIT_DATA counts."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[5]) * _PAGE


class MemoryCap:
    """While user queries run, cap the growth of the process's data segment (RLIMIT_DATA).

    One vector operation (a cast, ``repeat`` of a computed count ...) cannot be interrupted, so a
    watchdog alone is too late for it; with the cap, its allocation fails inside DuckDB as an
    out-of-memory error instead of the kernel killing the collector. The cap is lifted when the
    last query ends, because DuckDB's allocator keeps freed address space mapped: a permanent cap
    would leave the rest of the process (ingest) without room after one big query.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: tuple[int, int] | None = None

    def enter(self, budget_bytes: int) -> None:
        """A user query starts: cap new mappings at what the budget has left (0 = no cap)."""
        with self._lock:
            self._running += 1
            if self._running > 1 or budget_bytes <= 0:
                return
            soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
            limit = data_bytes() + max(budget_bytes - resident_bytes(), 0)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
            self._saved = (soft, hard)

    def exit(self) -> None:
        """A user query ended: the last one out lifts the cap."""
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._saved is not None:
                resource.setrlimit(resource.RLIMIT_DATA, self._saved)
                self._saved = None


class MemoryWatch:
    """Interrupts one cursor when the process's resident memory passes ``soft_bytes``.

    RSS, not the data segment: the allocator keeps freed address space mapped, so the data
    segment stays high after a big query and would trip every later one.
    """

    def __init__(self, cursor: duckdb.DuckDBPyConnection, soft_bytes: int) -> None:
        self.tripped = False
        self._cursor = cursor
        self._soft = soft_bytes
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="claudescope-query-watch", daemon=True)

    def __enter__(self) -> MemoryWatch:
        if self._soft > 0:
            self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(WATCH_EVERY_S):
            if resident_bytes() > self._soft:
                self.tripped = True
                self._cursor.interrupt()
                return


class ReadQueries:
    """The Store's read side (mixed into Store: needs ``_con`` and ``_check_open``)."""

    _con: duckdb.DuckDBPyConnection
    _check_open: Callable[[], None]

    def _init_read_state(self) -> None:
        self._query_slots = threading.BoundedSemaphore(USER_QUERY_SLOTS)
        self._guard: SqlGuard | None = None
        self._guard_lock = threading.Lock()
        self._memory_cap = MemoryCap()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        self._check_open()
        return self._con.cursor()

    @translating
    def read_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a read query on its own cursor and return the result as Arrow (thread-safe)."""
        cur = self._cursor()
        try:
            return cur.sql(sql, params=list(params) or None).to_arrow_table()
        finally:
            cur.close()

    def check_user_sql(self, sql: str) -> None:
        """Raise QueryRefused unless ``sql`` is one SELECT naming only allowed tables and functions."""
        try:
            types = statement_types(sql)
        except ValueError as exc:
            raise QueryRefused(f"SQL does not parse: {exc}") from None
        if types != ["SELECT"]:
            raise QueryRefused(f"only one SELECT / WITH query is allowed, not {', '.join(types) or 'nothing'}")
        cur = self._cursor()
        try:
            self._sql_guard(cur).check(cur, sql)
        finally:
            cur.close()

    def _sql_guard(self, cur: duckdb.DuckDBPyConnection) -> SqlGuard:
        with self._guard_lock:
            if self._guard is None:
                self._guard = SqlGuard(cur)
            return self._guard

    def query_limited(
        self, sql: str, *, timeout_s: float, max_rows: int, max_answer_bytes: int = 64 << 20,
        max_memory_bytes: int = 0, encode: Callable[[pa.Table, bool, float], bytes] | None = None,
    ) -> tuple[pa.Table, bool] | tuple[bytes, bool]:
        """Run a user query under a time limit, a row cap, an answer-size cap and a memory budget.

        Returns (table, truncated), or (encode(table, truncated, deadline), truncated) when ``encode`` is
        given, so that building the answer counts against the same time limit. Raises
        QueryRefused, QueryTimeout, QueryTooLarge, QueryBusy, or duckdb errors as ValueError.
        """
        self.check_user_sql(sql)
        if not self._query_slots.acquire(timeout=timeout_s):
            raise QueryBusy(f"{USER_QUERY_SLOTS} queries already running; retry later")
        try:
            deadline = time.monotonic() + timeout_s
            table, truncated = self._fetch(sql, deadline, timeout_s, max_rows, max_answer_bytes, max_memory_bytes)
            if encode is None:
                return table, truncated
            return encode(table, truncated, deadline), truncated
        finally:
            self._query_slots.release()

    def _fetch(
        self, sql: str, deadline: float, timeout_s: float, max_rows: int, max_bytes: int, max_memory: int,
    ) -> tuple[pa.Table, bool]:
        cur = self._cursor()
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), cur.interrupt)
        timer.daemon = True
        timer.start()
        # The watchdog trips at 80% of the budget so a query is stopped before the hard cap
        # makes allocations fail for ingest too.
        watch = MemoryWatch(cur, int(max_memory * 0.8))
        self._memory_cap.enter(max_memory)
        try:
            with watch:
                return _read_capped(cur.sql(sql).to_arrow_reader(batch_size=BATCH_ROWS), max_rows, max_bytes)
        except (duckdb.Error, pa.ArrowException, OSError, MemoryError) as exc:
            # Errors met while streaming batches arrive through Arrow (ArrowException / OSError).
            raise _query_error(exc, watch.tripped, time.monotonic() >= deadline, timeout_s) from None
        finally:
            self._memory_cap.exit()
            timer.cancel()
            cur.close()


def _query_error(exc: BaseException, memory_tripped: bool, late: bool, timeout_s: float) -> Exception:
    """The exception to answer with for an error raised while a user query ran."""
    text = str(exc)
    if memory_tripped or isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)) or "Out of Memory" in text:
        return QueryTooLarge("query needs more memory than the limit")
    if late or isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in text.upper():
        return QueryTimeout(f"query interrupted after {timeout_s:g} s")
    return QueryFailed(text.splitlines()[0] if text else type(exc).__name__)


def _read_capped(reader: pa.RecordBatchReader, max_rows: int, max_bytes: int) -> tuple[pa.Table, bool]:
    """Batches until the row cap or the byte cap (Arrow buffer sizes) is passed."""
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    truncated = False
    for batch in reader:
        keep = min(batch.num_rows, max_rows - rows)
        if size + batch.nbytes > max_bytes:
            keep = min(keep, _rows_within(batch, max_bytes - size))
        if keep < batch.num_rows:
            batch, truncated = batch.slice(0, keep), True
            if rows + keep == 0 and max_rows > 0:
                raise QueryTooLarge(f"one row of the answer is larger than the {max_bytes} byte limit")
        batches.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if truncated:
            break
    return pa.Table.from_batches(batches, schema=reader.schema), truncated


def _rows_within(batch: pa.RecordBatch, budget: int) -> int:
    """How many leading rows of ``batch`` fit in ``budget`` bytes (bisection on slices)."""
    low, high = 0, batch.num_rows
    while low < high:
        mid = (low + high + 1) // 2
        if _slice_bytes(batch, mid) <= budget:
            low = mid
        else:
            high = mid - 1
    return low


def _slice_bytes(batch: pa.RecordBatch, rows: int) -> int:
    # A slice's nbytes counts only the bytes its rows reach, offsets and children included.
    return batch.slice(0, rows).nbytes
