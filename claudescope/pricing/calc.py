"""Exact prices for Claude calls: ``PriceTable.price(model, usage) -> Cost``.

The rules (docs/data-model.md, "How cost is computed"), applied per call by the response model,
at the prices in force at the call's start time (``at``; None = the current prices):

- uncached input (Anthropic's ``usage.input_tokens``), 5-minute and 1-hour cache writes, cache
  reads and output (thinking included) each at the model's absolute rate;
- a model with a prompt-size band (Sonnet 4 / 4.5 above 200K, Haiku 5.5 above 100K prompt
  tokens, where prompt = input + cache reads + cache writes) prices every category at the band;
- ``service_tier == "batch"`` halves, ``inference_geo == "us"`` is 1.1x on Claude 4.6 and later,
  ``speed == "fast"`` multiplies by the model's fast-mode factor; whether each of these also
  scales cache tokens is a ``PricingConfig`` switch;
- web search requests cost $0.01 each, in ``other_usd``.

An unknown model, or fast mode on a model whose fast price is unknown, prices as ``None``:
claudescope never guesses a price. Money is ``Decimal`` throughout, each part quantized to
1e-9 USD with banker's rounding, matching the store's DECIMAL(18,9).

What can be stored is decided once, for ingest, reprice and the config loader alike (the bounds
are in ``pricing_limits``; docs/data-model.md, "Numbers that cannot be stored"):

- a usage count outside 0..``MAX_CALL_COUNT`` is not a real call: ``count_problem`` says why,
  and the collector rejects that span alone;
- a price (USD per million tokens) must be finite, non-negative and at most ``MAX_RATE``:
  ``rate_problem`` says why not, for the config loader and ``PriceTable.load``;
- a real call whose cost, or any part of it, does not fit DECIMAL(18,9) (|x| < 10^9 USD) is
  stored with NULL cost and ``price_version`` ending in ``COST_OVERFLOW``: ``cost_columns``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from claudescope.config_model import PricingConfig
from claudescope.pricing.limits import (
    COST_OVERFLOW,
    MAX_CALL_COUNT,
    MAX_RATE,
    MAX_STORED_USD,
    count_problem,
    rate_problem,
)
from claudescope.pricing.periods import Period, as_utc, overlap_problem
from claudescope.pricing.table import (
    LongContext,
    PriceDataError,
    PriceEntry,
    Rates,
    TableData,
    dated_prices,
    id_candidates,
    load_table_data,
)

__all__ = [
    "COST_OVERFLOW", "MAX_CALL_COUNT", "MAX_RATE", "MAX_STORED_USD", "Cost", "CostColumns", "PriceDataError",
    "PriceEntry", "PriceTable", "Rates", "TokenRates", "UNBILLED_OPERATIONS", "Usage", "count_problem", "rate_problem",
]

QUANTUM = Decimal("1e-9")
_ZERO = Decimal(0).quantize(QUANTUM)
# Operations that bill nothing even when they succeed: a token count, and a batch's bookkeeping
# (its results are billed one by one as ``batch_result``). See PriceTable.bill.
UNBILLED_OPERATIONS = frozenset((
    "count_tokens", "batch_create", "batch_retrieve", "batch_list", "batch_results", "batch_cancel", "batch_delete",
))
_ONE = Decimal(1)
_PER_TOKEN = Decimal("1e-6")  # table rates are per million tokens
_NOT_CACHED: object = object()  # a model id _lookup has not seen yet (None is cached too)
_MAX_CACHED_IDS = 10_000  # model ids come from spans: bound what a hostile sender can grow

# cost_usd, cost_input_usd, cost_output_usd, cost_cache_read_usd, cost_cache_write_usd,
# cost_other_usd, price_version: the stored cost columns, in the calls table's order.
CostColumns = tuple[Decimal | None, Decimal | None, Decimal | None, Decimal | None, Decimal | None, Decimal | None, str | None]
_UNPRICED: CostColumns = (None, None, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one call consumed, as Anthropic reports it in ``usage``."""

    input_tokens: int = 0  # UNCACHED input: Anthropic's usage.input_tokens
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0  # thinking included
    web_search_requests: int = 0
    service_tier: str | None = None
    inference_geo: str | None = None
    speed: str | None = None

    def __post_init__(self) -> None:
        counts = (
            self.input_tokens, self.cache_read_tokens, self.cache_write_5m_tokens,
            self.cache_write_1h_tokens, self.output_tokens, self.web_search_requests,
        )
        if min(counts) < 0:
            raise ValueError(f"token and request counts must not be negative: {self!r}")

    @property
    def prompt_tokens(self) -> int:
        """Total prompt size: uncached input + cache reads + cache writes (band thresholds)."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_5m_tokens + self.cache_write_1h_tokens


@dataclass(frozen=True, slots=True)
class Cost:
    """The price of one call in USD, by category, each part quantized to 1e-9."""

    input_usd: Decimal
    output_usd: Decimal
    cache_read_usd: Decimal
    cache_write_usd: Decimal
    other_usd: Decimal
    price_version: str

    @property
    def total_usd(self) -> Decimal:
        """Sum of the parts (exact: the parts are already quantized)."""
        return self.input_usd + self.output_usd + self.cache_read_usd + self.cache_write_usd + self.other_usd


@dataclass(frozen=True, slots=True)
class TokenRates:
    """Rates in USD per single token (not per million), as :meth:`PriceTable.rates` gives them."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal

    @classmethod
    def of(cls, rates: Rates) -> TokenRates:
        """Per-token rates of a table band (USD per million tokens)."""
        return cls(
            rates.input * _PER_TOKEN, rates.output * _PER_TOKEN, rates.cache_write_5m * _PER_TOKEN,
            rates.cache_write_1h * _PER_TOKEN, rates.cache_read * _PER_TOKEN,
        )


@dataclass(frozen=True, slots=True)
class _CompiledPeriod:
    period: Period
    base: TokenRates
    band: TokenRates | None
    band_above: int


@dataclass(frozen=True, slots=True)
class _Compiled:
    entry: PriceEntry
    periods: tuple[_CompiledPeriod, ...]  # the entry's lookup order
    always: _CompiledPeriod | None  # the one period of a model whose price never changed

    def at(self, at: dt.datetime | None) -> _CompiledPeriod | None:
        for compiled in self.periods:
            if compiled.period.covers(None if at is None else as_utc(at)):
                return compiled
        return None


class PriceTable:
    """The loaded price table: built-in rows, user overrides and multiplier-scope switches."""

    def __init__(self, data: TableData, pricing: PricingConfig) -> None:
        self._data = data
        self._modifiers = data.modifiers
        self._batch_cache = pricing.batch_applies_to_cache
        self._geo_cache = pricing.geo_applies_to_cache
        self._fast_cache = pricing.fast_applies_to_cache
        self._compiled = {id(e): _compile(e) for e in data.entries}
        self._ids: dict[str, _Compiled | None] = {}
        # (period, band, batch, geo, fast) -> effective per-token rates; a few hundred at most.
        self._effective: dict[tuple[int, bool, bool, Decimal | None, bool], TokenRates] = {}

    @classmethod
    def load(cls, pricing: PricingConfig) -> PriceTable:
        """Parse the built-in table once and merge ``pricing`` (overrides and switches).

        Raises:
            PriceDataError: the built-in data file is malformed, or an override is not a price
                (``rate_problem``): a PricingConfig can come from elsewhere than the config loader.
        """
        for model, override in pricing.overrides.items():
            dated = dated_prices(override)
            problem = overlap_problem([(d.start, d.end) for d in dated])
            if problem:
                raise PriceDataError(f"prices.{model}: {problem}")
            for key, value in (item for d in dated for item in d.rates.items()):
                problem = rate_problem(Decimal(value))
                if problem:
                    raise PriceDataError(f"prices.{model}.{key}: {problem}")
        return cls(load_table_data(pricing), pricing)

    @property
    def version(self) -> str:
        """The ``price_version`` recorded with every cost (built-in date, ``+local.<hash>`` if overridden)."""
        return self._data.version

    def entries(self) -> tuple[PriceEntry, ...]:
        """Every priced model, built-in order first, then models only the overrides name."""
        return self._data.entries

    def resolve(self, model: str) -> str | None:
        """The canonical table key for any id form of ``model``, or None when it is not priced."""
        compiled = self._lookup(model)
        return None if compiled is None else compiled.entry.model

    def entry(self, model: str) -> PriceEntry | None:
        """The table row ``model`` resolves to, or None."""
        compiled = self._lookup(model)
        return None if compiled is None else compiled.entry

    def dated(self, model: str | None) -> bool:
        """Whether ``model``'s price ever changed, so that a call's start time decides its price.

        False for a model priced the same at every date, and for an unpriced one (no date gives it
        a price): a caller can skip building the start time then (the ingest hot path).
        """
        compiled = self._lookup(model) if model else None
        return compiled is not None and compiled.always is None

    def rates(self, model: str | None, usage: Usage, *, at: dt.datetime | None = None) -> TokenRates | None:
        """Per-token USD rates for ``usage`` on ``model`` at ``at``, every multiplier folded in.

        ``at`` is the call's start time: the prices in force then apply (``from`` inclusive,
        ``until`` exclusive, UTC; a naive datetime is UTC); None asks for the current prices.
        The prompt-size band, batch tier, inference geo and fast mode are read from ``usage``
        exactly as :meth:`price` reads them; None when the model (or its fast mode) has no price
        at that date. This is the one place rates are derived: what-if and savings use it too.
        """
        if not model:
            return None
        compiled = self._ids.get(model, _NOT_CACHED)  # _lookup's cache, read inline (once per span)
        if compiled is _NOT_CACHED:
            compiled = self._lookup(model)
        if compiled is None:
            return None
        period = compiled.always or compiled.at(at)  # the common case skips the date entirely
        if period is None:
            return None  # the model had no price at that date
        fast = usage.speed == "fast"
        if fast and period.period.fast is None:
            return None  # fast mode ran, but its price for this model is unknown
        band = period.band is not None and usage.prompt_tokens > period.band_above
        geo = None
        if compiled.entry.geo and usage.inference_geo:
            geo = self._modifiers.geo.get(usage.inference_geo.lower())
        key = (id(period), band, usage.service_tier == "batch", geo, fast)
        rates = self._effective.get(key)
        if rates is None:
            rates = self._effective[key] = self._rates(period, *key[1:])
        return rates

    def price(self, model: str | None, usage: Usage, *, at: dt.datetime | None = None) -> Cost | None:
        """Price one call by its response model at its start time ``at`` (None: current prices).

        None when the price is not known.
        """
        rates = self.rates(model, usage, at=at)
        if rates is None:
            return None
        return Cost(*self._parts(usage, rates), price_version=self._data.version)

    def bill(
        self, operation: str, *, failed: bool, model: str | None, usage: Usage, at: dt.datetime | None = None,
    ) -> CostColumns:
        """The stored cost columns of one call: THE billing rule, for ingest, reprice and advice.

        A failed call, a token count and batch bookkeeping bill nothing: zero, not unknown
        (SPEC §4; a batch's results are priced one by one as ``batch_result``). Every other
        operation gives the :meth:`cost_columns` of ``usage`` at ``at``, the call's start time
        (UTC; None: the current prices).
        """
        if failed or operation in UNBILLED_OPERATIONS:
            return (_ZERO,) * 6 + (self._data.version,)
        # cost_columns, inline: what price() computes without building a Cost (once per ingested span).
        try:
            rates = self.rates(model, usage, at=at)
            if rates is None:
                return _UNPRICED
            parts = self._parts(usage, rates)
        except InvalidOperation:  # quantize needs more than 28 digits: far past the store's range
            return (None,) * 6 + (self._data.version + COST_OVERFLOW,)
        total = parts[0] + parts[1] + parts[2] + parts[3] + parts[4]  # Cost.total_usd's order
        # Rates and counts are never negative, so the total bounds every part: one check suffices.
        if total >= MAX_STORED_USD:
            return (None,) * 6 + (self._data.version + COST_OVERFLOW,)
        return (total, *parts, self._data.version)

    def cost_columns(self, model: str | None, usage: Usage, *, at: dt.datetime | None = None) -> CostColumns:
        """The stored cost columns of one billed call: the one rule for ingest and reprice.

        An unpriced model gives all NULL. A cost (or any part) that does not fit DECIMAL(18,9)
        gives NULL money and ``price_version`` + ``COST_OVERFLOW``: the call is real, its price
        is not storable, and the row says so instead of failing its whole batch.
        """
        return self.bill("chat", failed=False, model=model, usage=usage, at=at)

    def _parts(self, usage: Usage, rates: TokenRates) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(input, output, cache read, cache write, other) USD of ``usage`` at ``rates``, quantized.

        Raises:
            InvalidOperation: a part needs more than 28 digits (far past the store's range).
        """
        return (
            _money(usage.input_tokens * rates.input),
            _money(usage.output_tokens * rates.output),
            _money(usage.cache_read_tokens * rates.cache_read),
            _money(usage.cache_write_5m_tokens * rates.cache_write_5m
                   + usage.cache_write_1h_tokens * rates.cache_write_1h),
            _money(usage.web_search_requests * self._modifiers.web_search_per_request),
        )

    def _rates(self, compiled: _CompiledPeriod, band: bool, batch: bool, geo: Decimal | None, fast: bool) -> TokenRates:
        """Per-token rates with every applicable multiplier folded in (cached per combination)."""
        rates = compiled.band if band and compiled.band is not None else compiled.base
        tokens_mult = cache_mult = _ONE
        if batch:
            tokens_mult *= self._modifiers.batch
            cache_mult *= self._modifiers.batch if self._batch_cache else _ONE
        if geo is not None:
            tokens_mult *= geo
            cache_mult *= geo if self._geo_cache else _ONE
        fast_factor = compiled.period.fast
        if fast and fast_factor is not None:
            tokens_mult *= fast_factor
            cache_mult *= fast_factor if self._fast_cache else _ONE
        return TokenRates(
            input=rates.input * tokens_mult, output=rates.output * tokens_mult, cache_read=rates.cache_read * cache_mult,
            cache_write_5m=rates.cache_write_5m * cache_mult, cache_write_1h=rates.cache_write_1h * cache_mult,
        )

    def _lookup(self, model: str) -> _Compiled | None:
        try:
            return self._ids[model]
        except KeyError:
            pass
        index = self._data.index
        entry = next((index[c] for c in id_candidates(model) if c in index), None)
        compiled = None if entry is None else self._compiled[id(entry)]
        if len(self._ids) >= _MAX_CACHED_IDS:
            self._ids.clear()
        self._ids[model] = compiled
        return compiled


def _compile(entry: PriceEntry) -> _Compiled:
    periods = tuple(_compile_period(p) for p in entry.periods)
    only = periods[0] if len(periods) == 1 else None
    always = only if only is not None and only.period.start is None and only.period.end is None else None
    return _Compiled(entry=entry, periods=periods, always=always)


def _compile_period(period: Period) -> _CompiledPeriod:
    band: LongContext | None = period.long_context
    return _CompiledPeriod(
        period=period,
        base=TokenRates.of(period.rates),
        band=None if band is None else TokenRates.of(band.rates),
        band_above=0 if band is None else band.above,
    )


def _money(value: Decimal | int) -> Decimal:
    if not value:
        return _ZERO
    return Decimal(value).quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
