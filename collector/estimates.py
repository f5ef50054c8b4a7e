"""Costs priced from a guess, said so on the row with their bounds (docs/data-model.md).

A producer that reports cache writes without saying how they split between the 5-minute and the
1-hour cache gives no exact cost. Such a row keeps every write in ``cache_write_5m_tokens`` (the
default TTL), is priced so (the low bound), and carries in ``attributes``:
``claudescope.cache_split_estimated`` = true and the bounds ``claudescope.cost_low_usd`` (all
writes 5m) and ``claudescope.cost_high_usd`` (all writes 1h), exact decimal strings.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from claudescope import semconv as sc
from claudescope.pricing import PriceTable, Usage

# Shared with Claude Code's spans (collector/claude_code.py sets the same key).
CACHE_SPLIT_ESTIMATED = sc.CS_CACHE_SPLIT_ESTIMATED
COST_LOW = sc.CS_COST_LOW_USD
COST_HIGH = sc.CS_COST_HIGH_USD
KEYS = (CACHE_SPLIT_ESTIMATED, COST_LOW, COST_HIGH)


def as_5m(usage: Usage) -> Usage:
    """Every cache write of ``usage`` counted as a 5-minute write (the default TTL)."""
    total = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
    return replace(usage, cache_write_5m_tokens=total, cache_write_1h_tokens=0)


def mark(
    rest: dict[str, Any], prices: PriceTable, operation: str, failed: bool, model: str | None, usage: Usage,
    *, at: datetime | None = None,
) -> None:
    """Mark ``rest`` (a row's attributes) estimated with the cost bounds of ``usage``'s writes.

    ``at`` is the call's start time: the bounds use the prices in force then (None: current).
    """
    total = usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
    low = prices.bill(operation, failed=failed, model=model, usage=as_5m(usage), at=at)[0]
    high = prices.bill(
        operation, failed=failed, model=model,
        usage=replace(usage, cache_write_5m_tokens=0, cache_write_1h_tokens=total), at=at,
    )[0]
    rest[CACHE_SPLIT_ESTIMATED] = True
    if low is not None and high is not None:
        rest[COST_LOW], rest[COST_HIGH] = str(low), str(high)


def unmark(rest: dict[str, Any]) -> None:
    """Drop the estimate keys (the split became known, e.g. from a stacked producer)."""
    for key in KEYS:
        rest.pop(key, None)
