"""One reconcile run: fetch (or receive) the two reports, compare with ``calls``, store the run.

``reconcile_from_api`` is what the collector's daily run calls. ``claudescope reconcile``
fetches the reports in its own process (the admin key never leaves it) with
:func:`fetch_reports` and hands them to :func:`reconcile_reports`, inside the collector
through ``POST /api/v1/admin/reconcile`` or on the store file itself.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, astuple, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from claudescope.collector.reconcile.admin_client import AdminApi, AdminApiError, one_line
from claudescope.collector.reconcile.bill import BILL_GROUP_BY, USAGE_GROUP_BY, BillError, bill_cells
from claudescope.collector.reconcile.compare import calls_cells, canonical_model, compare
from claudescope.collector.store import Store
from claudescope.config import ADMIN_KEY_ENV, Config
from claudescope.pricing import PriceTable

__all__ = [
    "ReconcileRequest", "Reports", "RunReport", "default_period", "fetch_reports", "reconcile_from_api", "reconcile_reports",
    "record_failure",
]

NO_KEY = f"no Admin API key: set {ADMIN_KEY_ENV} (an sk-ant-admin... key) in the environment"


@dataclass(frozen=True, slots=True)
class Reports:
    """The two Admin API reports of a period, as their ``data`` buckets."""

    cost: list[dict[str, Any]]
    usage: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RunReport:
    """What one run did: its id, its rows (dicts of the ``reconciliation`` columns), its error."""

    run_id: str
    since: date
    until: date
    rows_compared: int = 0
    rows_mismatched: int = 0
    error: str | None = None
    rows: tuple[dict[str, Any], ...] = field(default=())
    tolerance: Decimal = Decimal("0.001")
    bill_usd: Decimal | None = None
    calls_usd: Decimal | None = None

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form: money and drift as exact strings, days ISO."""
        return {
            "run_id": self.run_id, "since": self.since.isoformat(), "until": self.until.isoformat(),
            "rows_compared": self.rows_compared, "rows_mismatched": self.rows_mismatched, "error": self.error,
            "tolerance": str(self.tolerance), "bill_usd": _text(self.bill_usd), "calls_usd": _text(self.calls_usd),
            "rows": [{k: _text(v) for k, v in r.items()} for r in self.rows],
        }


def _text(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class ReconcileRequest:
    """What ``claudescope reconcile`` hands the collector: the fetched reports, or why it has none."""

    since: date
    until: date
    reports: Reports | None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The body of ``POST /api/v1/admin/reconcile`` (the reports, never the key)."""
        body: dict[str, Any] = {"since": self.since.isoformat(), "until": self.until.isoformat()}
        if self.reports is not None:
            body |= {"cost_report": self.reports.cost, "usage_report": self.reports.usage}
        if self.error is not None:
            body["error"] = self.error
        return body

    @classmethod
    def from_json(cls, payload: Any) -> ReconcileRequest:
        """Inverse of :meth:`as_json`.

        Raises:
            ValueError: not that shape, or ``since`` after ``until``.
        """
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        since, until = date.fromisoformat(str(payload.get("since"))), date.fromisoformat(str(payload.get("until")))
        if since > until:
            raise ValueError(f"since {since} is after until {until}")
        if isinstance(payload.get("error"), str):
            return cls(since, until, None, payload["error"])
        cost, usage = payload.get("cost_report"), payload.get("usage_report")
        if not isinstance(cost, list) or not isinstance(usage, list):
            raise ValueError("cost_report and usage_report must be lists of report buckets")
        return cls(since, until, Reports(cost, usage))

    def run(self, store: Store, config: Config, *, trigger: str) -> RunReport:
        """Compare and record (or record the failure this request reports)."""
        if self.reports is None:
            return record_failure(store, config, since=self.since, until=self.until, trigger=trigger,
                                  error=self.error or "no reports")
        return reconcile_reports(store, config, self.reports, since=self.since, until=self.until, trigger=trigger)


def default_period(today: date, lookback_days: int) -> tuple[date, date]:
    """The last ``lookback_days`` full UTC days, and today (whose bill is not final yet)."""
    return today - timedelta(days=lookback_days), today


def fetch_reports(api: AdminApi, since: date, until: date) -> Reports:
    """Both reports for the UTC days [since, until], grouped as the comparison needs.

    Raises:
        AdminApiError: the API could not be read (the message never holds the key).
    """
    start = datetime.combine(since, time(), UTC)
    end = datetime.combine(until + timedelta(days=1), time(), UTC)
    return Reports(cost=api.cost_report(start, end, group_by=BILL_GROUP_BY),
                   usage=api.usage_report(start, end, group_by=USAGE_GROUP_BY))


def reconcile_from_api(store: Store, config: Config, *, since: date, until: date, trigger: str) -> RunReport:
    """Fetch both reports for [since, until] (UTC days), compare, store the run.

    An Admin API failure (or no key) does not raise: the run is stored with ``error`` set and
    no rows, and the returned report carries the same one-line error. Store errors do raise.
    """
    key = config.reconcile.admin_key
    if key is None:
        return record_failure(store, config, since=since, until=until, trigger=trigger, error=NO_KEY)
    try:
        reports = fetch_reports(AdminApi(config.reconcile.admin_api_url, key), since, until)
    except AdminApiError as exc:
        return record_failure(store, config, since=since, until=until, trigger=trigger, error=str(exc))
    return reconcile_reports(store, config, reports, since=since, until=until, trigger=trigger)


def reconcile_reports(
    store: Store, config: Config, reports: Reports, *, since: date, until: date, trigger: str, now: datetime | None = None,
) -> RunReport:
    """Compare fetched reports with the store's calls of [since, until] and record the run.

    A report that does not have the documented shape records a failed run (``error`` set).
    """
    now = now or datetime.now(UTC)
    prices = PriceTable.load(config.pricing)
    tolerance = config.reconcile.tolerance
    try:
        bill = bill_cells(reports.cost, reports.usage, lambda name: canonical_model(prices, name))
    except BillError as exc:
        return record_failure(store, config, since=since, until=until, trigger=trigger, error=f"Admin API answer: {exc}")
    bill = {k: c for k, c in bill.items() if since <= k[0] <= until}
    calls = calls_cells(prices, store.reconcile_calls(since, until))
    rows = compare(bill, calls, prices, tolerance=tolerance, today=now.astimezone(UTC).date())
    run_id = _run_id(now)
    bill_usd = sum((r.bill_usd for r in rows), Decimal(0))
    calls_usd = sum((r.calls_usd for r in rows), Decimal(0))
    mismatched = sum(1 for r in rows if not r.matches)
    store.record_reconcile_run(
        (run_id, now, trigger, since, until, tolerance, bill_usd, calls_usd, len(rows), mismatched, None),
        [(run_id, *astuple(r)) for r in rows],
    )
    return RunReport(run_id, since, until, len(rows), mismatched, None, tuple(asdict(r) for r in rows),
                     tolerance, bill_usd, calls_usd)


def record_failure(store: Store, config: Config, *, since: date, until: date, trigger: str, error: str) -> RunReport:
    """Store a run that could not compare (``error`` set, no rows) and return its report."""
    now = datetime.now(UTC)
    run_id = _run_id(now)
    line = one_line(error)
    store.record_reconcile_run((run_id, now, trigger, since, until, config.reconcile.tolerance, None, None, 0, 0, line), [])
    return RunReport(run_id, since, until, error=line, tolerance=config.reconcile.tolerance)


def _run_id(now: datetime) -> str:
    return f"rec_{now.strftime('%Y%m%dT%H%M%SZ')}_{uuid.uuid4().hex[:8]}"
