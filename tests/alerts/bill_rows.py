"""Write reconciliation and spend-limit rows through the real store's own write paths
(``Store.record_reconcile_run``, ``Store.replace_spend_limits``), as a ``claudescope reconcile``
run and a spend-limit read leave them (collector/migrations/0006)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

@dataclass(frozen=True)
class Row:
    """One reconciliation row: the bill and claudescope's cost for one day x model x workspace."""

    day: date
    model: str
    bill: str
    ours: str
    cause: str = "match"
    explanation: str = "The traced calls match the bill."
    workspace: str = "*"
    calls: int = 10


def add_run(store: Any, rows: list[Row], *, run_at: datetime | None = None, tolerance: str = "0.001",
            since: date | None = None, until: date | None = None, error: str | None = None) -> str:
    """One finished run covering ``since``..``until`` (default: the rows' days) with ``rows``."""
    run_id = uuid.uuid4().hex
    days = [r.day for r in rows] or [datetime.now(UTC).date() - timedelta(days=1)]
    tol = Decimal(tolerance)
    bill_total = sum((Decimal(r.bill) for r in rows), Decimal(0))
    ours_total = sum((Decimal(r.ours) for r in rows), Decimal(0))
    mismatched = sum(1 for r in rows if not _matches(r, tol))
    run = [run_id, run_at or datetime.now(UTC), "command", since or min(days), until or max(days), tol, bill_total,
           ours_total, len(rows), mismatched, error]
    values = []
    for r in rows:
        bill, ours = Decimal(r.bill), Decimal(r.ours)
        values.append([run_id, r.day, r.model, r.workspace, bill, ours, ours - bill,
                       (ours - bill) / bill if bill else None, *([0] * 12), r.calls, 0, Decimal(0), _matches(r, tol),
                       r.cause, r.explanation])
    store.record_reconcile_run(run, values)
    return run_id


def _matches(r: Row, tol: Decimal) -> bool:
    bill, ours = Decimal(r.bill), Decimal(r.ours)
    return abs(ours - bill) <= tol * bill


def set_limits(store: Any, limits: list[dict[str, Any]]) -> None:
    """Replace spend_limits with ``limits`` (scope_type, workspace_id, period, amount_usd, is_enabled)."""
    rows = []
    for i, lim in enumerate(limits):
        amount = lim.get("amount_usd")
        rows.append([datetime.now(UTC), lim.get("limit_id", f"spl_{i:04d}"), lim.get("scope_type", "organization"),
                     lim.get("workspace_id"), lim.get("period", "monthly"), Decimal(amount) if amount is not None else None,
                     lim.get("currency", "USD"), lim.get("is_enabled", True)])
    store.replace_spend_limits(rows)
