"""``claudescope reconcile``: fetch the bill here, compare it in the store's owner, print the rows.

The admin key stays in this process: it fetches both Admin API reports itself and hands the
data (never the key) to the collector serving ``--data``'s store (``POST
/api/v1/admin/reconcile``), or, when none runs, opens the store file itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from claudescope.collector.admin_api import pricing_to_json
from claudescope.collector.reconcile.admin_client import AdminApi, AdminApiError, one_line
from claudescope.collector.reconcile.job import NO_KEY, ReconcileRequest, default_period, fetch_reports
from claudescope.collector.store import StoreError
from claudescope.collector.target import UseFile, choose, open_local
from claudescope.config import Config

__all__ = ["run_reconcile"]

_TIMEOUT_S = 600.0
_WIDE = 160  # columns from which the explanations fit in the table


class _BadArgument(ValueError):
    """An option that cannot be used (exit 2)."""


def run_reconcile(config: Config, *, since: str | None, until: str | None, api_url: str | None, out: Console, err: Console) -> int:
    """Fetch, compare, store and print; 0 when it ran (mismatches included), 1 when it could not, 2 for bad options."""
    try:
        first, last = _period(config, since, until, datetime.now(UTC).date())
    except _BadArgument as exc:
        err.print(f"[bold red]error[/] {escape(str(exc))}")
        return 2
    key = config.reconcile.admin_key
    if key is None:
        err.print(f"[bold red]error[/] {escape(NO_KEY)}")
        return 2
    try:
        reports = fetch_reports(AdminApi(config.reconcile.admin_api_url, key), first, last)
        request = ReconcileRequest(first, last, reports)
    except AdminApiError as exc:
        request = ReconcileRequest(first, last, None, str(exc))
    try:
        report = _submit(config, api_url, request)
    except StoreError as exc:
        if request.error:  # the Admin API's refusal matters more than where it could not be recorded
            err.print(f"[bold red]reconcile failed[/] {escape(request.error)} (not recorded: {escape(str(exc))})")
        else:
            err.print(f"[bold red]error[/] {escape(str(exc))}")
        return 1
    if report.get("error"):
        err.print(f"[bold red]reconcile failed[/] {escape(str(report['error']))}")
        return 1
    _render(report, out)
    return 0


def _period(config: Config, since: str | None, until: str | None, today: date) -> tuple[date, date]:
    default_since, default_until = default_period(today, config.reconcile.lookback_days)
    first = _day("--since", since) if since else None
    last = _day("--until", until) if until else default_until
    if first is None:
        first = default_since if not until else last - timedelta(days=config.reconcile.lookback_days)
    if first > last:
        raise _BadArgument(f"--since {first} is after --until {last}")
    if last > today:
        raise _BadArgument(f"--until {last} is in the future (today is {today} UTC)")
    return first, last


def _day(option: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _BadArgument(f"{option} {raw!r} is not a date (YYYY-MM-DD, UTC)") from None


def _submit(config: Config, api_url: str | None, request: ReconcileRequest) -> dict[str, Any]:
    """Run the comparison in the collector serving the store, or on the file."""
    try:
        remote = choose(config, api_url)
    except UseFile as local:
        store = open_local(config, local, read_only=False)
        try:
            return request.run(store, config, trigger="command").as_json()
        finally:
            store.close()
    try:
        # The collector compares with this command's price table and tolerance (its --config).
        body = request.as_json() | {"pricing": pricing_to_json(config.pricing), "tolerance": str(config.reconcile.tolerance)}
        r = httpx.post(remote.url + "/api/v1/admin/reconcile", json=body, headers=remote.headers, timeout=_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise StoreError(f"the collector at {remote.url} stopped answering ({type(exc).__name__}); run it again") from None
    if r.status_code != 200:
        raise StoreError(f"the collector at {remote.url} answered {r.status_code}: {one_line(r.text, 300)}")
    body: dict[str, Any] = r.json()
    return body


def _render(report: dict[str, Any], out: Console) -> None:
    rows = report["rows"]
    if not rows:
        out.print(f"neither the bill nor claudescope has any usage from {report['since']} to {report['until']}")
    elif out.width >= _WIDE:
        out.print(_table(report, wide=True))
    else:  # a narrow terminal or a pipe: the explanations as lines under a compact table
        out.print(_table(report, wide=False))
        for n, r in enumerate(rows, 1):
            out.print(f"{n}. {r['day']} {escape(r['model'])} [{escape(r['workspace_id'])}]: bill ${_money(r['bill_usd'])}, "
                      f"claudescope ${_money(r['calls_usd'])}, {r['cause']}. {escape(r['explanation'])}")
    matching = sum(1 for r in rows if r["matches"])
    tolerance = Decimal(report["tolerance"]) * 100
    out.print(f"{matching} of {len(rows)} day x model rows match the bill within {tolerance.normalize():f} % "
              f"(run {report['run_id']}; stored in the reconciliation table)")


def _table(report: dict[str, Any], *, wide: bool) -> Table:
    title = f"claudescope vs the bill, {report['since']} .. {report['until']} (UTC)"
    table = Table(title=title) if wide else Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    if not wide:
        table.add_column("#", justify="right", no_wrap=True)
    table.add_column("day", no_wrap=True)
    table.add_column("model", overflow="fold", min_width=17)
    table.add_column("workspace", overflow="fold")
    money = ("bill $", "claudescope $", "diff") if wide else ("diff $",)
    for name in (*money, "drift %"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("cause", no_wrap=True)
    if wide:
        table.add_column("explanation", overflow="fold", ratio=1)
    for n, r in enumerate(report["rows"], 1):
        drift = "" if r["drift"] is None else f"{Decimal(r['drift']) * 100:+.4f}"
        cause = r["cause"] if r["matches"] else f"[bold red]{r['cause']}[/]"
        amounts = [_money(r["bill_usd"]), _money(r["calls_usd"])] if wide else []
        cells = ([] if wide else [str(n)]) + [r["day"], escape(r["model"]), escape(r["workspace_id"]), *amounts,
                                               _money(r["diff_usd"], sign=True), drift, cause]
        table.add_row(*cells, *([escape(r["explanation"])] if wide else []))
    return table


def _money(raw: str, *, sign: bool = False) -> str:
    value = Decimal(raw)
    return f"{value:+,.4f}" if sign else f"{value:,.4f}"
