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

from claudescope.config_model import PricingConfig

_RATE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_ROW_KEYS = frozenset(
    {*_RATE_KEYS, "aliases", "long_context", "geo", "fast", "status", "source", "confidence", "as_of"}
)
OVERRIDE_SOURCE = "claudescope.toml [prices]"


class PriceDataError(ValueError):
    """The price data file is malformed; names the model and key at fault."""


@dataclass(frozen=True, slots=True)
class Rates:
    """One band of prices, USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal


@dataclass(frozen=True, slots=True)
class LongContext:
    """A prompt-size band: above ``above`` prompt tokens, every category uses ``rates``."""

    above: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class PriceEntry:
    """One model's row of the table, as shown by ``claudescope prices``."""

    model: str
    aliases: tuple[str, ...]
    rates: Rates
    long_context: LongContext | None = None
    geo: bool = False  # whether usage.inference_geo multipliers apply (Claude 4.6 and later)
    fast: Decimal | None = None  # usage.speed == "fast" multiplier; None = fast mode not priced
    status: str = ""
    source: str = ""
    confidence: str = ""
    as_of: dt.date | None = None
    overridden: bool = False


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
    long_raw = row.get("long_context")
    long_context = None
    if long_raw is not None:
        above = long_raw.get("above")
        if not isinstance(above, int) or isinstance(above, bool) or above <= 0:
            raise PriceDataError(f"prices.toml: {where}.long_context.above: expected a positive integer")
        long_context = LongContext(above=above, rates=_rates(long_raw, f"{where}.long_context"))
    fast = row.get("fast")
    as_of = row.get("as_of")
    if as_of is not None and not isinstance(as_of, dt.date):
        raise PriceDataError(f"prices.toml: {where}.as_of: expected a date (YYYY-MM-DD)")
    return PriceEntry(
        model=name.lower(),
        aliases=tuple(str(a).lower() for a in row.get("aliases", ())),
        rates=_rates(row, where),
        long_context=long_context,
        geo=bool(row.get("geo", False)),
        fast=None if fast is None else _decimal(fast, f"{where}.fast"),
        status=str(row.get("status", "")),
        source=str(row.get("source", "")),
        confidence=str(row.get("confidence", "")),
        as_of=as_of,
    )


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


def _apply_overrides(
    rows: list[PriceEntry], overrides: Mapping[str, Mapping[str, Decimal]], modifiers: Modifiers
) -> list[PriceEntry]:
    index = _index(rows)
    merged = list(rows)
    for model, values in overrides.items():
        rates = override_rates(values, modifiers)
        known = next((index[c] for c in id_candidates(model) if c in index), None)
        if known is None:
            # A model the table lacks: priced exactly as the user says, no multipliers guessed.
            new = PriceEntry(model=id_candidates(model)[0], aliases=(), rates=rates, source=OVERRIDE_SOURCE, overridden=True)
            merged.append(new)
            index[new.model] = new
            continue
        # The user's price replaces the whole band (a negotiated rate has no list-price
        # long-context tier); geo and fast eligibility stay facts about the model.
        updated = replace(known, rates=rates, long_context=None, source=OVERRIDE_SOURCE, as_of=None, overridden=True)
        merged[merged.index(known)] = updated
        for key in (known.model, *known.aliases):
            index[key] = updated
    return merged


def _version(base: str, pricing: PricingConfig) -> str:
    """The built-in version, plus a digest of anything local that changes a price."""
    default = PricingConfig()
    switches = (pricing.batch_applies_to_cache, pricing.geo_applies_to_cache, pricing.fast_applies_to_cache)
    defaults = (default.batch_applies_to_cache, default.geo_applies_to_cache, default.fast_applies_to_cache)
    if not pricing.overrides and switches == defaults:
        return base
    canonical = repr(
        (sorted((m, sorted((k, f"{Decimal(v).normalize():f}") for k, v in row.items())) for m, row in pricing.overrides.items()), switches)
    )
    return f"{base}+local.{hashlib.sha256(canonical.encode()).hexdigest()[:8]}"
