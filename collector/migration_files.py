"""Migration files: the append-only ``NNNN_name.sql`` files and their schema.py placeholders.

Files 0001-0099 are the collector's, 0100+ the alert engine's; the store applies every file in
version order and records it in ``schema_migrations``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from claudescope.collector.rollups import ROLLUPS
from claudescope.schema import ALERT_EVENT_COLUMNS, CALL_COLUMNS, Column


class MigrationError(RuntimeError):
    """The migration files are inconsistent."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One append-only migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """sha256 of the file text, recorded so edits to applied migrations are noticed."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """All ``NNNN_name.sql`` files in version order (the package's own by default)."""
    if directory is None:
        files = [(f.name, f.read_text(encoding="utf-8")) for f in resources.files("claudescope.collector").joinpath("migrations").iterdir()]
    else:
        files = [(f.name, f.read_text(encoding="utf-8")) for f in directory.iterdir()]
    migrations = []
    for name, text in files:
        match = _MIGRATION_NAME.match(name)
        if match:
            migrations.append(Migration(int(match.group(1)), name, text))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {[m.name for m in migrations]}")
    return migrations


def expand(sql: str) -> str:
    """Fill the schema.py column lists and the rollups' live views into a migration's placeholders."""
    def ddl(columns: Sequence[Column]) -> str:
        return ",\n    ".join(f"{c.name} {c.sql_type}" for c in columns)

    return (
        sql.replace("@CALL_COLUMNS@", ddl(CALL_COLUMNS))
        .replace("@CALL_COLUMN_NAMES@", ", ".join(c.name for c in CALL_COLUMNS))
        .replace("@ALERT_EVENT_COLUMNS@", ddl(ALERT_EVENT_COLUMNS))
        .replace("@ROLLUP_LIVE_VIEWS@", ";\n".join(r.live_view() for r in ROLLUPS))
    )
