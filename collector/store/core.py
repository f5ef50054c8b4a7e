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
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from claudescope.collector.columns import CALLS_ARROW_SCHEMA, CALLS_TABLE, SPANS_ARROW_SCHEMA
from claudescope.collector.migration_files import MigrationError, load_migrations
from claudescope.collector.rollups import ROLLUPS
from claudescope.collector.store.health import StoreHealth, connect, restoring_path
from claudescope.collector.store.migrate import MigrationRefused, migrate
from claudescope.collector.store.readonly import ReadQueries
from claudescope.collector.store.rollup_upkeep import RollupUpkeep

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)
_INGESTED_AT = SPANS_ARROW_SCHEMA.get_field_index("ingested_at")


class StoreError(RuntimeError):
    """The store cannot be opened or written (clear message for the operator)."""


class StoreVersionError(StoreError):
    """The data directory was written by a newer claudescope than this one."""


class Store(RollupUpkeep, StoreHealth, ReadQueries):
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
            StoreError: the file is locked by another process or unreadable.
        """
        path = Path(path)
        _refuse_partial_restore(path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.exists():
            raise StoreError(f"no store at {path}")
        connect_args = {"threads": threads, "memory_limit": memory_limit}
        try:
            con = connect(path, read_only=read_only, **connect_args)
        except duckdb.IOException as exc:
            raise StoreError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
        store = cls(con, path, read_only=read_only)
        store._connect_args = connect_args
        try:
            try:
                migrate(con, path, load_migrations(migrations_dir), read_only=read_only)
            except MigrationError as exc:
                raise StoreError(str(exc)) from None
            except MigrationRefused as exc:
                raise (StoreVersionError if exc.newer else StoreError)(str(exc)) from None
            store._prepare()
        except BaseException:
            con.close()
            raise
        if not read_only:
            try:
                store.verify_rollups()
            except BaseException:
                con.close()
                raise
        return store

    def _prepare(self) -> None:
        """Session settings of a freshly opened connection, and the rollup watermark."""
        # Every session (cursors included) reads and buckets time in UTC whatever the host's
        # zone: rollup hours and the dashboard's bucket edges depend on it.
        self._con.execute("SET GLOBAL TimeZone = 'UTC'")
        self._load_rollup_state()
        # Nothing after this point may read or write files other than the store itself.
        self._con.execute("SET enable_external_access = false")
        self._con.execute("SET lock_configuration = true")

    def close(self) -> None:
        """Fold the rollups, checkpoint and close; idempotent."""
        with self._write_lock:
            if self._closed:
                return
            self._closed = True
            try:
                if not self.read_only:
                    self._transaction(self._fold)
                    self._con.execute("CHECKPOINT")
            except duckdb.Error as exc:  # e.g. a full disk: the WAL holds every commit, replayed at the next open
                log.warning("store %s closed without its final checkpoint: %s", self.path, str(exc).splitlines()[0])
            finally:
                self._con.close()

    def applied_migrations(self) -> list[tuple[int, str]]:
        """(version, name) of every migration recorded in the store."""
        return [(int(v), str(n)) for v, n in self._cursor().execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()]

    # --- writes --------------------------------------------------------------------
    def subscribe(self, listener: Callable[[pa.Table], None]) -> None:
        """Call ``listener(rows)`` after each durable commit with the new ``calls`` rows (Arrow)."""
        self._listeners.append(listener)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write statement, serialized with ingest (for the alert engine's tables)."""
        with self._write_lock:
            self._check_open()
            self._con.execute(sql, list(params))

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
            con.execute(f"INSERT INTO {CALLS_TABLE} BY NAME SELECT * FROM {name}")
            return None
        except duckdb.ConstraintException:
            con.execute("ROLLBACK")
            con.execute("BEGIN")
        return con.execute(
            f"INSERT OR IGNORE INTO {CALLS_TABLE} BY NAME SELECT * FROM {name} RETURNING trace_id, span_id"
        ).fetchall()

    def _transaction(self, work: Callable[[], Any]) -> Any:
        self._con.execute("BEGIN")
        try:
            result = work()
            self._con.execute("COMMIT")
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
            leaving = self._con.sql(
                f"SELECT c.* FROM {CALLS_TABLE} AS c JOIN {name} AS k USING (trace_id, span_id) "
                "WHERE NOT c.superseded AND c.ingested_at <= $1",
                params=[self._rolled_through],
            ).to_arrow_table()
            self._subtract(leaving)
            self._con.execute(
                f"UPDATE {CALLS_TABLE} AS c SET superseded = true FROM {name} AS k "
                "WHERE c.trace_id = k.trace_id AND c.span_id = k.span_id"
            )
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

    def delete_older_than(self, cutoff: datetime) -> int:
        """Retention: drop calls that started before ``cutoff``; returns the number removed."""
        # Whole hours only: a rollup bucket must hold all of its calls or none of them.
        cutoff = _floor_hour(cutoff)
        with self._write_lock:
            self._check_open()

            def delete() -> int:  # one transaction: calls and rollups lose the same hours
                row = self._con.execute(f"DELETE FROM {CALLS_TABLE} WHERE start_time < ?", [cutoff]).fetchone()
                for rollup in ROLLUPS:
                    self._con.execute(f"DELETE FROM {rollup.table} WHERE {rollup.bucket} < ?", [cutoff])
                return int(row[0]) if row else 0

            return int(self._transaction(delete))

    def load_arrow(self, table: str, data: pa.Table) -> None:
        """Append ``data`` into ``table`` by column name (restore)."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
            raise ValueError(f"bad table name {table!r}")
        with self._write_lock:
            self._check_open()
            name = f"load_{threading.get_ident()}"
            self._con.register(name, data)
            try:
                self._con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
            finally:
                self._con.unregister(name)
            self._load_rollup_state()  # restored calls and rollup_state carry their own stamps

    # --- reads ---------------------------------------------------------------------
    def table_names(self) -> list[str]:
        """Base tables of the store (what a backup holds), schema_migrations first."""
        names = [str(r[0]) for r in self._cursor().execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary ORDER BY table_name"
        ).fetchall()]
        return sorted(names, key=lambda n: (n != "schema_migrations", n))

    def snapshot(self, tables: Sequence[str]) -> dict[str, pa.Table]:
        """Read whole tables in ONE transaction: a consistent copy while ingest goes on."""
        known = set(self.table_names())
        for name in tables:
            if name not in known:
                raise ValueError(f"no table {name!r}")
        cur = self._cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            out = {name: cur.sql(f'SELECT * FROM "{name}"').to_arrow_table() for name in tables}
            cur.execute("COMMIT")
            return out
        finally:
            cur.close()

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """First column of the first row of a read query (None when empty)."""
        cur = self._cursor()
        try:
            row = cur.execute(sql, list(params)).fetchone()
            return row[0] if row else None
        finally:
            cur.close()

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
            raise StoreError("store is closed")


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
