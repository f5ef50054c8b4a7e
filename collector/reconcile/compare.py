"""The comparison: the bill's cells beside what ``calls`` holds, per UTC day x model x workspace.

Pure (no I/O). The calls side arrives as the store's aggregate (``Store.reconcile_calls``: one
row per day, request/response model, workspace, service tier and service); models meet through
the price table's canonical id, so an alias, a dated id and the bill's own name are one model.
Workspaces: when no call of a day x model carries ``anthropic.workspace.id`` the bill's
workspaces are summed into ``'*'``; otherwise each workspace is its own row, and calls without
one belong to the bill's default workspace.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from claudescope.collector.reconcile.bill import DEFAULT_WORKSPACE, BillCell, Tokens, collapse
from claudescope.collector.reconcile.explain import Verdict, judge
from claudescope.pricing import PriceTable
from claudescope.pricing.table import id_candidates

__all__ = ["ALL_WORKSPACES", "CallsCell", "DayContext", "ReconRow", "calls_cells", "canonical_model", "compare"]

ALL_WORKSPACES = "*"
_QUANTUM = Decimal("1e-9")
_PRIORITY = "priority"
# The store aggregate's cost parts -> the bill's line kinds (cache writes are one stored part).
_PARTS = {"cost_input_usd": "input", "cost_output_usd": "output", "cost_cache_read_usd": "cache_read",
          "cost_cache_write_usd": "cache_write", "cost_other_usd": "web_search"}


@dataclass(slots=True)
class CallsCell:
    """What the billed calls of one day x model x workspace hold."""

    model: str  # the name the calls use (response model, else request model)
    calls: int = 0
    unpriced_calls: int = 0
    tokens: Tokens = Tokens()  # every tier, priority included (the usage report has it)
    cost_usd: Decimal = Decimal(0)  # priority tier left out (the cost report has none)
    part_usd: dict[str, Decimal] = field(default_factory=dict)  # by _PARTS kind, priority left out
    priority_usd: Decimal = Decimal(0)
    priority_calls: int = 0
    services: set[str] = field(default_factory=set)
    cost_tokens: Tokens = Tokens()  # the tokens of the calls whose cost is compared (priority left out)


@dataclass(frozen=True, slots=True)
class DayContext:
    """What the explanation says about a whole day: who reported, and whether its bill is final."""

    day: date
    services: tuple[str, ...]
    workspaces: tuple[str, ...]  # workspace ids the calls carried (none: the calls carry none)
    final: bool


@dataclass(frozen=True, slots=True)
class ReconRow:
    """One ``reconciliation`` row (the table's columns, in order, without ``run_id``)."""

    day: date
    model: str
    workspace_id: str
    bill_usd: Decimal
    calls_usd: Decimal
    diff_usd: Decimal
    drift: Decimal | None
    bill_input_tokens: int
    bill_cache_read_tokens: int
    bill_cache_write_5m_tokens: int
    bill_cache_write_1h_tokens: int
    bill_output_tokens: int
    bill_web_search_requests: int
    calls_input_tokens: int
    calls_cache_read_tokens: int
    calls_cache_write_5m_tokens: int
    calls_cache_write_1h_tokens: int
    calls_output_tokens: int
    calls_web_search_requests: int
    calls: int
    unpriced_calls: int
    priority_usd: Decimal
    matches: bool
    cause: str
    explanation: str


def canonical_model(prices: PriceTable, name: str) -> str:
    """The price table's key for ``name`` in any id form; else its plain undated form."""
    return prices.resolve(name) or id_candidates(name)[-1]


def calls_cells(prices: PriceTable, groups: Iterable[Mapping[str, Any]]) -> dict[tuple[date, str, str | None], CallsCell]:
    """The store aggregate keyed by (day, canonical model, workspace id or None)."""
    cells: dict[tuple[date, str, str | None], CallsCell] = {}
    for g in groups:
        name = g["response_model"] or g["request_model"] or "(unknown)"
        canon = prices.resolve(g["response_model"] or "") or prices.resolve(g["request_model"] or "") or id_candidates(name)[-1]
        key = (g["day"], canon, g["workspace_id"] or None)
        cell = cells.setdefault(key, CallsCell(model=name))
        _add_group(cell, g)
    return cells


def _add_group(cell: CallsCell, g: Mapping[str, Any]) -> None:
    cell.calls += int(g["calls"])
    cell.unpriced_calls += int(g["unpriced_calls"])
    tokens = Tokens(
        int(g["input_tokens"] or 0), int(g["cache_read_tokens"] or 0), int(g["cache_write_5m_tokens"] or 0),
        int(g["cache_write_1h_tokens"] or 0), int(g["output_tokens"] or 0), int(g["web_search_requests"] or 0),
    )
    cell.tokens = cell.tokens + tokens
    if g["service_name"]:
        cell.services.add(str(g["service_name"]))
    cost = Decimal(g["cost_usd"] or 0)
    if g["service_tier"] == _PRIORITY:
        cell.priority_usd += cost
        cell.priority_calls += int(g["calls"])
        return
    cell.cost_usd += cost
    cell.cost_tokens = cell.cost_tokens + tokens
    for column, kind in _PARTS.items():
        cell.part_usd[kind] = cell.part_usd.get(kind, Decimal(0)) + Decimal(g[column] or 0)


def compare(
    bill: Mapping[tuple[date, str, str], BillCell], calls: Mapping[tuple[date, str, str | None], CallsCell],
    prices: PriceTable, *, tolerance: Decimal, today: date,
) -> list[ReconRow]:
    """Every day x model (x workspace) row, sorted by day, model, workspace."""
    bill_by: dict[tuple[date, str], list[BillCell]] = defaultdict(list)
    for (day, canon, _), cell in bill.items():
        bill_by[(day, canon)].append(cell)
    calls_by: dict[tuple[date, str], dict[str | None, CallsCell]] = defaultdict(dict)
    for (day, canon, workspace), ccell in calls.items():
        calls_by[(day, canon)][workspace] = ccell
    days = {day: _day_context(day, calls, today) for day, _ in {*bill_by, *calls_by}}
    rows = []
    for day, canon in sorted({*bill_by, *calls_by}):
        pairs = _pair(bill_by.get((day, canon), []), calls_by.get((day, canon), {}))
        for workspace, bcell, ccell in pairs:
            rows.append(_row(day, canon, workspace, bcell, ccell, prices, tolerance, days[day]))
    return sorted(rows, key=lambda r: (r.day, r.model, r.workspace_id))


def _pair(bills: list[BillCell], calls: dict[str | None, CallsCell]) -> list[tuple[str, BillCell | None, CallsCell | None]]:
    """(workspace, bill cell, calls cell) for one day x model."""
    if all(w is None for w in calls):
        merged = collapse(bills, ALL_WORKSPACES) if bills else None
        return [(ALL_WORKSPACES, merged, calls.get(None))]
    by_ws: dict[str, CallsCell] = {}
    for workspace, cell in calls.items():
        by_ws[workspace or DEFAULT_WORKSPACE] = _merge_calls(by_ws.get(workspace or DEFAULT_WORKSPACE), cell)
    bill_ws = {c.workspace: c for c in bills}
    return [(w, bill_ws.get(w), by_ws.get(w)) for w in sorted({*bill_ws, *by_ws})]


def _merge_calls(a: CallsCell | None, b: CallsCell) -> CallsCell:
    if a is None:
        return b
    parts = {k: a.part_usd.get(k, Decimal(0)) + b.part_usd.get(k, Decimal(0)) for k in {*a.part_usd, *b.part_usd}}
    return CallsCell(a.model, a.calls + b.calls, a.unpriced_calls + b.unpriced_calls, a.tokens + b.tokens,
                     a.cost_usd + b.cost_usd, parts, a.priority_usd + b.priority_usd, a.priority_calls + b.priority_calls,
                     a.services | b.services, a.cost_tokens + b.cost_tokens)


def _day_context(day: date, calls: Mapping[tuple[date, str, str | None], CallsCell], today: date) -> DayContext:
    services = sorted({s for (d, _, _), c in calls.items() if d == day for s in c.services})
    workspaces = sorted({w for (d, _, w) in calls if d == day and w})
    return DayContext(day, tuple(services), tuple(workspaces), final=day < today)


def _row(
    day: date, canon: str, workspace: str, bcell: BillCell | None, ccell: CallsCell | None,
    prices: PriceTable, tolerance: Decimal, context: DayContext,
) -> ReconRow:
    verdict: Verdict = judge(bcell, ccell, prices, canon=canon, tolerance=tolerance, context=context)
    bill_usd = bcell.cost_usd if bcell else Decimal(0)
    calls_usd = ccell.cost_usd if ccell else Decimal(0)
    diff = calls_usd - bill_usd
    bt = bcell.tokens if bcell else Tokens()
    ct = ccell.tokens if ccell else Tokens()
    return ReconRow(
        day=day, model=bcell.model if bcell else (ccell.model if ccell else canon), workspace_id=workspace,
        bill_usd=_q(bill_usd), calls_usd=_q(calls_usd), diff_usd=_q(diff), drift=_q(diff / bill_usd) if bill_usd else None,
        bill_input_tokens=bt.input, bill_cache_read_tokens=bt.cache_read, bill_cache_write_5m_tokens=bt.cache_write_5m,
        bill_cache_write_1h_tokens=bt.cache_write_1h, bill_output_tokens=bt.output, bill_web_search_requests=bt.web_search,
        calls_input_tokens=ct.input, calls_cache_read_tokens=ct.cache_read, calls_cache_write_5m_tokens=ct.cache_write_5m,
        calls_cache_write_1h_tokens=ct.cache_write_1h, calls_output_tokens=ct.output, calls_web_search_requests=ct.web_search,
        calls=ccell.calls if ccell else 0, unpriced_calls=ccell.unpriced_calls if ccell else 0,
        priority_usd=_q(ccell.priority_usd if ccell else Decimal(0)),
        matches=verdict.matches, cause=verdict.cause, explanation=verdict.explanation,
    )


def _q(value: Decimal) -> Decimal:
    """DECIMAL(18,9) as stored (the bill's fractional cents can go past 9 places)."""
    return value.quantize(_QUANTUM)
