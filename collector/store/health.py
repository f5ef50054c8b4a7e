"""Connecting to the store file, and getting it back after a fatal error (a disk that filled up).

When a checkpoint fails (ENOSPC), DuckDB invalidates the whole database: every statement then
answers "FATAL Error" until the file is opened again. Committed transactions are in the WAL, so
closing and reopening (which replays it) loses nothing that was acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from claudescope.collector.store import sql_admin
from claudescope.collector.store.errors import StoreUnavailable, translate, translating

log = logging.getLogger(__name__)

RESTORING_SUFFIX = ".restoring"


def restoring_path(db_path: Path) -> Path:
    """Where ``restore`` builds a store before renaming it to ``db_path`` (all or nothing)."""
    return db_path.with_name(db_path.name + RESTORING_SUFFIX)


def connect(path: Path, *, read_only: bool, threads: int | None, memory_limit: str | None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to ``path`` with the store's settings (raises duckdb.IOException)."""
    config: dict[str, Any] = {}
    if threads:
        config["threads"] = threads
    if memory_limit:
        # Bounds DuckDB's buffer pool (the key index included), so the collector's RSS stays
        # bounded as the store grows; large sorts spill to the store's temp directory.
        config["memory_limit"] = memory_limit
    if not read_only:
        # Checkpoint less often than the default 16 MiB of WAL: at sustained ingest each
        # checkpoint rewrites the primary-key index, so fewer, larger ones cost less in total.
        # Rows not yet checkpointed stay in memory (~0.7 of the WAL size), so this also bounds
        # RSS; a crash replays at most this much WAL on restart.
        config["checkpoint_threshold"] = "64MB"
    return duckdb.connect(str(path), read_only=read_only, config=config)


class StoreHealth:
    """Mixed into Store: is the connection usable, can it write, and reopening it."""

    _con: duckdb.DuckDBPyConnection
    _write_lock: threading.Lock
    _closed: bool
    path: Path
    read_only: bool
    _connect_args: dict[str, Any]
    _prepare: Callable[[], None]

    def alive(self) -> bool:
        """False when DuckDB has invalidated the database (or the store is closed)."""
        if self._closed:
            return False
        try:
            cur = self._con.cursor()
            try:
                cur.execute(sql_admin.PING).fetchone()
            finally:
                cur.close()
            return True
        except duckdb.Error:
            return False

    @translating
    def probe_write(self) -> None:
        """Commit a write that changes nothing (so it reaches the WAL): raises when the store
        cannot take writes, e.g. on a full disk."""
        with self._write_lock:
            self._refuse_closed()
            self._con.execute(sql_admin.BEGIN)
            try:
                self._con.execute(sql_admin.PROBE_WRITE)
                self._con.execute(sql_admin.COMMIT)
            except BaseException:
                self._rollback_quietly()
                raise

    def reopen(self) -> None:
        """Close the (invalidated) connection and open the file again, replaying its WAL.

        Raises StoreUnavailable when it cannot be opened yet (the caller retries with a back-off).
        Query cursors still open on the old connection keep its database alive; DuckDB then
        hands the same invalidated database back, which the check below catches.
        """
        with self._write_lock:
            self._refuse_closed()
            try:
                self._con.close()
            except duckdb.Error:
                pass
            with translate():
                self._con = connect(self.path, read_only=self.read_only, **self._connect_args)
                try:
                    self._con.execute(sql_admin.PING).fetchone()
                    self._prepare()
                except BaseException:
                    self._con.close()
                    raise
        log.warning("store %s reopened after a fatal error", self.path)

    def _checkpoint_locked(self, tries: int = 20) -> bool:
        """Under the write lock: write the WAL into the database file. A query's open
        transaction makes DuckDB refuse, so retry briefly; False when it never could (the
        commits are still durable: DuckDB syncs the WAL at each commit)."""
        for attempt in range(tries):
            try:
                self._con.execute(sql_admin.CHECKPOINT)
                return True
            except duckdb.TransactionException:
                time.sleep(min(0.05 * 2**attempt, 1.0))
        log.warning("store %s: checkpoint refused while queries ran; the changes are in the synced WAL", self.path)
        return False

    def _refuse_closed(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")  # a closed store is never reopened behind its owner

    def _rollback_quietly(self) -> None:
        try:
            self._con.execute(sql_admin.ROLLBACK)
        except duckdb.Error:
            pass  # a failed COMMIT leaves no transaction open
