"""The price table as data: the built-in ``prices.toml``, user overrides, model-id resolution.

Everything here runs once, when a :class:`~claudescope.pricing.PriceTable` is loaded. The
per-call arithmetic lives in :mod:`claudescope.pricing`; this module only turns files and
configuration into frozen, validated rows and a lookup index.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from importlib import resources
from typing import Any

from claudescope.config_model import DatedPrice, PriceOverride, PricingConfig
from claudescope.pricing.periods import LongContext, Period, Rates, moment, overlap_problem

_RATE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_PERIOD_KEYS = frozenset({*_RATE_KEYS, "long_context", "fast", "from", "until", "note"})
_ROW_KEYS = frozenset({*_PERIOD_KEYS, "aliases", "geo", "status", "source", "confidence", "as_of", "history"}) - {"until"}
OVERRIDE_SOURCE = "claudescope.toml [prices]"


class PriceDataError(ValueError):
    """The price data file is malformed; names the model and key at fault."""


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model's row of the table, as shown by ``claudescope prices``.

    ``periods`` are its prices by date, in lookup order: the user's overrides first, then the
    built-in periods from the newest; :meth:`period` picks the one in force at a moment.
    """

    model: str
    aliases: tuple[str, ...]
    periods: tuple[Period, ...]
    geo: bool = False  # whether usage.inference_geo multipliers apply (Claude 4.6 and later)
    status: str = ""
    source: str = ""
    confidence: str = ""
    as_of: dt.date | None = None

    def period(self, at: dt.datetime | None) -> Period | None:
        """The prices in force at ``at`` (aware; None = the current price), or None."""
        return next((p for p in self.periods if p.covers(at)), None)

    @property
    def current(self) -> Period:
        """Today's prices: the open-ended period, else the one that ended last."""
        return self.period(None) or max(self.periods, key=lambda p: p.end or dt.datetime.max.replace(tzinfo=dt.UTC))

    @property
    def rates(self) -> Rates:
        """The current rates."""
        return self.current.rates

    @property
    def long_context(self) -> LongContext | None:
        """The current prompt-size band, if any."""
        return self.current.long_context

    @property
    def fast(self) -> Decimal | None:
        """The current fast-mode multiplier (None: not priced; 1: withdrawn, bills standard)."""
        return self.current.fast

    @property
    def overridden(self) -> bool:
        """Whether any of its periods comes from the user's ``[prices]``."""
        return any(p.overridden for p in self.periods)

    def history(self) -> tuple[Period, ...]:
        """Every period, oldest first (overrides beside the built-in periods they cover)."""
        return tuple(sorted(self.periods, key=lambda p: (p.start is not None, p.start or dt.datetime.min, p.overridden)))


@dataclass(frozen=True, slots=True)
class Modifiers:
    """Table-wide multipliers and fees."""

    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    batch: Decimal
    geo: Mapping[str, Decimal]
    web_search_per_request: Decimal


@dataclass(frozen=True, slots=True)
class TableData:
    """The parsed, override-merged table: rows, modifiers, version and the id index."""

    version: str
    modifiers: Modifiers
    entries: tuple[PriceEntry, ...]
    index: Mapping[str, PriceEntry]


def load_table_data(pricing: PricingConfig, text: str | None = None) -> TableData:
    """Parse the built-in table (or ``text``) and merge the user's overrides into it.

    Raises:
        PriceDataError: the data file is malformed (names model and key).
    """
    if text is None:
        text = resources.files("claudescope.pricing").joinpath("prices.toml").read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PriceDataError(f"prices.toml: {exc}") from None
    modifiers = _modifiers(document.get("modifiers", {}))
    rows = [_entry(name, row) for name, row in _table(document, "models").items()]
    rows = _apply_overrides(rows, pricing.overrides, modifiers)
    version = _version(str(document.get("price_version", "")), pricing)
    return TableData(version=version, modifiers=modifiers, entries=tuple(rows), index=_index(rows))


# --- model ids -------------------------------------------------------------------------------

_BRACKET_SUFFIX = re.compile(r"\[[^\]]*\]$")  # Claude Code's "[1m]"
_BEDROCK_PREFIX = re.compile(r"^(?:[a-z][a-z-]*\.)?anthropic\.")  # us. / eu. / apac. / global.
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?$")
_VERTEX_DATE = re.compile(r"@(?:\d{8}|latest)$")
_DATE_SUFFIX = re.compile(r"-\d{8}$")


def id_candidates(model: str) -> tuple[str, ...]:
    """Lookup keys for a model id in any of its forms, most specific first.

    Handles the ``anthropic/`` (or any ``provider/``) prefix and ARNs, the ``[1m]`` suffix,
    Bedrock ``us.anthropic.claude-...-v1:0`` ids and Vertex ``claude-...@20250929`` ids. The
    dated form is tried before the undated one; nothing is matched by prefix (never guess).
    """
    name = model.strip().lower().rsplit("/", 1)[-1]
    name = _BRACKET_SUFFIX.sub("", name).strip()
    name = _VERTEX_DATE.sub("", name)
    name = _BEDROCK_PREFIX.sub("", name)
    name = _BEDROCK_VERSION.sub("", name)
    undated = _DATE_SUFFIX.sub("", name)
    return (name,) if undated == name else (name, undated)


def _index(rows: Iterable[PriceEntry]) -> dict[str, PriceEntry]:
    index: dict[str, PriceEntry] = {}
    for row in rows:
        for key in (row.model, *row.aliases):
            index[key.lower()] = row
    return index


# --- parsing ---------------------------------------------------------------------------------


def _table(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise PriceDataError(f"prices.toml: {key}: expected a table")
    return value


def _decimal(value: Any, where: str) -> Decimal:
    # parse_float=Decimal makes 3.75 exact; integers arrive as int.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise PriceDataError(f"prices.toml: {where}: expected a number, got {value!r}")
    number = Decimal(value)
    if number < 0:
        raise PriceDataError(f"prices.toml: {where}: must not be negative")
    return number


_MODIFIER_KEYS = ("cache_write_5m", "cache_write_1h", "cache_read", "batch", "web_search_per_request")


def _modifiers(raw: Mapping[str, Any]) -> Modifiers:
    for key in (*_MODIFIER_KEYS, "geo"):
        if key not in raw:
            raise PriceDataError(f"prices.toml: modifiers.{key}: missing")
    if not isinstance(raw["geo"], dict):
        raise PriceDataError("prices.toml: modifiers.geo: expected a table of region = multiplier")
    geo = {str(k).lower(): _decimal(v, f"modifiers.geo.{k}") for k, v in raw["geo"].items()}
    values = {key: _decimal(raw[key], f"modifiers.{key}") for key in _MODIFIER_KEYS}
    return Modifiers(geo=geo, **values)


def _rates(raw: Mapping[str, Any], where: str) -> Rates:
    missing = [key for key in _RATE_KEYS if key not in raw]
    if missing:
        raise PriceDataError(f"prices.toml: {where}: missing {', '.join(missing)}")
    return Rates(**{key: _decimal(raw[key], f"{where}.{key}") for key in _RATE_KEYS})


def _entry(name: str, row: Any) -> PriceEntry:
    where = f"models.{name}"
    if not isinstance(row, dict):
        raise PriceDataError(f"prices.toml: {where}: expected a table")
    unknown = set(row) - _ROW_KEYS
    if unknown:
        raise PriceDataError(f"prices.toml: {where}: unknown keys {sorted(unknown)}")
    as_of = row.get("as_of")
    if as_of is not None and not isinstance(as_of, dt.date):
        raise PriceDataError(f"prices.toml: {where}.as_of: expected a date (YYYY-MM-DD)")
    history = row.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise PriceDataError(f"prices.toml: {where}.history: expected [[{where}.history]] tables")
    current = {k: v for k, v in row.items() if k in _PERIOD_KEYS}
    periods = [_period(current, where), *(_period(h, f"{where}.history[{i}]", dated=True) for i, h in enumerate(history))]
    _check_periods(periods, where)
    return PriceEntry(
        model=name.lower(),
        aliases=tuple(str(a).lower() for a in row.get("aliases", ())),
        periods=tuple(sorted(periods, key=_newest_first, reverse=True)),
        geo=bool(row.get("geo", False)),
        status=str(row.get("status", "")),
        source=str(row.get("source", "")),
        confidence=str(row.get("confidence", "")),
        as_of=as_of,
    )


def _period(raw: Mapping[str, Any], where: str, *, dated: bool = False) -> Period:
    """One period of a row: its rates, band and fast factor, and (history) its dates."""
    unknown = set(raw) - _PERIOD_KEYS
    if unknown:
        raise PriceDataError(f"prices.toml: {where}: unknown keys {sorted(unknown)}")
    if dated and "until" not in raw:
        raise PriceDataError(f"prices.toml: {where}.until: missing (the first day the price no longer applied)")
    bounds: dict[str, dt.datetime | None] = {}
    for key in ("from", "until"):
        value = moment(raw[key]) if key in raw else None
        if isinstance(value, str):
            raise PriceDataError(f"prices.toml: {where}.{key}: {value}")
        bounds[key] = value
    long_raw = raw.get("long_context")
    long_context = None
    if long_raw is not None:
        above = long_raw.get("above")
        if not isinstance(above, int) or isinstance(above, bool) or above <= 0:
            raise PriceDataError(f"prices.toml: {where}.long_context.above: expected a positive integer")
        long_context = LongContext(above=above, rates=_rates(long_raw, f"{where}.long_context"))
    fast = raw.get("fast")
    return Period(
        start=bounds["from"], end=bounds["until"], rates=_rates(raw, where), long_context=long_context,
        fast=None if fast is None else _decimal(fast, f"{where}.fast"), note=str(raw.get("note", "")),
    )


def _check_periods(periods: list[Period], where: str) -> None:
    """A built-in row's periods must not overlap and must leave no gap (a gap would be NULL)."""
    problem = overlap_problem([(p.start, p.end) for p in periods])
    ordered = sorted(periods, key=lambda p: (p.start is not None, p.start or dt.datetime.min))
    gaps = [f"{a.span()} then {b.span()}" for a, b in zip(ordered, ordered[1:]) if a.end != b.start]
    if problem or gaps:
        raise PriceDataError(f"prices.toml: {where}: {problem or 'gap between periods ' + gaps[0]}")


def _newest_first(period: Period) -> tuple[bool, dt.datetime]:
    # A sort key, reversed: most calls are recent, so the lookup tries the current period first.
    return (period.start is not None, period.start or dt.datetime.min.replace(tzinfo=dt.UTC))


# --- overrides -------------------------------------------------------------------------------


def override_rates(values: Mapping[str, Decimal], modifiers: Modifiers) -> Rates:
    """Rates from a ``[prices]`` row; missing cache rates derive from input (1.25 / 2.0 / 0.1)."""
    base = Decimal(values["input"])
    return Rates(
        input=base,
        output=Decimal(values["output"]),
        cache_write_5m=Decimal(values.get("cache_write_5m", base * modifiers.cache_write_5m)),
        cache_write_1h=Decimal(values.get("cache_write_1h", base * modifiers.cache_write_1h)),
        cache_read=Decimal(values.get("cache_read", base * modifiers.cache_read)),
    )


def dated_prices(override: PriceOverride) -> tuple[DatedPrice, ...]:
    """A ``[prices]`` row as dated rows: an undated row is in force at every date."""
    return override if isinstance(override, tuple) else (DatedPrice(rates=override),)


def _apply_overrides(rows: list[PriceEntry], overrides: Mapping[str, PriceOverride], modifiers: Modifiers) -> list[PriceEntry]:
    index = _index(rows)
    merged = list(rows)
    for model, override in overrides.items():
        known = next((index[c] for c in id_candidates(model) if c in index), None)
        builtin = known.periods if known is not None else ()
        # The user's price replaces the whole band (a negotiated rate has no list-price
        # long-context tier); geo eligibility and fast mode stay facts about the model.
        pieces = [piece for dated in dated_prices(override) for piece in _pieces(dated, override_rates(dated.rates, modifiers), builtin)]
        pieces.sort(key=_newest_first, reverse=True)
        if known is None:
            # A model the table lacks: priced exactly as the user says, no multipliers guessed.
            new = PriceEntry(model=id_candidates(model)[0], aliases=(), periods=tuple(pieces), source=OVERRIDE_SOURCE)
            merged.append(new)
            index[new.model] = new
            continue
        everywhere = any(d.start is None and d.end is None for d in dated_prices(override))
        if everywhere:  # no built-in price is reachable any more
            updated = replace(known, periods=tuple(pieces), source=OVERRIDE_SOURCE, as_of=None)
        else:  # overrides first: they win where they apply, the built-in periods elsewhere
            updated = replace(known, periods=(*pieces, *known.periods))
        merged[merged.index(known)] = updated
        for key in (known.model, *known.aliases):
            index[key] = updated
    return merged


def _pieces(dated: DatedPrice, rates: Rates, builtin: tuple[Period, ...]) -> list[Period]:
    """``dated`` cut at the built-in period boundaries, each piece with that period's fast factor."""
    start, end = dated.start, dated.end
    cuts = sorted({b for p in builtin for b in (p.start, p.end) if b is not None
                   and (start is None or b > start) and (end is None or b < end)})
    bounds = [start, *cuts, end]
    pieces = []
    for low, high in zip(bounds, bounds[1:]):
        probe = low if low is not None else (None if high is None else high - dt.timedelta(microseconds=1))
        in_force = next((p for p in builtin if p.covers(probe)), None)
        fast = None if in_force is None else in_force.fast
        pieces.append(Period(start=low, end=high, rates=rates, fast=fast, overridden=True, note="override"))
    return pieces


def _version(base: str, pricing: PricingConfig) -> str:
    """The built-in version, plus a digest of anything local that changes a price."""
    default = PricingConfig()
    switches = (pricing.batch_applies_to_cache, pricing.geo_applies_to_cache, pricing.fast_applies_to_cache)
    defaults = (default.batch_applies_to_cache, default.geo_applies_to_cache, default.fast_applies_to_cache)
    if not pricing.overrides and switches == defaults:
        return base
    canonical = repr((sorted((m, _canonical(row)) for m, row in pricing.overrides.items()), switches))
    return f"{base}+local.{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"


def _canonical(override: PriceOverride) -> Any:
    """A stable form of one override (an undated row keeps its pre-dates form: same version)."""
    def rates(row: Mapping[str, Decimal]) -> list[tuple[str, str]]:
        return sorted((k, f"{Decimal(v).normalize():f}") for k, v in row.items())

    if not isinstance(override, tuple):
        return rates(override)
    return sorted((str(d.start), str(d.end), rates(d.rates)) for d in override)
