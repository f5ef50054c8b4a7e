"""Schema migrations of the store file: apply the pending ones in one transaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from claudescope.collector.migration_files import Migration, expand

log = logging.getLogger(__name__)


class MigrationRefused(RuntimeError):
    """The file cannot be migrated by this process (``newer`` when it is from a newer claudescope)."""

    def __init__(self, message: str, *, newer: bool) -> None:
        super().__init__(message)
        self.newer = newer


def migrate(con: duckdb.DuckDBPyConnection, path: Path, migrations: list[Migration], *, read_only: bool) -> None:
    """Apply the migrations ``con``'s store has not recorded yet, all or none.

    Raises:
        MigrationRefused: the store has migrations unknown here, or needs some while read-only.
    """
    known = {m.version: m for m in migrations}
    has_table = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
    ).fetchone()[0]
    applied: dict[int, str] = {}
    if has_table:
        applied = {int(v): str(n) for v, n in con.execute("SELECT version, name FROM schema_migrations").fetchall()}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise MigrationRefused(
            f"{path} was written by a newer claudescope (migration {applied[newer[-1]]} is unknown "
            "to this version); upgrade claudescope to open it", newer=True,
        )
    pending = [m for m in migrations if m.version not in applied]
    if not pending:
        return
    if read_only:
        raise MigrationRefused(f"{path} needs migrations {[m.name for m in pending]}; start the collector once to apply them", newer=False)
    con.execute("BEGIN")
    try:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "checksum VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        for m in pending:
            for statement in duckdb.extract_statements(expand(m.sql)):
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                [m.version, m.name, m.checksum, datetime.now(UTC)],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    log.info("store %s: applied migrations %s", path, ", ".join(m.name for m in pending))
