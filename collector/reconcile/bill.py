"""The bill side of a reconciliation: the Admin API's cost and usage reports as day x model x workspace cells.

Pure: takes the ``data`` buckets as the API returns them (``AdminApi.cost_report`` grouped by
``workspace_id`` and ``description``, ``AdminApi.usage_report`` grouped by ``model``,
``workspace_id`` and ``service_tier``) and a function giving a model's canonical id (the price
table's key), so that the bill's names meet the calls' aliases and dated ids.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "BILL_GROUP_BY", "CLASSES", "DEFAULT_WORKSPACE", "USAGE_GROUP_BY", "BillCell", "BillError", "Tokens", "bill_cells", "collapse",
]

# What the reports are asked for (AdminApi group_by).
BILL_GROUP_BY = ("workspace_id", "description")
USAGE_GROUP_BY = ("model", "workspace_id", "service_tier")
# The workspace the API names null (the organisation's default workspace).
DEFAULT_WORKSPACE = "default"
NO_MODEL = "(no model)"  # cost report lines that name none (e.g. an organisation-level charge)

# Token classes, in the reconciliation table's column order.
CLASSES = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
# The cost report's token_type -> our class.
_TOKEN_TYPES = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write_5m",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}
_CENTS = Decimal(100)


class BillError(ValueError):
    """A report item does not have the documented shape (one line, names the field)."""


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts by class, and web search requests."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int = 0
    web_search: int = 0

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Tokens)))

    def total(self) -> int:
        """Every token of every class (web searches are requests, not tokens)."""
        return sum(getattr(self, c) for c in CLASSES)


@dataclass(slots=True)
class BillCell:
    """What the bill says for one UTC day x model x workspace.

    ``usd`` is keyed by line kind: a token class of ``CLASSES``, ``web_search``,
    ``code_execution`` or ``other``; ``tier_usd`` by (service_tier, class) for token lines, and
    ``tier_tokens`` by service_tier, so a rate per token class and tier can be implied.
    """

    day: date
    model: str  # as the bill names it
    workspace: str  # DEFAULT_WORKSPACE or wrkspc_...
    usd: dict[str, Decimal] = field(default_factory=dict)
    tier_usd: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    tokens: Tokens = Tokens()
    tier_tokens: dict[str, Tokens] = field(default_factory=dict)

    @property
    def cost_usd(self) -> Decimal:
        """The bill's total for the cell (exact: cents / 100)."""
        return sum(self.usd.values(), Decimal(0))

    def merge(self, other: BillCell) -> None:
        """Add ``other`` into this cell (collapsing workspaces into one)."""
        for key, value in other.usd.items():
            self.usd[key] = self.usd.get(key, Decimal(0)) + value
        for key2, value in other.tier_usd.items():
            self.tier_usd[key2] = self.tier_usd.get(key2, Decimal(0)) + value
        self.tokens = self.tokens + other.tokens
        for tier, tokens in other.tier_tokens.items():
            self.tier_tokens[tier] = self.tier_tokens.get(tier, Tokens()) + tokens


Key = tuple[date, str, str]  # (day, canonical model, workspace)


def bill_cells(
    cost_buckets: Iterable[Mapping[str, Any]], usage_buckets: Iterable[Mapping[str, Any]], canonical: Callable[[str], str],
) -> dict[Key, BillCell]:
    """Both reports merged into cells keyed by (day, canonical model id, workspace).

    Raises:
        BillError: an item lacks a documented field or holds a non-number where a number goes.
    """
    cells: dict[Key, BillCell] = {}

    def cell(day: date, model: str | None, workspace: str | None) -> BillCell:
        name = model or NO_MODEL
        key = (day, canonical(name) if model else NO_MODEL, workspace or DEFAULT_WORKSPACE)
        if key not in cells:
            cells[key] = BillCell(day, name, key[2])
        return cells[key]

    for day, result in _results(cost_buckets, "cost_report"):
        target = cell(day, result.get("model"), result.get("workspace_id"))
        kind, tier = _line_kind(result), result.get("service_tier") or "standard"
        amount = _cents(result.get("amount"))
        target.usd[kind] = target.usd.get(kind, Decimal(0)) + amount
        if kind in CLASSES:
            target.tier_usd[(tier, kind)] = target.tier_usd.get((tier, kind), Decimal(0)) + amount
    for day, result in _results(usage_buckets, "usage_report"):
        target = cell(day, result.get("model"), result.get("workspace_id"))
        tokens = _usage_tokens(result)
        target.tokens = target.tokens + tokens
        tier = result.get("service_tier") or "standard"
        target.tier_tokens[tier] = target.tier_tokens.get(tier, Tokens()) + tokens
    return cells


def collapse(cells: Iterable[BillCell], workspace: str) -> BillCell:
    """One cell summing ``cells`` (same day and model) under ``workspace``."""
    cells = list(cells)
    total = replace(cells[0], workspace=workspace, usd={}, tier_usd={}, tokens=Tokens(), tier_tokens={})
    for c in cells:
        total.merge(c)
    return total


def _results(buckets: Iterable[Mapping[str, Any]], report: str) -> Iterable[tuple[date, Mapping[str, Any]]]:
    for bucket in buckets:
        try:
            day = datetime.fromisoformat(str(bucket["starting_at"]).replace("Z", "+00:00")).date()
            results = bucket["results"]
        except (KeyError, TypeError, ValueError) as exc:
            raise BillError(f"{report}: a bucket without a valid starting_at / results ({type(exc).__name__}: {exc})") from None
        if not isinstance(results, list):
            raise BillError(f"{report}: bucket {day} results is not a list")
        for result in results:
            if not isinstance(result, Mapping):
                raise BillError(f"{report}: bucket {day} holds a result that is not an object")
            yield day, result


def _line_kind(result: Mapping[str, Any]) -> str:
    cost_type = result.get("cost_type")
    if cost_type in ("web_search", "code_execution"):
        return str(cost_type)
    token_type = result.get("token_type")
    if cost_type in ("tokens", None) and token_type in _TOKEN_TYPES:
        return _TOKEN_TYPES[token_type]
    return "other"


def _cents(raw: Any) -> Decimal:
    """A cost report amount (a decimal string in cents) in USD, exactly."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise BillError(f"cost_report: amount {raw!r} is not a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise BillError(f"cost_report: amount {raw!r} is not a decimal string") from None
    if not value.is_finite():
        raise BillError(f"cost_report: amount {raw!r} is not a finite number")
    return value / _CENTS


def _usage_tokens(result: Mapping[str, Any]) -> Tokens:
    creation = result.get("cache_creation") or {}
    tools = result.get("server_tool_use") or {}
    if not isinstance(creation, Mapping) or not isinstance(tools, Mapping):
        raise BillError("usage_report: cache_creation and server_tool_use must be objects")
    return Tokens(
        input=_count(result.get("uncached_input_tokens")),
        cache_read=_count(result.get("cache_read_input_tokens")),
        cache_write_5m=_count(creation.get("ephemeral_5m_input_tokens")),
        cache_write_1h=_count(creation.get("ephemeral_1h_input_tokens")),
        output=_count(result.get("output_tokens")),
        web_search=_count(tools.get("web_search_requests")),
    )


def _count(raw: Any) -> int:
    if raw is None:
        return 0
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise BillError(f"usage_report: token count {raw!r} is not a non-negative integer")
    return raw
