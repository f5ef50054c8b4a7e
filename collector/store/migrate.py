"""Schema migrations of the store file: check the applied ones, apply the pending ones in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from claudescope.collector.store import sql_admin
from claudescope.collector.store.errors import MigrationError, StoreError, StoreVersionError
from claudescope.collector.store.migration_files import Migration

log = logging.getLogger(__name__)


def migrate(con: duckdb.DuckDBPyConnection, path: Path, migrations: list[Migration], *, read_only: bool) -> None:
    """Apply the migrations ``con``'s store has not recorded yet, all or none.

    Raises:
        StoreVersionError: the store has migrations unknown here (a newer claudescope wrote it).
        MigrationError: an applied migration's recorded checksum is not its file's.
        StoreError: migrations are pending but the store is opened read-only.
    """
    applied = _applied(con)
    _refuse_newer(path, applied, {m.version for m in migrations})
    _check_checksums(path, applied, migrations)
    pending = [m for m in migrations if m.version not in applied]
    if not pending:
        return
    if read_only:
        raise StoreError(f"{path} needs migrations {[m.name for m in pending]}; start the collector once to apply them")
    con.execute("BEGIN")
    try:
        con.execute(sql_admin.CREATE_SCHEMA_MIGRATIONS)
        for m in pending:
            for statement in duckdb.extract_statements(m.sql):
                con.execute(statement)
            con.execute(sql_admin.RECORD_MIGRATION, [m.version, m.name, m.checksum, datetime.now(UTC)])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("store %s: applied migrations %s", path, ", ".join(m.name for m in pending))


def _applied(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the migrations the store records."""
    if not con.execute(sql_admin.HAS_SCHEMA_MIGRATIONS).fetchone()[0]:
        return {}
    return {int(v): (str(n), str(c)) for v, n, c in con.execute(sql_admin.APPLIED_MIGRATIONS).fetchall()}


def _refuse_newer(path: Path, applied: dict[int, tuple[str, str]], known: set[int]) -> None:
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise StoreVersionError(
            f"{path} was written by a newer claudescope (migration {applied[newer[-1]][0]} is unknown "
            "to this version); upgrade claudescope to open it"
        )


def _check_checksums(path: Path, applied: dict[int, tuple[str, str]], migrations: list[Migration]) -> None:
    """Migrations are append-only: an applied one whose file changed since is refused, by name."""
    for m in migrations:
        if m.version in applied and not m.accepts(applied[m.version][1]):
            raise MigrationError(
                f"{path}: migration {m.name} was applied with checksum {applied[m.version][1][:12]}..., "
                f"but this claudescope's file has {m.checksum[:12]}...; migrations are append-only "
                "(put a schema change in a new file)"
            )
