"""The fake API's billing ledger: one entry per answer it completed with a usage.

What is billed follows claudescope's own billing rule (``PriceTable.bill``: failed calls and
token counts cost 0), so a day driven through the fake reconciles with what claudescope stored:

- billed: a ``POST /v1/messages`` answer (JSON, or a stream that reached ``message_stop``), and
  each succeeded result of a Message Batch once the batch has ended (on the ``batch`` tier);
- never billed: error answers (scripted 400/404/429/529/500, ``spend_limit``, rate limits,
  invalid bodies), answers that fail part-way (``sse-error``, ``cut``), ``count_tokens``,
  the batch bookkeeping calls, the results of a cancelled batch, and answers to requests that
  carry ``x-fake-billing: off`` (the demo's own warm-up, which is not application traffic).

Each entry carries the billing time (the request's ``x-fake-now`` when given, epoch seconds on
the caller's simulated timeline, else the wall clock when the request arrived), the model as
answered, the workspace (``x-fake-workspace``; None is the default workspace), an
``apikey_...`` id derived from a hash of the request's key (the key itself is never kept),
service tier, inference geo, speed, the context-window band and the token counts by class.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = ["LONG_CONTEXT_ABOVE", "Ledger", "LedgerEntry", "api_key_id", "context_window_band", "entry_from_usage"]

LONG_CONTEXT_ABOVE = 200_000  # prompt tokens above which the usage is in the "200k-1M" band


def api_key_id(key: str | None) -> str | None:
    """A stable, non-reversible ``apikey_...`` id for an API key (None without a key)."""
    if not key:
        return None
    return "apikey_01" + hashlib.sha256(key.encode()).hexdigest()[:22]


def context_window_band(prompt_tokens: int) -> str:
    """The Admin API's ``context_window`` value for a prompt of this many tokens."""
    return "200k-1M" if prompt_tokens > LONG_CONTEXT_ABOVE else "0-200k"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One billed answer."""

    at: datetime  # billing time, UTC
    model: str
    workspace_id: str | None
    api_key_id: str | None
    service_tier: str
    inference_geo: str
    speed: str
    context_window: str
    uncached_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    web_search_requests: int = 0
    source: str = "messages"  # messages | batch | injected

    def json(self) -> dict[str, Any]:
        """The entry as JSON-ready data (``GET /v1/fake/ledger``)."""
        data = asdict(self)
        data["at"] = self.at.isoformat().replace("+00:00", "Z")
        return data


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def entry_from_usage(
    usage: Mapping[str, Any], *, model: str, at: datetime, workspace_id: str | None, key_id: str | None,
    source: str = "messages", service_tier: str | None = None,
) -> LedgerEntry:
    """A ledger entry from an answer's ``usage`` JSON, exactly as the client received it."""
    creation = usage.get("cache_creation") or {}
    w5m, w1h = _count(creation.get("ephemeral_5m_input_tokens")), _count(creation.get("ephemeral_1h_input_tokens"))
    if not creation:  # only the total is known: the API's default TTL is 5 minutes
        w5m = _count(usage.get("cache_creation_input_tokens"))
    uncached, read = _count(usage.get("input_tokens")), _count(usage.get("cache_read_input_tokens"))
    tools = usage.get("server_tool_use") or {}
    return LedgerEntry(
        at=at.astimezone(timezone.utc),
        model=model,
        workspace_id=workspace_id,
        api_key_id=key_id,
        service_tier=service_tier or str(usage.get("service_tier") or "standard"),
        inference_geo=str(usage.get("inference_geo") or "global"),
        speed=str(usage.get("speed") or "standard"),
        context_window=context_window_band(uncached + read + w5m + w1h),
        uncached_input_tokens=uncached,
        cache_read_input_tokens=read,
        cache_write_5m_tokens=w5m,
        cache_write_1h_tokens=w1h,
        output_tokens=_count(usage.get("output_tokens")),
        web_search_requests=_count(tools.get("web_search_requests")),
        source=source,
    )


class Ledger:
    """The entries of one fake API instance; safe to record from concurrent requests."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def record(self, entry: LedgerEntry) -> None:
        """Add one billed answer."""
        with self._lock:
            self._entries.append(entry)

    def entries(self, start: datetime | None = None, end: datetime | None = None) -> list[LedgerEntry]:
        """A snapshot of the entries billed in [start, end) (every entry by default)."""
        with self._lock:
            snapshot = list(self._entries)
        return [e for e in snapshot if (start is None or e.at >= start) and (end is None or e.at < end)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
