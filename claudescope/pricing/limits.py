"""Which numbers a stored call can hold: the bounds shared by pricing, ingest, reprice and config.

Pure functions and constants, importing nothing from claudescope, so the config loader can check
prices against the same bound that pricing relies on. docs/data-model.md ("Numbers that cannot be
stored") says what happens at each bound.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["COST_OVERFLOW", "MAX_CALL_COUNT", "MAX_RATE", "MAX_STORED_USD", "count_problem", "rate_problem"]

# The largest count of tokens (or web searches) in one category of one call. The largest context
# window is a few million tokens; a count a thousand times that is a broken or hostile sender.
MAX_CALL_COUNT = 10**9
# The largest price a table row or override may hold, USD per million tokens ($1 a token, about
# 7,000 times today's dearest rate). With every multiplier, a call of a million tokens in each
# category still costs well under MAX_STORED_USD at this rate.
MAX_RATE = Decimal(10**6)
# DECIMAL(18,9) holds |x| < 10^9: 9 digits before the point, 9 after.
MAX_STORED_USD = Decimal(10**9)
# Appended to price_version on a row whose model has a price but whose cost does not fit.
COST_OVERFLOW = "+cost-overflow"


def count_problem(name: str, value: int) -> str | None:
    """Why ``value`` cannot be the ``name`` usage count of a real call, or None when it can.

    The reason names the count but not the value, so reasons stay few (they label metrics).
    """
    if 0 <= value <= MAX_CALL_COUNT:
        return None
    if value < 0:
        return f"{name} is negative"
    return f"{name} above {MAX_CALL_COUNT:,} (not a real call)"


def rate_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be a price in USD per million tokens, or None when it can."""
    if not value.is_finite():
        return f"must be a finite number, got {value}"
    if value < 0:
        return f"must not be negative, got {value}"
    if value > MAX_RATE:
        return f"must be at most {MAX_RATE:,} USD per million tokens, got {value}"
    return None
