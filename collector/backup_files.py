"""Backup directories and restores that are all or nothing.

A backup is written into a new directory beside the target and swapped in by renames at the
end, so a crash mid-way leaves the previous backup whole. A restore builds the store file
beside the data directory's store (``<store>.restoring``) and renames it into place at the end;
a leftover one is a restore that was killed, which the store refuses to serve.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from claudescope.collector.store import Store, restoring_path

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """The backup or restore cannot be done (one line for the operator)."""


def _previous(target: Path) -> Path:
    """Where the previous backup waits while the new one is renamed into place."""
    return target.with_name(f".{target.name}.previous")


def write_backup(target: Path, tables: dict[str, pa.Table], migrations: list[list[Any]]) -> dict[str, int]:
    """Write ``tables`` (schema_migrations left out) as a backup in ``target``, replacing an
    older backup there only once the new one is complete. Returns rows per table."""
    target = target.absolute()
    _recover(target)
    if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST).exists())):
        raise BackupError(f"{target} exists and is not a claudescope backup: choose an empty or new directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        counts = {}
        for name, table in tables.items():
            if name == "schema_migrations":
                continue
            pq.write_table(table, staging / f"{name}.parquet", compression="zstd")
            _fsync(staging / f"{name}.parquet")
            counts[name] = table.num_rows
        # The manifest goes last: a directory with one is a complete backup.
        (staging / MANIFEST).write_text(json.dumps({"format": 1, "migrations": migrations, "tables": counts}, indent=2))
        _fsync(staging / MANIFEST)
        _fsync(staging)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


def _swap_in(staging: Path, target: Path) -> None:
    previous = _previous(target)
    if target.exists():
        os.rename(target, previous)
    os.rename(staging, target)
    _fsync(target.parent)
    shutil.rmtree(previous, ignore_errors=True)


def _recover(target: Path, *, staging: bool = True) -> None:
    """Undo what a killed backup left: (with ``staging``) its staging directories, and a
    previous backup moved aside but not yet replaced (put back)."""
    for leftover in target.parent.glob(f".{target.name}.new-*") if staging else ():
        shutil.rmtree(leftover, ignore_errors=True)
    previous = _previous(target)
    if previous.exists():
        if target.exists():
            shutil.rmtree(previous)  # the swap finished; only the clean-up was cut short
        else:
            os.rename(previous, target)


def read_manifest(source: Path) -> dict[str, Any]:
    """The manifest of the backup in ``source``.

    Raises:
        BackupError: ``source`` holds no complete backup.
    """
    _recover(source.absolute(), staging=False)  # a backup may be writing one right now
    try:
        manifest = json.loads((source / MANIFEST).read_text())
        if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
            raise ValueError("manifest.json has no table list")
        return manifest
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} is not a claudescope backup: {exc}") from None


def restore_store(db_path: Path, source: Path, manifest: dict[str, Any]) -> str | None:
    """Build the store from the backup beside ``db_path`` and rename it into place at the end.

    Returns a note when a partial restore left by a killed run was removed first.
    Raises BackupError when ``db_path`` exists, or anything the load raised (nothing is left).
    """
    partial = restoring_path(db_path)
    note = None
    if partial.exists():
        note = f"removed {partial}, left by an interrupted restore"
        _remove_store_files(partial)
    if db_path.exists():
        raise BackupError(f"{db_path} already exists: restore only into an empty data directory")
    store = Store.open(partial)
    try:
        for name in manifest["tables"]:
            store.load_arrow(name, pq.read_table(source / f"{name}.parquet"))
        if "rollup_state" not in manifest["tables"]:
            store.rebuild_rollups()  # a backup from before rollups were folded behind ingest
        store.verify_rollups()
    except BaseException:
        store.close()
        _remove_store_files(partial)
        raise
    store.close()  # checkpoints: everything is in the one file now
    wal = partial.with_name(partial.name + ".wal")
    if wal.exists():
        raise BackupError(f"{wal} is still there after closing the store; the restore is left at {partial}")
    _fsync(partial)
    os.rename(partial, db_path)
    _fsync(db_path.parent)
    return note


def _remove_store_files(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(path.with_name(path.name + ".tmp"), ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
