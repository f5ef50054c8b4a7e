"""Group commit: one thread owns ingest writes; requests wait for the commit that holds them.

Requests hand their normalised rows (Arrow) to :meth:`Writer.submit` and get a future that resolves
once the rows are durable (committed to the DuckDB WAL). Pending rows are bounded by
``limits.max_queue_spans``: beyond that ``submit`` raises :class:`QueueFull` and the caller
answers 429 with Retry-After. A failed commit fails every request in it (503) and loses
nothing that was acknowledged.

After a failed commit the writer is unhealthy (``/healthz`` 503) until a write succeeds again: it
probes with a write that changes nothing, with a back-off, and when DuckDB has invalidated the
database (a checkpoint that hit a full disk) it reopens the store, which replays the WAL.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import pyarrow as pa

from claudescope.collector.metrics import Metrics
from claudescope.collector.stacking import StackIndex
from claudescope.collector.store import Store

log = logging.getLogger(__name__)
_MAX_COMMIT_ROWS = 50_000  # keeps one transaction (and its memory) bounded under a backlog
# Rows that make a commit worth doing at once: a commit has a fixed cost (statements, WAL sync)
# that a larger one spreads over more rows (bench/bench_ingest.py).
_GROUP_ROWS = 2048
# Rollups are folded in at most this often under load (one GROUP BY over many commits' rows
# instead of one per commit), and when the writer falls idle; readers use the exact *_live views.
_FOLD_EVERY_S = 1.0
_IDLE_S = 0.2
# Folds append deltas: every so often the buckets they touched are rewritten one row per group.
_COMPACT_EVERY_S = 30.0
# Back-off between attempts to get a failing store writable again (probe or reopen).
_RECOVER_FIRST_S = 0.5
_RECOVER_MAX_S = 15.0
# Less free space than this beside the store and it cannot take a commit: report it at once.
_MIN_FREE_BYTES = 64 * 1024


class QueueFull(RuntimeError):
    """The write queue cannot take more rows right now (answer 429/503 with Retry-After)."""


class WriterStopped(RuntimeError):
    """The writer is shutting down or its store failed."""


@dataclass(slots=True)
class _Pending:
    table: pa.Table
    future: Future[int] = field(default_factory=Future)

    @property
    def rows(self) -> int:
        return self.table.num_rows


class Writer:
    """The single ingest writer thread."""

    def __init__(self, store: Store, metrics: Metrics, *, max_queue_rows: int, commit_interval_ms: int, stack: StackIndex | None = None) -> None:
        self._store = store
        self._metrics = metrics
        self._max_rows = max_queue_rows
        self._interval = commit_interval_ms / 1000.0
        self._stack = stack or StackIndex()
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._stopping = False
        self._alive = True  # False while DuckDB has invalidated the database (reopen pending)
        self._write_ok = True  # the last commit (or probe) succeeded
        self._recover_delay = _RECOVER_FIRST_S
        self._recover_at = 0.0
        self._last_fold = self._last_compaction = time.monotonic()
        # Rows committed without a fold, or folds not compacted; at start, a crash may have left both.
        self._housekeeping_due = True
        self._thread = threading.Thread(target=self._run, name="claudescope-writer", daemon=True)

    @property
    def healthy(self) -> bool:
        """True when the store takes writes: the last write succeeded and the disk has room."""
        return self._alive and self._write_ok and self._disk_has_room()

    def _disk_has_room(self) -> bool:
        try:
            return shutil.disk_usage(self._store.path.parent).free >= _MIN_FREE_BYTES
        except OSError:
            return False

    @property
    def queue_depth(self) -> int:
        """Rows waiting for the next commit."""
        return self._pending_rows

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, table: pa.Table) -> Future[int]:
        """Queue rows for the next commit; the future resolves to the stored count when durable.

        Raises:
            QueueFull: the queue is at its bound.
            WriterStopped: shutting down, or the store is failing.
        """
        with self._cond:
            if self._stopping:
                raise WriterStopped("collector is shutting down")
            if not self._alive:
                raise WriterStopped("store is failing (reopening it); retry later")
            if self._pending_rows and self._pending_rows + table.num_rows > self._max_rows:
                raise QueueFull(f"write queue full ({self._pending_rows} rows pending)")
            item = _Pending(table)
            self._pending.append(item)
            self._pending_rows += table.num_rows
            self._cond.notify()
            return item.future

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            items = self._take()
            if items is None:
                break
            if items:
                self._commit(items)
            elif not (self._alive and self._write_ok):
                self._recover()
            else:
                self._housekeep(compact=True)
        if self._alive:
            self._housekeep(compact=False)

    def _take(self) -> list[_Pending] | None:
        """The next commit's items; [] when the writer fell idle with housekeeping due; None
        when stopping with nothing queued."""
        with self._cond:
            while not self._pending and not self._stopping:
                if not self._cond.wait(self._idle_timeout()) and not self._pending:
                    return []
            if not self._pending:
                return None
        # Let concurrent requests join this commit: one WAL sync for all of them. A batch already
        # big enough to amortise the commit goes now: waiting longer would only add latency (and
        # exporters that wait for their 200 before sending more cannot add rows meanwhile).
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._pending_rows >= _GROUP_ROWS, self._interval)
            taken, rows = [], 0
            while self._pending and (not taken or rows + self._pending[0].rows <= _MAX_COMMIT_ROWS):
                item = self._pending.pop(0)
                taken.append(item)
                rows += item.rows
            return taken

    def _idle_timeout(self) -> float | None:
        """How long the idle writer may sleep: until recovery or housekeeping is due."""
        if not (self._alive and self._write_ok):
            return max(0.0, self._recover_at - time.monotonic())
        return _IDLE_S if self._housekeeping_due else None

    def _recover(self) -> None:
        """One attempt to make the failing store writable again; backs off on failure."""
        if time.monotonic() < self._recover_at:
            return
        try:
            if not self._alive:
                self._store.reopen()
                self._alive = True
            self._store.probe_write()
        except Exception as exc:
            self._alive = self._store.alive()
            self._recover_at = time.monotonic() + self._recover_delay
            self._recover_delay = min(self._recover_delay * 2, _RECOVER_MAX_S)
            log.warning("store still not writable (next try in %.1f s): %s", self._recover_at - time.monotonic(), _first_line(exc))
            return
        self._write_ok = True
        self._recover_delay = _RECOVER_FIRST_S
        self._housekeeping_due = True
        log.warning("store is writable again")

    def _failed(self) -> None:
        """After a failed write: unhealthy until a probe or commit succeeds."""
        self._write_ok = False
        self._alive = self._store.alive()
        self._recover_at = time.monotonic() + self._recover_delay

    def _commit(self, items: list[_Pending]) -> None:
        started = time.perf_counter()
        count = sum(i.rows for i in items)
        try:
            table = items[0].table if len(items) == 1 else pa.concat_tables([i.table for i in items])
            table, superseded = self._stack.resolve(table)
            keys = pa.table({"trace_id": [k[0] for k in superseded], "span_id": [k[1] for k in superseded]}, schema=pa.schema([("trace_id", pa.string()), ("span_id", pa.string())]))
            now = time.monotonic()
            fold = now - self._last_fold >= _FOLD_EVERY_S
            self._store.insert_spans(table, keys, fold=fold)
            if fold:
                self._last_fold = now
            self._housekeeping_due = True
        except Exception as exc:  # the disk or the store failed: nothing in this commit is acknowledged
            log.error("commit of %d rows failed: %s", count, _first_line(exc))
            self._metrics.count_commit(rows=0, seconds=0.0, ok=False)
            self._release(count)
            for item in items:
                item.future.set_exception(WriterStopped(f"store write failed: {_first_line(exc)}"))
            self._failed()
            return
        self._metrics.count_commit(rows=count, seconds=time.perf_counter() - started, ok=True)
        self._write_ok = True
        self._recover_delay = _RECOVER_FIRST_S
        self._release(count)
        for item in items:
            item.future.set_result(item.rows)
        if time.monotonic() - self._last_compaction >= _COMPACT_EVERY_S:
            self._housekeep(compact=True)  # sustained load never leaves the writer idle

    def _housekeep(self, *, compact: bool) -> None:
        """Fold the rollups and, with ``compact`` and when due, compact them. A failure is logged
        and retried later; it loses nothing (the live views and the next fold cover it)."""
        try:
            self._store.fold_rollups()
            self._last_fold = time.monotonic()
            if compact and self._last_fold - self._last_compaction >= _COMPACT_EVERY_S:
                removed = self._store.compact_rollups()
                self._last_compaction = time.monotonic()
                self._housekeeping_due = False
                log.debug("rollup compaction removed %d rows", removed)
        except Exception as exc:
            log.warning("rollup maintenance failed (will retry): %s", _first_line(exc))
            self._failed()  # an auto-checkpoint that hit a full disk lands here too

    def _release(self, count: int) -> None:
        with self._cond:
            self._pending_rows -= count


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__

