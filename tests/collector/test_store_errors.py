"""The store's error tree and its plain-SQL, checksummed migrations.

DuckDB errors leave the store as store errors (never a ``duckdb`` type); migrations are files
whose exact bytes run and are checksummed; an applied migration that was edited since is refused
by name, while stores written by releases that checksummed the unexpanded templates still open.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from claudescope.collector.store import (
    SPANS_ARROW_SCHEMA, Conflict, MigrationError, QueryFailed, QueryRefused, Store, StoreError, StoreUnavailable,
    load_migrations,
)
from claudescope.collector.store.migration_files import LEGACY_CHECKSUMS
from claudescope.fakeapi.server import free_port
from tests.fixtures_alerts import call_row


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{n: r.get(n) for n in SPANS_ARROW_SCHEMA.names} for r in rows], schema=SPANS_ARROW_SCHEMA)


def _packaged_migrations() -> Path:
    return Path(str(resources.files("claudescope.collector").joinpath("migrations")))


def _copy_migrations(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(_packaged_migrations(), target)
    return target


# --- migrations ------------------------------------------------------------------------------

def test_migrations_are_plain_sql_whose_bytes_are_what_is_recorded(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    recorded = {r["name"]: r["checksum"] for r in store.read_arrow("SELECT name, checksum FROM schema_migrations").to_pylist()}
    store.close()
    for path in sorted(_packaged_migrations().glob("*.sql")):
        raw = path.read_bytes()
        assert b"@" not in raw, f"{path.name} still has a placeholder filled in from Python"
        assert recorded[path.name] == hashlib.sha256(raw).hexdigest(), path.name


def test_an_applied_migration_edited_since_is_refused_by_name(tmp_path: Path) -> None:
    migrations = _copy_migrations(tmp_path)
    path = tmp_path / "db.duckdb"
    Store.open(path, migrations_dir=migrations).close()
    edited = migrations / "0002_rollups.sql"
    edited.write_bytes(edited.read_bytes() + b"\nCREATE TABLE sneaked_in (a INTEGER);\n")
    with pytest.raises(MigrationError, match=r"0002_rollups\.sql.*append-only") as caught:
        Store.open(path, migrations_dir=migrations)
    assert isinstance(caught.value, StoreError)
    store = Store.open(path)  # refused without touching the file: the release's own files still open it
    assert "sneaked_in" not in store.table_names()
    store.close()


@pytest.mark.parametrize("version", sorted(LEGACY_CHECKSUMS))
def test_a_store_recording_a_legacy_template_checksum_still_opens(tmp_path: Path, version: int) -> None:
    """What a release before plain-SQL migrations recorded (tests/collector/test_rollup_fold.py
    also upgrades such a store from before 0004)."""
    path = tmp_path / "db.duckdb"
    Store.open(path).close()
    for legacy in sorted(LEGACY_CHECKSUMS[version]):
        con = duckdb.connect(str(path))
        con.execute("UPDATE schema_migrations SET checksum = ? WHERE version = ?", [legacy, version])
        con.close()
        store = Store.open(path)
        assert [v for v, _ in store.applied_migrations()] == [m.version for m in load_migrations()]
        store.close()


def test_the_collector_refuses_an_edited_migration_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    Store.open(data / "claudescope.duckdb").close()
    con = duckdb.connect(str(data / "claudescope.duckdb"))
    con.execute("UPDATE schema_migrations SET checksum = 'f00d' WHERE version = 3")
    con.close()
    proc = subprocess.run(
        [sys.executable, "-m", "claudescope", "collector", "--data", str(data), "--port", str(free_port()),
         "--grpc-port", "0", "--no-alerts"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "0003_rollup_hour.sql" in output and "append-only" in output
    assert "Traceback" not in output


# --- the error tree -----------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store.open(tmp_path / "db.duckdb")
    yield opened
    opened.close()


def test_a_failing_statement_is_a_query_failed_not_a_duckdb_error(store: Store) -> None:
    for run in (lambda: store.scalar("SELECT no_such_column FROM calls"),
                lambda: store.read_arrow("SELECT * FROM no_such_table"),
                lambda: store.execute("UPDATE calls_minute SET no_such_column = 1")):
        with pytest.raises(QueryFailed) as caught:
            run()
        assert isinstance(caught.value, StoreError) and not isinstance(caught.value, duckdb.Error)


def test_a_constraint_is_a_conflict(store: Store) -> None:
    store.insert_spans(_table([call_row(trace_id="a" * 32, span_id="b" * 16)]))
    with pytest.raises(Conflict):
        store.execute(
            "INSERT INTO call_spans (trace_id, span_id, source_rank, ingested_at) VALUES (?, ?, 0, ?)",
            ["a" * 32, "b" * 16, datetime.now(UTC)],
        )


def test_unknown_tables_are_refused(store: Store) -> None:
    with pytest.raises(QueryRefused, match="no table 'nope'"):
        store.snapshot(["calls_minute", "nope"])
    with pytest.raises(QueryRefused, match="bad table name"):
        store.load_arrow("calls; DROP TABLE call_spans", pa.table({"a": [1]}))


def test_a_closed_or_missing_store_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    opened = Store.open(path)
    opened.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        opened.scalar("SELECT 1")
    with pytest.raises(StoreUnavailable, match="closed"):
        opened.probe_write()
    with pytest.raises(StoreUnavailable, match="no store"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)
