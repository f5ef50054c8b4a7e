"""What the fake API is told to bill beyond the traffic it answered, and at what price.

Three injections, so the demo and the tests can show a real mismatch being found:

- **untraced usage** (:class:`UntracedBill`): extra usage billed on a UTC day for a model (and
  optionally a workspace), as if a service without claudescope had called. Text form
  ``DAY:MODEL[:WORKSPACE]:input=N,output=N,cache_read=N,cache_write_5m=N,cache_write_1h=N,
  web_search=N`` (omitted counts are 0), e.g. ``2026-12-01:claude-sonnet-4-6:input=50000,output=8000``.
  It is billed at 12:00 UTC that day on the standard tier, under the key id of a service
  named ``untraced-service``.
- **billing prices** (``prices``): the fake bills a model at other prices than the table's,
  USD per million tokens, e.g. ``claude-sonnet-4-6:cache_read=0.50``; the keys are
  ``input, output, cache_write_5m, cache_write_1h, cache_read``. The keys not given keep the
  table's value in each of the model's price periods. As for any ``[prices]`` override the
  long-context band of that model is dropped. A model the table lacks needs input and output.
- **spend limits** (:class:`SpendLimitSpec`): ``SCOPE:PERIOD:AMOUNT``, SCOPE ``organization``
  or a workspace id, PERIOD ``daily|weekly|monthly``, AMOUNT in USD (whole cents) or ``none``,
  e.g. ``organization:monthly:500``, ``wrkspc_x:daily:20``. Served by
  ``GET /v1/organizations/spend_limits``; the fake does not enforce them.

Costs are computed by the core price table: tokens x ``PriceTable.rates(model, usage, at=)``
per token class, web search at the table's per-request fee, exact ``Decimal``. A model the
table cannot price (or fast mode with no known fast price) has no cost lines: the fake
cannot invent a price, so such usage is in the usage report but not in the cost report.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from anthropic.types.beta.organization import BetaSpendLimit

from claudescope.config_model import DatedPrice, PricingConfig
from claudescope.pricing import PriceDataError, PriceTable, Usage, rate_problem
from claudescope.fakeapi.ledger import LedgerEntry, api_key_id, context_window_band

__all__ = [
    "BillingConfig", "BillingError", "BillingState", "CostLine", "Pricer", "SpendLimitSpec", "UntracedBill",
    "parse_price", "parse_spend_limit", "parse_untraced",
]

USAGE_KEYS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "web_search")
PRICE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
PERIODS = ("daily", "weekly", "monthly")
UNTRACED_SERVICE = "untraced-service"
# (token_type, Usage field, TokenRates field, description suffix), in the cost report's order.
TOKEN_CLASSES = (
    ("uncached_input_tokens", "input_tokens", "input", "Input Tokens"),
    ("output_tokens", "output_tokens", "output", "Output Tokens"),
    ("cache_read_input_tokens", "cache_read_tokens", "cache_read", "Cache Read"),
    ("cache_creation.ephemeral_5m_input_tokens", "cache_write_5m_tokens", "cache_write_5m", "Cache Write (5m)"),
    ("cache_creation.ephemeral_1h_input_tokens", "cache_write_1h_tokens", "cache_write_1h", "Cache Write (1h)"),
)


class BillingError(ValueError):
    """A malformed injection; the message is one line naming what is wrong."""


@dataclass(frozen=True, slots=True)
class UntracedBill:
    """Usage billed on ``day`` for ``model`` that no traced call made."""

    day: date
    model: str
    workspace_id: str | None
    counts: Mapping[str, int]

    def entry(self) -> LedgerEntry:
        """The ledger entry this injection bills (12:00 UTC on its day)."""
        c = self.counts
        prompt = c.get("input", 0) + c.get("cache_read", 0) + c.get("cache_write_5m", 0) + c.get("cache_write_1h", 0)
        return LedgerEntry(
            at=datetime.combine(self.day, time(12), tzinfo=timezone.utc), model=self.model,
            workspace_id=self.workspace_id, api_key_id=api_key_id(UNTRACED_SERVICE), service_tier="standard",
            inference_geo="global", speed="standard", context_window=context_window_band(prompt),
            uncached_input_tokens=c.get("input", 0), cache_read_input_tokens=c.get("cache_read", 0),
            cache_write_5m_tokens=c.get("cache_write_5m", 0), cache_write_1h_tokens=c.get("cache_write_1h", 0),
            output_tokens=c.get("output", 0), web_search_requests=c.get("web_search", 0), source="injected",
        )


@dataclass(frozen=True, slots=True)
class SpendLimitSpec:
    """A spend limit the fake reports: ``scope`` is ``organization`` or a workspace id."""

    scope: str
    period: str
    amount_usd: Decimal | None

    def json(self, created: datetime, updated: datetime) -> dict[str, Any]:
        """The ``BetaSpendLimit`` JSON, validated with the SDK's own type."""
        scope: dict[str, str] = {"type": "organization"}
        if self.scope != "organization":
            scope = {"type": "workspace", "workspace_id": self.scope}
        digest = hashlib.sha256(f"{self.scope}/{self.period}".encode()).hexdigest()[:22]
        data = {
            "id": "spl_01" + digest, "type": "spend_limit", "scope": scope, "period": self.period,
            "amount": None if self.amount_usd is None else str(int(self.amount_usd * 100)),
            "currency": "USD", "is_enabled": True, "created_at": created, "updated_at": updated,
        }
        return BetaSpendLimit.model_validate(data).model_dump(mode="json")


@dataclass(frozen=True)
class BillingConfig:
    """Injections for ``create_fake_api(billing=...)`` (see the module docstring)."""

    untraced: tuple[UntracedBill, ...] = ()
    prices: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    spend_limits: tuple[SpendLimitSpec, ...] = ()

    @classmethod
    def parse(cls, untraced: Sequence[str] = (), prices: Sequence[str] = (), spend_limits: Sequence[str] = ()) -> BillingConfig:
        """From the text forms (the ``python -m claudescope.fakeapi`` flags); raises BillingError."""
        merged: dict[str, dict[str, Decimal]] = {}
        for text in prices:
            model, rates = parse_price(text)
            merged.setdefault(model, {}).update(rates)
        return cls(
            untraced=tuple(parse_untraced(t) for t in untraced), prices=merged,
            spend_limits=tuple(parse_spend_limit(t) for t in spend_limits),
        )


def _pairs(text: str, keys: tuple[str, ...], what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in keys:
            raise BillingError(f"{what}: bad item {item!r} (keys: {', '.join(keys)})")
        pairs[key.strip()] = value.strip()
    if not pairs:
        raise BillingError(f"{what}: no {'/'.join(keys)}=... given")
    return pairs


def usage_counts(raw: Mapping[str, Any], what: str) -> dict[str, int]:
    """Token counts by key; each a non-negative integer, at least one positive."""
    counts: dict[str, int] = {}
    for key, value in raw.items():
        if key not in USAGE_KEYS:
            raise BillingError(f"{what}: unknown usage key {key!r} (keys: {', '.join(USAGE_KEYS)})")
        try:
            count = int(str(value))
        except ValueError:
            raise BillingError(f"{what}: {key} must be an integer, got {value!r}") from None
        if count < 0:
            raise BillingError(f"{what}: {key} must not be negative")
        counts[key] = count
    if not any(counts.values()):
        raise BillingError(f"{what}: bills nothing (every count is 0)")
    return counts


def untraced_bill(day: Any, model: Any, workspace: Any, counts: Mapping[str, Any]) -> UntracedBill:
    """Validate the parts of an untraced-usage injection."""
    what = "untraced usage"
    try:
        when = date.fromisoformat(str(day))
    except ValueError:
        raise BillingError(f"{what}: day must be YYYY-MM-DD, got {day!r}") from None
    if not isinstance(model, str) or not model.strip():
        raise BillingError(f"{what}: a model is required")
    if workspace is not None and (not isinstance(workspace, str) or not workspace.strip()):
        raise BillingError(f"{what}: workspace must be a workspace id")
    return UntracedBill(when, model.strip(), workspace.strip() if workspace else None, usage_counts(counts, what))


def parse_untraced(text: str) -> UntracedBill:
    """``DAY:MODEL[:WORKSPACE]:input=N,output=N,...``."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise BillingError(f"untraced usage {text!r}: expected DAY:MODEL[:WORKSPACE]:input=N,output=N")
    workspace = parts[2] if len(parts) == 4 else None
    return untraced_bill(parts[0], parts[1], workspace, _pairs(parts[-1], USAGE_KEYS, f"untraced usage {text!r}"))


def price_rates(model: str, raw: Mapping[str, Any]) -> dict[str, Decimal]:
    """Validate billing prices (USD per million tokens) for ``model``."""
    what = f"billing price for {model}"
    if not raw:
        raise BillingError(f"{what}: no price given")
    rates: dict[str, Decimal] = {}
    for key, value in raw.items():
        if key not in PRICE_KEYS:
            raise BillingError(f"{what}: unknown key {key!r} (keys: {', '.join(PRICE_KEYS)})")
        try:
            rate = Decimal(str(value))
        except InvalidOperation:
            raise BillingError(f"{what}: {key} must be a number, got {value!r}") from None
        problem = rate_problem(rate)
        if problem:
            raise BillingError(f"{what}: {key} {problem}")
        rates[key] = rate
    return rates


def parse_price(text: str) -> tuple[str, dict[str, Decimal]]:
    """``MODEL:key=USD_PER_MTOK[,key=...]``."""
    model, sep, rest = text.rpartition(":")
    if not sep or not model.strip():
        raise BillingError(f"billing price {text!r}: expected MODEL:cache_read=0.50")
    return model.strip(), price_rates(model.strip(), _pairs(rest, PRICE_KEYS, f"billing price {text!r}"))


def spend_limit(scope: Any, period: Any, amount: Any) -> SpendLimitSpec:
    """Validate a spend limit: scope, period and an amount in USD (whole cents) or None."""
    what = "spend limit"
    if not isinstance(scope, str) or not (scope == "organization" or scope.startswith("wrkspc_")):
        raise BillingError(f"{what}: scope must be 'organization' or a workspace id (wrkspc_...), got {scope!r}")
    if period not in PERIODS:
        raise BillingError(f"{what}: period must be one of {', '.join(PERIODS)}, got {period!r}")
    usd: Decimal | None = None
    if amount is not None and str(amount).lower() != "none":
        try:
            usd = Decimal(str(amount))
        except InvalidOperation:
            raise BillingError(f"{what}: amount must be USD (e.g. 500 or 20.50) or none, got {amount!r}") from None
        if not usd.is_finite() or usd < 0 or usd != usd.quantize(Decimal("0.01")):
            raise BillingError(f"{what}: amount must be a non-negative USD amount in whole cents, got {amount!r}")
    return SpendLimitSpec(scope, period, usd)


def parse_spend_limit(text: str) -> SpendLimitSpec:
    """``SCOPE:PERIOD:AMOUNT``."""
    parts = text.split(":")
    if len(parts) != 3:
        raise BillingError(f"spend limit {text!r}: expected SCOPE:PERIOD:AMOUNT, e.g. organization:monthly:500")
    return spend_limit(parts[0].strip(), parts[1].strip(), parts[2].strip())


@dataclass(frozen=True, slots=True)
class CostLine:
    """One priced part of a ledger entry."""

    cost_type: str  # tokens | web_search
    token_type: str | None
    description: str
    usd: Decimal


def display_name(model: str) -> str:
    """``claude-sonnet-5-5`` -> ``Claude Sonnet 5.5`` (the cost report's wording)."""
    words: list[str] = []
    for part in model.split("-"):
        if part.isdigit() and words and words[-1][-1:].isdigit():
            words[-1] += "." + part
        else:
            words.append(part.capitalize() if not part.isdigit() else part)
    return " ".join(words)


class Pricer:
    """Prices ledger entries with the core table, with the fake's billing prices merged in."""

    def __init__(self, prices: Mapping[str, Mapping[str, Decimal]]) -> None:
        base = PriceTable.load(PricingConfig())
        overrides = {model: _override(base, model, rates) for model, rates in prices.items()}
        self.table = PriceTable.load(PricingConfig(overrides=overrides)) if overrides else base

    def lines(self, entry: LedgerEntry) -> list[CostLine]:
        """The entry's cost lines; empty when the table cannot price it."""
        usage = Usage(
            input_tokens=entry.uncached_input_tokens, cache_read_tokens=entry.cache_read_input_tokens,
            cache_write_5m_tokens=entry.cache_write_5m_tokens, cache_write_1h_tokens=entry.cache_write_1h_tokens,
            output_tokens=entry.output_tokens, web_search_requests=entry.web_search_requests,
            service_tier=entry.service_tier, inference_geo=entry.inference_geo, speed=entry.speed,
        )
        rates = self.table.rates(entry.model, usage, at=entry.at)
        if rates is None:
            return []
        name = display_name(self.table.resolve(entry.model) or entry.model)
        out = [
            CostLine("tokens", token_type, f"{name} Usage - {suffix}", getattr(usage, count) * getattr(rates, rate))
            for token_type, count, rate, suffix in TOKEN_CLASSES if getattr(usage, count)
        ]
        if usage.web_search_requests:
            searches = Usage(web_search_requests=usage.web_search_requests, service_tier=entry.service_tier,
                             inference_geo=entry.inference_geo, speed=entry.speed)
            cost = self.table.price(entry.model, searches, at=entry.at)
            if cost is not None:
                out.append(CostLine("web_search", None, "Web Search", cost.other_usd))
        return out


def _override(base: PriceTable, model: str, rates: Mapping[str, Decimal]) -> tuple[DatedPrice, ...]:
    """Dated override rows: the model's table prices in each period, ``rates`` replacing keys."""
    entry = base.entry(model)
    if entry is None:
        if not {"input", "output"} <= set(rates):
            raise BillingError(f"billing price for {model}: not in the price table, so input and output are required")
        return (DatedPrice(rates=dict(rates)),)
    rows = []
    for period in entry.periods:
        table = {key: getattr(period.rates, key) for key in PRICE_KEYS}
        rows.append(DatedPrice(rates={**table, **rates}, start=period.start, end=period.end))
    return tuple(rows)


def _pricer(prices: Mapping[str, Mapping[str, Decimal]]) -> Pricer:
    try:
        return Pricer(prices)
    except PriceDataError as exc:
        raise BillingError(f"billing prices: {exc}") from None


class BillingState:
    """The injections in force in one fake API instance (the control endpoint adds to them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prices: dict[str, dict[str, Decimal]] = {}
        self._limits: dict[tuple[str, str], tuple[SpendLimitSpec, datetime, datetime]] = {}
        self._untraced: list[UntracedBill] = []
        self.pricer = Pricer({})

    def apply(self, config: BillingConfig) -> list[LedgerEntry]:
        """Merge ``config`` in; returns the ledger entries its untraced usage bills.

        Raises BillingError (nothing applied) when a price cannot be built.
        """
        with self._lock:
            prices = {m: dict(r) for m, r in self._prices.items()}
            for model, rates in config.prices.items():
                prices.setdefault(model, {}).update(rates)
            pricer = _pricer(prices) if config.prices else self.pricer
            now = datetime.now(timezone.utc)
            limits = dict(self._limits)
            for spec in config.spend_limits:
                created = limits.get((spec.scope, spec.period), (spec, now, now))[1]
                spec.json(created, now)  # validated before anything is kept
                limits[(spec.scope, spec.period)] = (spec, created, now)
            self._prices, self.pricer, self._limits = prices, pricer, limits
            self._untraced.extend(config.untraced)
        return [bill.entry() for bill in config.untraced]

    def spend_limits(self) -> list[dict[str, Any]]:
        """Every configured spend limit as ``BetaSpendLimit`` JSON, newest first."""
        with self._lock:
            limits = sorted(self._limits.values(), key=lambda item: item[1], reverse=True)
        return [spec.json(created, updated) for spec, created, updated in limits]

    def describe(self) -> dict[str, Any]:
        """What is injected, as JSON (``GET /v1/fake/billing``)."""
        with self._lock:
            prices = {m: {k: str(v) for k, v in r.items()} for m, r in self._prices.items()}
            untraced = [{"day": b.day.isoformat(), "model": b.model, "workspace_id": b.workspace_id, "usage": dict(b.counts)}
                        for b in self._untraced]
        return {"untraced": untraced, "prices": prices, "spend_limits": self.spend_limits()}
