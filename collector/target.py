"""Which store a command acts on (SPEC §3): a running collector only when it serves ``--data``'s store.

``reprice``, ``export``, ``backup`` and ``sql`` ask the collector at the configured (or
``--api``) URL which store it serves (``GET /api/v1/store``) and compare that with the id in the
data directory they were given. They use the collector only when both match; otherwise they
open the file themselves, and when another process holds the file's lock they refuse with one
line naming both the data directory and the collector URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from claudescope.collector.store import Store, StoreError
from claudescope.config import Config
from claudescope.store_identity import read_store_id

_UNREACHABLE = object()
_PID = re.compile(r"\(PID (\d+)\)")


@dataclass(frozen=True, slots=True)
class Remote:
    """A collector serving the data directory's own store."""

    url: str
    headers: dict[str, str]


class UseFile(Exception):
    """No collector serves the data directory's store: open the file (``url`` is for messages)."""

    def __init__(self, url: str, answered: bool) -> None:
        super().__init__(url)
        self.url = url
        self.answered = answered


def choose(config: Config, api_url: str | None) -> Remote:
    """The collector to use for ``config.data_dir``'s store.

    Raises:
        UseFile: no collector at the URL serves that store; the caller opens the file.
        StoreError: ``--api`` named a collector that is down or serves another store.
    """
    url = (api_url or config.api_url).rstrip("/")
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    local = read_store_id(config.data_dir)
    served = _served_store_id(url, headers)
    if api_url:
        if served is _UNREACHABLE:
            raise StoreError(f"no collector answers at {url}")
        if local is None or served == local:
            return Remote(url, headers)
        raise StoreError(f"the collector at {url} does not serve the store in {config.data_dir}; "
                         f"drop --api to read {config.data_dir} itself, or give the --data it serves")
    if local is not None and served == local:
        return Remote(url, headers)
    raise UseFile(url, answered=served is not _UNREACHABLE)


def open_local(config: Config, local: UseFile, *, read_only: bool) -> Store:
    """Open ``config.data_dir``'s store file; a lock held elsewhere is one clear StoreError."""
    if not config.db_path.exists():
        raise StoreError(f"no claudescope store in {config.data_dir} (no {config.db_path.name})")
    try:
        return Store.open(config.db_path, read_only=read_only)
    except StoreError as exc:
        if "lock" not in str(exc).lower():
            raise
        pid = _PID.search(str(exc))
        holder = f"process {pid.group(1)}" if pid else "another process"
        there = "serves another store" if local.answered else "does not answer"
        raise StoreError(
            f"the store in {config.data_dir} is in use by {holder}, and the collector at {local.url} {there}: "
            f"give --api the URL of the collector serving {config.data_dir}, or stop that process"
        ) from None


def _served_store_id(url: str, headers: dict[str, str]) -> object:
    """The id the collector at ``url`` serves, None when it does not say, _UNREACHABLE when down."""
    try:
        r = httpx.get(url + "/api/v1/store", headers=headers, timeout=3)
    except httpx.TransportError:
        return _UNREACHABLE
    if r.status_code != 200:
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    return body.get("store_id") if isinstance(body, dict) else None
