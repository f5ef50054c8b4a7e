"""The organisation's and workspaces' spend limits, read from the Admin API into ``spend_limits``.

While the admin key is set, the collector reads them at start and every
``[reconcile] spend_limits_every_s`` and replaces the table whole (the ``spend_limit_headroom``
alert reads it). A read that fails (refused key, unreachable API, an answer of the wrong shape)
logs one line and leaves the previous rows in place: stale caps beat none, and ingest never
waits on the Admin API.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from claudescope.collector.reconcile.admin_client import AdminApi, AdminApiError, one_line
from claudescope.collector.store import Store, StoreError
from claudescope.config import AdminKey, ReconcileConfig

__all__ = ["SpendLimit", "SpendLimitPoller", "parse_spend_limit", "read_spend_limits"]

log = logging.getLogger("claudescope.collector.spend_limits")
READ_TIMEOUT_S = 30.0  # one slow read must not hold a poll (or the shutdown that waits for it) long


@dataclass(frozen=True, slots=True)
class SpendLimit:
    """One configured spend limit, as stored in ``spend_limits``."""

    limit_id: str
    scope_type: str
    workspace_id: str | None
    period: str
    amount_usd: Decimal | None  # the cap in major units of ``currency``; None = no numeric cap at this scope
    currency: str
    is_enabled: bool

    def row(self, fetched_at: datetime) -> tuple[Any, ...]:
        """The ``spend_limits`` row (column order of ``sql_reconcile.SPEND_LIMIT_COLUMNS``)."""
        return (fetched_at, self.limit_id, self.scope_type, self.workspace_id, self.period,
                self.amount_usd, self.currency, self.is_enabled)


def parse_spend_limit(item: Mapping[str, Any]) -> SpendLimit:
    """One ``BetaSpendLimit`` item of the Admin API's answer.

    ``amount`` is a non-negative integer decimal string in cents: ``"50000"`` is 500.00 exactly.

    Raises:
        AdminApiError: the item does not have the documented shape (the message names the field).
    """
    if not isinstance(item, Mapping):
        raise AdminApiError("Admin API spend_limits: an item is not an object")
    scope = item.get("scope")
    if not isinstance(scope, Mapping) or not isinstance(scope.get("type"), str):
        raise AdminApiError(f"Admin API spend_limits: {_id(item)} has no scope type")
    workspace = scope.get("workspace_id") if scope["type"] == "workspace" else None
    if scope["type"] == "workspace" and not isinstance(workspace, str):
        raise AdminApiError(f"Admin API spend_limits: {_id(item)} is a workspace limit without a workspace_id")
    period = item.get("period")
    if not isinstance(period, str) or not period:  # kept as named: a new period must not stop every refresh
        raise AdminApiError(f"Admin API spend_limits: {_id(item)} has no period")
    currency, enabled = item.get("currency"), item.get("is_enabled")
    if not isinstance(currency, str) or not isinstance(enabled, bool) or not isinstance(item.get("id"), str):
        raise AdminApiError(f"Admin API spend_limits: {_id(item)} lacks id, currency or is_enabled")
    return SpendLimit(limit_id=item["id"], scope_type=scope["type"], workspace_id=workspace, period=period,
                      amount_usd=_cents(item.get("amount"), item), currency=currency, is_enabled=enabled)


def _cents(amount: Any, item: Mapping[str, Any]) -> Decimal | None:
    if amount is None:
        return None
    try:
        cents = Decimal(amount) if isinstance(amount, str) else None
    except InvalidOperation:
        cents = None
    if cents is None or not cents.is_finite() or cents < 0 or cents != cents.to_integral_value():
        raise AdminApiError(f"Admin API spend_limits: {_id(item)} has amount {str(amount)[:30]!r}, expected a whole number of cents")
    return cents.scaleb(-2)  # exact: a shift of the exponent, no rounding


def _id(item: Mapping[str, Any]) -> str:
    value = item.get("id")
    return repr(value[:40]) if isinstance(value, str) else "a limit"


def read_spend_limits(api: AdminApi) -> list[SpendLimit]:
    """Every configured spend limit. Raises AdminApiError when they cannot be read."""
    return [parse_spend_limit(item) for item in api.spend_limits()]


class SpendLimitPoller:
    """A thread that refreshes ``spend_limits`` at start and every ``every_s`` until stopped."""

    def __init__(self, store: Store, base_url: str, key: AdminKey, every_s: float, stop: threading.Event) -> None:
        self._store = store
        self._api = AdminApi(base_url, key, timeout_s=READ_TIMEOUT_S)
        self._every_s = every_s
        self._stop = stop
        self._thread = threading.Thread(target=self._loop, name="claudescope-spend-limits", daemon=True)

    @classmethod
    def for_config(cls, store: Store, config: ReconcileConfig, stop: threading.Event) -> SpendLimitPoller | None:
        """A poller for ``config``, or None without an admin key."""
        if config.admin_key is None:
            return None
        return cls(store, config.admin_api_url, config.admin_key, config.spend_limits_every_s, stop)

    def start(self) -> SpendLimitPoller:
        """Start polling in the background."""
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the thread to end (after the stop event is set)."""
        self._thread.join(timeout_s)

    def poll_once(self) -> int | None:
        """Read the limits and replace the table; the number stored, or None when the read failed."""
        try:
            limits = read_spend_limits(self._api)
            fetched_at = datetime.now(UTC)
            self._store.replace_spend_limits([limit.row(fetched_at) for limit in limits])
        except (AdminApiError, StoreError) as exc:
            log.warning("spend limits not refreshed (the previous ones are kept): %s", one_line(exc))
            return None
        return len(limits)

    def _loop(self) -> None:
        previous: int | None = -1
        while not self._stop.is_set():
            try:
                count = self.poll_once()
            except Exception as exc:  # a bug here must not end the polling for good
                log.warning("spend limits not refreshed: %s: %s", type(exc).__name__, one_line(exc))
                count = None
            if count is not None and count != previous:
                log.info("spend limits: %d read from the Admin API", count)
            previous = count
            if self._stop.wait(self._every_s):
                return


