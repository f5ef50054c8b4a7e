"""The Store: opening, migrations, ingest writes and reads of the one DuckDB file.

One process (the collector) opens the file read-write. Writes (ingest batches, the alert
engine's own tables) are serialized behind one lock; reads get a cursor each, so queries run
concurrently with ingest. Query connections run with external access disabled and the
configuration locked, so no SQL that reaches the query API can touch the file system.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from claudescope.collector.columns import CALLS_ARROW_SCHEMA, SPANS_ARROW_SCHEMA
from claudescope.collector.store import sql_admin, sql_writes
from claudescope.collector.store.errors import QueryRefused, StoreError, StoreUnavailable, first_line, translating
from claudescope.collector.store.health import StoreHealth, connect, restoring_path
from claudescope.collector.store.migrate import migrate
from claudescope.collector.store.migration_files import load_migrations
from claudescope.collector.store.readonly import ReadQueries
from claudescope.collector.store.reconcile_records import ReconcileRecords
from claudescope.collector.store.rollup_upkeep import RollupUpkeep
from claudescope.collector.store.sql_rollups import ROLLUPS

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)
_INGESTED_AT = SPANS_ARROW_SCHEMA.get_field_index("ingested_at")


class Store(RollupUpkeep, StoreHealth, ReadQueries, ReconcileRecords):
    """The collector's DuckDB file. Build with :meth:`open`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
        self._con = con
        self.path = path
        self.read_only = read_only
        self._write_lock = threading.Lock()
        self._listeners: list[Callable[[pa.Table], None]] = []
        self._closed = False
        self._connect_args: dict[str, Any] = {}
        self._init_rollup_state()
        self._init_read_state()

    # --- lifecycle -----------------------------------------------------------------
    @classmethod
    def open(
        cls, path: Path, *, read_only: bool = False, migrations_dir: Path | None = None,
        threads: int | None = None, memory_limit: str | None = "1GB",
    ) -> Store:
        """Open (creating if needed) the store at ``path`` and bring its schema up to date.

        Raises:
            StoreVersionError: the file has migrations this binary does not know (newer store).
            MigrationError: an applied migration's file was edited since.
            StoreUnavailable: the file is locked by another process or unreadable.
            StoreError: no store there (read-only), or migrations pending on a read-only open.
        """
        path = Path(path)
        _refuse_partial_restore(path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StoreUnavailable(f"no store at {path}")
        connect_args = {"threads": threads, "memory_limit": memory_limit}
        try:
            con = connect(path, read_only=read_only, **connect_args)
        except duckdb.Error as exc:
            raise StoreUnavailable(f"cannot open {path}: {first_line(exc)}") from None
        store = cls(con, path, read_only=read_only)
        store._connect_args = connect_args
        try:
            try:
                migrate(con, path, load_migrations(migrations_dir), read_only=read_only)
                store._prepare()
                if not read_only:
                    store.verify_rollups()
            except duckdb.Error as exc:
                raise StoreUnavailable(f"cannot open {path}: {first_line(exc)}") from exc
        except BaseException:
            con.close()
            raise
        return store

    def _prepare(self) -> None:
        """Session settings of a freshly opened connection, and the rollup watermark."""
        self._con.execute(sql_admin.SESSION_UTC)
        self._load_rollup_state()
        for setting in sql_admin.SESSION_LOCKDOWN:  # nothing after this reads or writes other files
            self._con.execute(setting)

    def close(self) -> None:
        """Fold the rollups, checkpoint and close; idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self.read_only:
                    self._transaction(self._fold)
                    self._con.execute(sql_admin.CHECKPOINT)
            except duckdb.Error as exc:  # e.g. a full disk: the WAL holds every commit, replayed at the next open
                log.warning("store %s closed without its final checkpoint: %s", self.path, str(exc).splitlines()[0])
            finally:
                self._con.close()

    @translating
    def applied_migrations(self) -> list[tuple[int, str]]:
        """(version, name) of every migration recorded in the store."""
        return [(int(v), str(n)) for v, n, _ in self._cursor().execute(sql_admin.APPLIED_MIGRATIONS).fetchall()]

    # --- writes --------------------------------------------------------------------
    def subscribe(self, listener: Callable[[pa.Table], None]) -> None:
        """Call ``listener(rows)`` after each durable commit with the new ``calls`` rows (Arrow)."""
        self._listeners.append(listener)

    @translating
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement, serialized with ingest (for the alert engine's tables)."""
        with self._write_lock:
            self._check_open()
            self._con.execute(sql, list(params))

    @translating
    def insert_spans(self, batch: pa.Table, supersede: pa.Table | None = None, *, fold: bool = True) -> pa.Table:
        """Durably insert call rows (SPANS_ARROW_SCHEMA); duplicates of stored keys are ignored.

        ``ingested_at`` is set to this commit's stamp. ``supersede`` holds (trace_id, span_id)
        of stored rows that a better producer's copy in this batch replaces. With ``fold``, the
        rollups catch up in the same transaction (else a later :meth:`fold_rollups` does it;
        the ``*_live`` views are exact either way). Returns the ``calls`` rows actually inserted
        and not superseded, after notifying subscribers.
        """
        with self._write_lock:
            self._check_open()
            con = self._con
            stamp = max(datetime.now(UTC), self._stamp + _TICK)
            batch = batch.set_column(_INGESTED_AT, "ingested_at", pa.repeat(pa.scalar(stamp, SPANS_ARROW_SCHEMA.field(_INGESTED_AT).type), batch.num_rows))
            name = f"batch_{threading.get_ident()}"

            def insert() -> tuple[pa.Table, datetime | None]:
                fresh = _visible_calls(batch, self._insert_new(name))
                self._stamp = stamp  # burnt even if the commit fails: stamps only need to increase
                self._note_unfolded(fresh)
                if supersede is not None and supersede.num_rows:
                    self._mark_superseded(supersede)
                return fresh, self._fold() if fold else None

            con.register(name, batch)
            try:
                fresh, folded = self._transaction(insert)
            finally:
                con.unregister(name)
            self._folded(folded)
        self._notify(fresh)
        return fresh

    def _insert_new(self, name: str) -> list[tuple[str, str]] | None:
        """Insert the registered batch ``name`` in the open transaction, skipping stored keys.

        Returns the keys inserted, or None when every row was (the usual case: a plain insert is
        ~30% cheaper than one that must skip duplicates and report what it inserted, so that
        one runs only after the plain one met a resend).
        """
        con = self._con
        try:
            con.execute(sql_writes.insert_calls(name))
            return None
        except duckdb.ConstraintException:
            con.execute(sql_admin.ROLLBACK)
            con.execute(sql_admin.BEGIN)
        return con.execute(sql_writes.insert_new_calls(name)).fetchall()

    def _transaction(self, work: Callable[[], Any]) -> Any:
        self._con.execute(sql_admin.BEGIN)
        try:
            result = work()
            self._con.execute(sql_admin.COMMIT)
        except BaseException:
            self._rollback_quietly()  # keeps the real error (a failed COMMIT leaves no transaction)
            raise
        return result

    def _unregister(self, name: str) -> None:
        try:
            self._con.unregister(name)
        except duckdb.TransactionException:
            pass  # the transaction is aborted; its rollback drops the registration's use anyway

    def _mark_superseded(self, keys: pa.Table) -> None:
        name = f"sup_{threading.get_ident()}"
        self._con.register(name, keys)
        try:
            # Take folded rows out of the rollups before they leave the calls view (a later fold
            # reads the view, so rows not folded yet simply never enter).
            leaving = self._con.sql(sql_writes.folded_rows_of(name), params=[self._rolled_through]).to_arrow_table()
            self._subtract(leaving)
            self._con.execute(sql_writes.mark_superseded(name))
        finally:
            self._con.unregister(name)

    def _notify(self, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        for listener in list(self._listeners):
            try:
                listener(rows)
            except Exception:  # a subscriber's bug must not fail ingest that is already durable
                log.exception("store subscriber %r failed", listener)

    @translating
    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: drop calls that started before ``cutoff``, and Claude Code's metric points
        taken before it; returns the number of calls removed."""
        # Whole hours only: a rollup bucket must hold all of its calls or none of them.
        cutoff = _floor_hour(cutoff)
        with self._write_lock:
            self._check_open()

            def delete() -> int:  # one transaction: calls and rollups lose the same hours
                row = self._con.execute(sql_writes.DELETE_CALLS_BEFORE, [cutoff]).fetchone()
                self._con.execute(sql_writes.DELETE_METRIC_POINTS_BEFORE, [cutoff])
                for rollup in ROLLUPS:
                    self._con.execute(rollup.delete_before(), [cutoff])
                return int(row[0]) if row else 0

            return int(self._transaction(delete))

    @translating
    def load_arrow(self, table: str, data: pa.Table) -> None:
        """Append ``data`` into ``table`` by column name (restore).

        Raises:
            QueryRefused: ``table`` is not a plain table name.
        """
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise QueryRefused(f"bad table name {table!r}")
        with self._write_lock:
            self._check_open()
            name = f"load_{threading.get_ident()}"
            self._con.register(name, data)
            try:
                self._con.execute(sql_writes.append_into(table, name))
            finally:
                self._con.unregister(name)
            self._load_rollup_state()  # restored calls and rollup_state carry their own stamps

    # --- reads ---------------------------------------------------------------------
    @translating
    def table_names(self) -> list[str]:
        """Base tables of the store (what a backup holds), schema_migrations first."""
        names = [str(r[0]) for r in self._cursor().execute(sql_admin.TABLE_NAMES).fetchall()]
        return sorted(names, key=lambda n: (n != "schema_migrations", n))

    @translating
    def snapshot(self, tables: Sequence[str]) -> dict[str, pa.Table]:
        """Read whole tables in ONE transaction: a consistent copy while ingest goes on.

        Raises:
            QueryRefused: a name is not a table of the store.
        """
        known = set(self.table_names())
        for name in tables:
            if name not in known:
                raise QueryRefused(f"no table {name!r}")
        cur = self._cursor()
        try:
            cur.execute(sql_admin.BEGIN)
            out = {name: cur.sql(sql_admin.whole_table(name)).to_arrow_table() for name in tables}
            cur.execute(sql_admin.COMMIT)
            return out
        finally:
            cur.close()

    @translating
    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row of a read query (None when empty)."""
        cur = self._cursor()
        try:
            row = cur.execute(sql, list(params)).fetchone()
            return row[0] if row else None
        finally:
            cur.close()

    @translating
    def recent_call_keys(self, limit: int) -> list[tuple[Any, ...]]:
        """(trace_id, span_id, parent_span_id, response_id, source_rank, source, superseded) of
        the ``limit`` newest stored rows, oldest first (the stacking index's preload)."""
        table = self.read_arrow(sql_admin.RECENT_CALL_KEYS, [limit])
        return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))

    @translating
    def reprice_rows(self, cost_columns: tuple[str, ...], since: datetime | None) -> list[dict[str, Any]]:
        """Every stored call (superseded ones too) started at or after ``since``: what a reprice
        needs to price it, and its stored ``cost_columns``."""
        sql = sql_admin.reprice_rows(cost_columns, since=since is not None)
        return self.read_arrow(sql, [since] if since is not None else []).to_pylist()

    @translating
    def spend_since(self, moment: datetime) -> Decimal:
        """Total cost of the calls started at or after ``moment`` (0 when none)."""
        return Decimal(self.scalar(sql_admin.SPEND_SINCE, [moment]) or 0)

    @translating
    def unpriced_calls(self) -> int:
        """How many stored calls have no price."""
        return int(self.scalar(sql_admin.UNPRICED_CALLS) or 0)

    def size_bytes(self) -> int:
        """Bytes on disk of the store file plus its WAL."""
        total = 0
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _refuse_partial_restore(path: Path) -> None:
    """A restore builds the store beside ``path`` and renames it at the end: a file left
    there is a restore that was killed, and serving the directory would hide that."""
    partial = restoring_path(path)
    if partial.exists():
        raise StoreError(
            f"{partial} is left from an interrupted restore: run `claudescope restore` again "
            "(it removes it) or delete it"
        )


def _visible_calls(batch: pa.Table, inserted_keys: list[tuple[str, str]] | None) -> pa.Table:
    """The rows of ``batch`` that were inserted (all when ``inserted_keys`` is None) and are
    calls (not superseded)."""
    if inserted_keys is not None and len(inserted_keys) != batch.num_rows:
        wanted = pa.array([t + s for t, s in inserted_keys], pa.string())
        batch = batch.filter(pc.is_in(pc.binary_join_element_wise(batch["trace_id"], batch["span_id"], ""), wanted))
    batch = batch.filter(pc.invert(batch["superseded"].fill_null(False)))
    return batch.select(list(CALLS_ARROW_SCHEMA.names))
