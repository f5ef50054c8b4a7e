"""Migration files: the append-only, plain-SQL ``NNNN_name.sql`` files and their checksums.

Files 0001-0099 are the collector's, 0100+ the alert engine's; the store applies every file in
version order and records it in ``schema_migrations`` with the sha256 of the file's bytes, which
are exactly the SQL that ran (nothing is filled in from Python).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from claudescope.collector.store.errors import MigrationError

# Releases before migrations were plain SQL filled column lists and views in from Python at run
# time and recorded the checksum of the unexpanded template. Stores they wrote hold these for the
# migrations below; their schema is what the plain files now say, so these are accepted too.
LEGACY_CHECKSUMS: dict[int, frozenset[str]] = {
    1: frozenset({
        "849b905453c8c3da5d51aac6b7f8e20d29f76a5577430edd8c39014b2cbf02fd",
        "1d9c51d6d7150d71810110de1095aef362c2ae808ed60d608ab53547334136b2",
    }),
    2: frozenset({"d318ffc61861340ddc410b5b2e36bb72b76234037623123cea506a9f17d2b161"}),
    4: frozenset({"0ccbb1384f4720f03f78aac67b319089fb9fd2c62ebac4c14b108daa6d406ea9"}),
}


@dataclass(frozen=True, slots=True)
class Migration:
    """One append-only migration file: ``raw`` is its bytes, run as they are."""

    version: int
    name: str
    raw: bytes

    @property
    def sql(self) -> str:
        """The file's SQL text (UTF-8)."""
        return self.raw.decode("utf-8")

    @property
    def checksum(self) -> str:
        """sha256 of the file's bytes, recorded so an edit to an applied migration is noticed."""
        return hashlib.sha256(self.raw).hexdigest()

    def accepts(self, recorded: str) -> bool:
        """Whether ``recorded`` (a store's checksum for this version) is this file as it ran."""
        return recorded == self.checksum or recorded in LEGACY_CHECKSUMS.get(self.version, frozenset())


_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """All ``NNNN_name.sql`` files in version order (the package's own by default).

    Raises:
        MigrationError: two files share a version number, or a file is not UTF-8.
    """
    if directory is None:
        files = [(f.name, f.read_bytes()) for f in resources.files("claudescope.collector").joinpath("migrations").iterdir()]
    else:
        files = [(f.name, f.read_bytes()) for f in directory.iterdir()]
    migrations = []
    for name, raw in files:
        match = _MIGRATION_NAME.match(name)
        if match:
            migrations.append(Migration(int(match.group(1)), name, raw))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {[m.name for m in migrations]}")
    for m in migrations:
        try:
            m.sql
        except UnicodeDecodeError as exc:
            raise MigrationError(f"migration {m.name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return migrations
