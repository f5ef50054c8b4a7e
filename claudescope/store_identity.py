"""A store's identity: a random id written once in ``store.id`` beside the DuckDB file.

A collector reports the id of the store it serves (``GET /api/v1/store``); a command given
``--data DIR`` uses that collector only when DIR holds the same id, so a command never acts on
a store other than the one it was told about. The id lives in a file, not in the database, so
that a command can read it while a collector holds the DuckDB lock. A restored backup is a new
store and gets a new id when a collector first serves it.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

STORE_ID_FILE = "store.id"


def read_store_id(data_dir: Path) -> str | None:
    """The id of the store in ``data_dir``, or None when it has none (yet)."""
    try:
        text = (Path(data_dir) / STORE_ID_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def ensure_store_id(data_dir: Path) -> str:
    """The id of the store in ``data_dir``, created on first call (atomically, never rewritten)."""
    existing = read_store_id(data_dir)
    if existing:
        return existing
    path = Path(data_dir) / STORE_ID_FILE
    new_id = uuid.uuid4().hex
    try:
        # O_EXCL: of two processes racing to create it, one id wins and both return it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return read_store_id(data_dir) or new_id
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(new_id + "\n")
    return new_id
