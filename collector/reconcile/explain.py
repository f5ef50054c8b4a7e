"""Why a day x model row differs from the bill: its cause and plain sentences with the numbers.

Causes (the ``reconciliation.cause`` column, see the 0006 migration and docs/reconciliation.md):
``match``, ``price_table``, ``untraced``, ``extra_traced``, ``unpriced``, ``priority_tier``,
``not_in_bill``, and ``mixed`` when several apply (the explanation then has a sentence for each).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from claudescope.collector.reconcile.bill import CLASSES, BillCell, Tokens
from claudescope.pricing import PriceTable, Usage

if TYPE_CHECKING:
    from claudescope.collector.reconcile.compare import CallsCell, DayContext

__all__ = ["CAUSES", "Verdict", "judge"]

CAUSES = ("match", "price_table", "untraced", "extra_traced", "unpriced", "priority_tier", "not_in_bill", "mixed")
_LABELS = {"input": "uncached input", "cache_read": "cache read", "cache_write_5m": "5-minute cache write",
           "cache_write_1h": "1-hour cache write", "output": "output"}
_MTOK = Decimal(1_000_000)
_PRIORITY = "priority"
# The stored cost parts (calls) and the bill's line kinds they sum.
_PARTS = {"input": ("input",), "output": ("output",), "cache_read": ("cache_read",),
          "cache_write": ("cache_write_5m", "cache_write_1h"), "web_search": ("web_search",)}
_PART_LABELS = {"input": "uncached input tokens", "output": "output tokens", "cache_read": "cache read tokens",
                "cache_write": "cache write tokens", "web_search": "web searches"}
_NOT_FINAL = "Today's bill is not final: the cost report fills in during the day and some hours after it."


@dataclass(frozen=True, slots=True)
class Verdict:
    """The cause of one row, whether it matches, and the sentences saying why."""

    matches: bool
    cause: str
    explanation: str


def judge(
    bill: BillCell | None, calls: CallsCell | None, prices: PriceTable, *, canon: str, tolerance: Decimal,
    context: DayContext,
) -> Verdict:
    """Compare one cell's two sides: cost within ``tolerance`` x bill, tokens class by class."""
    bill_usd = bill.cost_usd if bill else Decimal(0)
    calls_usd = calls.cost_usd if calls else Decimal(0)
    diff = calls_usd - bill_usd
    bt, ct = (bill.tokens if bill else Tokens()), (calls.tokens if calls else Tokens())
    # Tokens agree class by class within the same share of the bill as the cost.
    missing = {c: getattr(bt, c) - getattr(ct, c) for c in CLASSES if getattr(bt, c) - getattr(ct, c) > tolerance * getattr(bt, c)}
    extra = {c: getattr(ct, c) - getattr(bt, c) for c in CLASSES if getattr(ct, c) - getattr(bt, c) > tolerance * getattr(bt, c)}
    unpriced = calls.unpriced_calls if calls else 0
    cost_ok = abs(diff) <= tolerance * bill_usd
    if bill is None or (bill.cost_usd == 0 and bt.total() == 0 and bt.web_search == 0):
        held = calls is not None and bool(calls_usd or ct.total() or ct.web_search or calls.priority_usd or unpriced)
        causes = [("not_in_bill", _not_in_bill(calls, canon, context))] if held and calls is not None else []
    else:
        causes = _causes(bill, calls, prices, missing, extra, unpriced, canon=canon, tolerance=tolerance, context=context,
                         residual=None if cost_ok or missing or extra or unpriced else diff)
    matches = cost_ok and not missing and not extra and not unpriced and not causes
    sentences = [text for _, text in causes if text]
    if matches:
        sentences.insert(0, f"claudescope {_usd(calls_usd)} and the bill {_usd(bill_usd)} agree within {_pct(tolerance)}"
                            f" (difference {_usd(diff, sign=True)}); tokens agree class by class.")
    if calls and calls.priority_usd:
        sentences.append(f"{calls.priority_calls} priority-tier calls ({_usd(calls.priority_usd)}) are left out of the "
                         "cost comparison: the cost report has no Priority Tier costs.")
    if not context.final:
        sentences.append(_NOT_FINAL)
    kinds = sorted({c for c, _ in causes} - {""})
    cause = "match" if matches else (kinds[0] if len(kinds) == 1 else "mixed" if kinds else "price_table")
    return Verdict(matches, cause, " ".join(sentences))


def _causes(
    bill: BillCell, calls: CallsCell | None, prices: PriceTable, missing: dict[str, int], extra: dict[str, int], unpriced: int,
    *, canon: str, tolerance: Decimal, context: DayContext, residual: Decimal | None,
) -> list[tuple[str, str]]:
    """(cause, sentence) for each reason a row with a bill line differs; ``residual`` is the cost
    difference when only a price, the priority tier or code execution can explain it."""
    causes: list[tuple[str, str]] = []
    if missing:
        causes.append(("untraced", _untraced(missing, bill.tokens, calls, context)))
    code = bill.usd.get("code_execution", Decimal(0))
    if code:
        causes.append(("untraced", f"The bill has {_usd(code)} of code execution, which claudescope does not trace."))
    if extra:
        causes.append(("extra_traced", _extra(extra, bill.tokens)))
    if unpriced:
        causes.append(("unpriced", _unpriced(unpriced, calls, canon)))
    if residual is not None:
        causes.append(_cost_cause(bill, calls, prices, residual + code, tolerance, context))
    return causes


def _cost_cause(
    bill: BillCell, calls: CallsCell | None, prices: PriceTable, residual: Decimal, tolerance: Decimal, context: DayContext,
) -> tuple[str, str]:
    """Tokens agree but the cost does not: code execution, the priority tier, or a price."""
    if abs(residual) <= tolerance * bill.cost_usd:
        return "", ""  # code execution (already said) explains it all
    priority = calls.priority_usd if calls else Decimal(0)
    if priority and abs(residual + priority) <= tolerance * bill.cost_usd:
        return "priority_tier", (f"The bill is {_usd(-residual)} above claudescope, which is the cost of the priority-tier "
                                 "calls: this cost report counts Priority Tier, the comparison leaves it out.")
    return "price_table", _price_table(bill, calls, prices, residual, tolerance, context)


def _price_table(
    bill: BillCell, calls: CallsCell | None, prices: PriceTable, residual: Decimal, tolerance: Decimal, context: DayContext,
) -> str:
    """Name the parts whose cost differs, with the rate the bill implies and the one claudescope applied.

    Compared part by part with the stored costs (so batch, geo, long-context and fast-mode
    multipliers are on both sides); the current table is consulted only to tell a wrong table
    from stored costs priced by an older one.
    """
    head = (f"Tokens agree but the cost differs by {_usd(residual, sign=True)} ({_pct(residual / bill.cost_usd, sign=True)}"
            " of the bill): a price differs.")
    at = datetime(context.day.year, context.day.month, context.day.day, tzinfo=UTC)
    named: list[tuple[str, str, str]] = []
    stale = True  # until a differing part is not explained by the current table
    for part, kinds in _PARTS.items():
        billed = sum((bill.usd.get(k, Decimal(0)) for k in kinds), Decimal(0))
        stored = calls.part_usd.get(part, Decimal(0)) if calls else Decimal(0)
        if abs(stored - billed) <= tolerance * max(billed, stored):
            continue
        named.append(_part_rates(part, kinds, bill, calls, billed, stored))
        expected = [_expected(bill, k, prices, at) for k in kinds] if part != "web_search" else [None]
        table = sum((e for e in expected if e is not None), Decimal(0))
        stale = stale and None not in expected and abs(billed - table) <= tolerance * billed
    if not named:
        return (f"{head} No single part explains it: check the long-context, inference-geo and fast-mode multipliers"
                " in the price table.")
    ours = "claudescope's stored costs have" if stale else "claudescope's price table has"
    parts = "; ".join(f"{label} at {theirs} where {ours} {mine}" for label, theirs, mine in named)
    text = f"{head} The bill prices {parts} ({bill.model}, {context.day})."
    if stale:
        return (f"{text} claudescope's current price table agrees with the bill: the stored costs were priced by an older"
                f" table; run `claudescope reprice --since {context.day}`.")
    return (f"{text} Correct the model under [prices] in claudescope.toml (with `from = {context.day}` if the price changed"
            f" that day), then run `claudescope reprice --since {context.day}`.")


def _part_rates(part: str, kinds: tuple[str, ...], bill: BillCell, calls: CallsCell | None, billed: Decimal,
                stored: Decimal) -> tuple[str, str, str]:
    """(what, the bill's rate, claudescope's rate): ``("output tokens", "$12/MTok", "$10/MTok")``."""
    bill_n = sum(getattr(t, k) for tier, t in bill.tier_tokens.items() if tier != _PRIORITY for k in kinds)
    calls_n = sum(getattr(calls.cost_tokens, k) for k in kinds) if calls else 0
    unit, scale = ("search", Decimal(1)) if part == "web_search" else ("MTok", _MTOK)
    label = _PART_LABELS[part]
    if part == "cache_write":  # one stored part: name the bill's class when only one has tokens
        only = [k for k in kinds if any(getattr(t, k) for t in bill.tier_tokens.values())]
        label = f"{_LABELS[only[0]]} tokens" if len(only) == 1 else label
    ours = f"{_rate(stored / calls_n * scale)}/{unit}" if calls_n else f"{_usd(stored)} for no tokens"
    theirs = f"{_rate(billed / bill_n * scale)}/{unit}" if bill_n else f"{_usd(billed)} for no tokens"
    return label, theirs, ours


def _expected(bill: BillCell, cls: str, prices: PriceTable, at: datetime) -> Decimal | None:
    """What the current table charges for the bill's tokens of class ``cls``, tier by tier
    (None when it has no price); multipliers the reports do not name are not applied."""
    total = Decimal(0)
    for tier, tokens in bill.tier_tokens.items():
        count = getattr(tokens, cls)
        if not count or tier == _PRIORITY:
            continue
        rates = prices.rates(bill.model, Usage(service_tier=tier), at=at)
        if rates is None:
            return None
        total += count * getattr(rates, cls)
    return total


def _untraced(missing: dict[str, int], bt: Tokens, calls: CallsCell | None, context: DayContext) -> str:
    count = sum(missing.values())
    share = Decimal(count) / Decimal(bt.total()) if bt.total() else Decimal(1)
    text = (f"The bill has {count:,} more tokens than the traced calls ({_classes(missing)}), {_pct(share)} of the bill's "
            f"{bt.total():,} tokens: calls that were not traced (an uninstrumented service or key).")
    if calls is None or not calls.calls:
        text += " claudescope holds no traced calls at all for this model here."
    if context.services:
        workspaces = ", ".join(context.workspaces) if context.workspaces else "the calls carry no workspace id"
        text += f" Services that did report on {context.day}: {', '.join(context.services)}; workspaces: {workspaces}."
    else:
        text += f" No service reported any call on {context.day}."
    return text


def _extra(extra: dict[str, int], bt: Tokens) -> str:
    count = sum(extra.values())
    return (f"The traced calls hold {count:,} tokens more than the bill ({_classes(extra)}; the bill has {bt.total():,}):"
            " calls counted twice, or another organisation's traffic sent to this collector.")


def _unpriced(unpriced: int, calls: CallsCell | None, canon: str) -> str:
    of = calls.calls if calls else unpriced
    return (f"{unpriced} of the {of} traced calls of {canon} have no price in claudescope's table, so their cost is "
            "missing: add the model under [prices] in claudescope.toml and run `claudescope reprice`.")


def _not_in_bill(calls: CallsCell, canon: str, context: DayContext) -> str:
    text = (f"The bill has no line for {canon} here, but claudescope holds {calls.calls} calls "
            f"({_usd(calls.cost_usd)}, {calls.tokens.total():,} tokens) for it: traffic of another organisation's key,")
    return text + (" or the bill has not caught up yet." if not context.final else " or calls dated on the wrong day.")


def _classes(counts: dict[str, int]) -> str:
    return ", ".join(f"{_LABELS[c]} {n:,}" for c, n in counts.items())


def _usd(value: Decimal, *, sign: bool = False) -> str:
    text = f"{abs(value):,.6f}".rstrip("0").rstrip(".")
    if "." not in text:
        text += ".00"
    elif len(text.split(".")[1]) < 2:
        text += "0"
    prefix = ("-" if value < 0 else "+" if sign and value > 0 else "")
    return f"{prefix}${text}"


def _rate(value: Decimal) -> str:
    return "$" + (f"{value:,.4f}".rstrip("0").rstrip(".") or "0")


def _pct(fraction: Decimal, *, sign: bool = False) -> str:
    text = f"{fraction * 100:+.4g}" if sign else f"{fraction * 100:.4g}"
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} %"
