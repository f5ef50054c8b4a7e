"""The ``[prices]`` section of claudescope.toml: user prices, undated or by date.

Two forms, USD per million tokens (docs/configuration.md, "[prices] and [pricing]")::

    "claude-sonnet-4-5" = { input = 3.0, output = 15.0 }                  # at every date
    "claude-sonnet-5-5" = { from = 2026-12-01, input = 1.8, output = 9.0 } # from that day on
    "acme-proxy" = [                                                       # several periods
      { until = 2026-10-07, input = 2.0, output = 10.0, cache_read = 0.2 },
      { from = 2026-10-07, input = 2.0, output = 10.0, cache_read = 0.1 },
    ]

``from`` is inclusive, ``until`` exclusive, both UTC (a date is midnight UTC). Outside a dated
override's periods the built-in table prices the model (an unknown model stays unpriced).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from claudescope.config_model import ConfigError, DatedPrice, PriceOverride
from claudescope.pricing.limits import rate_problem
from claudescope.pricing.periods import moment, overlap_problem

__all__ = ["PRICE_KEYS", "parse_prices"]

PRICE_KEYS = frozenset({"input", "output", "cache_write_5m", "cache_write_1h", "cache_read"})
_DATE_KEYS = ("from", "until")


def parse_prices(prices: Mapping[str, Any], source: str) -> dict[str, PriceOverride]:
    """Every ``[prices]`` row, checked: the model, key and ``source`` file are named on error.

    Raises:
        ConfigError: a row is not a table (or list of tables), a key is unknown, a price is not
            a finite number in range, input or output is missing, or two periods overlap.
    """
    overrides: dict[str, PriceOverride] = {}
    for model, row in prices.items():
        where = f'[prices] "{model}"'  # model ids may hold dots: quote them as TOML does
        if isinstance(row, dict) and not any(k in row for k in _DATE_KEYS):
            overrides[model] = _rates(row, f"prices.{model}", where, source)
            continue
        if isinstance(row, dict):
            dated: tuple[DatedPrice, ...] = (_dated(row, f"prices.{model}", where, source),)
        elif isinstance(row, list) and row and all(isinstance(r, dict) for r in row):
            dated = tuple(_dated(r, f"prices.{model}[{i}]", f"{where}[{i}]", source) for i, r in enumerate(row))
        else:
            raise ConfigError(
                f"prices.{model}", source,
                "expected an inline table of USD per million tokens, or a list of them with from/until dates", shown=where,
            )
        problem = overlap_problem([(d.start, d.end) for d in dated])
        if problem:
            raise ConfigError(f"prices.{model}", source, problem, shown=where)
        overrides[model] = dated
    return overrides


def _dated(row: Mapping[str, Any], key: str, where: str, source: str) -> DatedPrice:
    bounds = {}
    for name in _DATE_KEYS:
        if name in row:
            value = moment(row[name])
            if isinstance(value, str):
                raise ConfigError(f"{key}.{name}", source, value, shown=f"{where}.{name}")
            bounds[name] = value
    rates = _rates({k: v for k, v in row.items() if k not in _DATE_KEYS}, key, where, source)
    return DatedPrice(rates=rates, start=bounds.get("from"), end=bounds.get("until"))


def _rates(row: Mapping[str, Any], key: str, where: str, source: str) -> dict[str, Decimal]:
    parsed = {}
    for name, value in row.items():
        full, shown = f"{key}.{name}", f"{where}.{name}"
        if name not in PRICE_KEYS:
            expected = f"{sorted(PRICE_KEYS)} and the dates from/until"
            raise ConfigError(full, source, f"unknown price key; expected {expected}", shown=shown)
        parsed[name] = _decimal(value, full, shown, source)
        # The same bound PriceTable.load enforces: a large call at this price stays storable.
        problem = rate_problem(parsed[name])
        if problem:
            raise ConfigError(full, source, problem, shown=shown)
    if "input" not in parsed or "output" not in parsed:
        raise ConfigError(key, source, "needs at least input and output", shown=where)
    return parsed


def _decimal(raw: Any, key: str, shown: str, source: str) -> Decimal:
    # Exact: 3.75 in the file is 3.75, never a binary float's neighbour.
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
            raise ValueError(raw)
        value = Decimal(str(raw))
    except (ValueError, InvalidOperation):
        raise ConfigError(key, source, f"must be a finite number, got {raw!r}", shown=shown) from None
    if not value.is_finite():
        raise ConfigError(key, source, f"must be a finite number, got {raw!r}", shown=shown)
    return value
