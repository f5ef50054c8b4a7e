"""Exact prices for Claude calls: the one billing rule, the table as data, the storable bounds.

- :mod:`claudescope.pricing.calc`: ``PriceTable`` (``price``, ``rates``, ``bill``, ``cost_columns``);
- :mod:`claudescope.pricing.table`: the built-in ``prices.toml`` and user overrides, as data;
- :mod:`claudescope.pricing.periods`: prices by date (which period prices a call);
- :mod:`claudescope.pricing.limits`: what a stored call can hold.
"""

from claudescope.pricing.calc import (
    COST_OVERFLOW,
    MAX_CALL_COUNT,
    MAX_RATE,
    MAX_STORED_USD,
    UNBILLED_OPERATIONS,
    Cost,
    CostColumns,
    PriceDataError,
    PriceEntry,
    PriceTable,
    Rates,
    TokenRates,
    Usage,
    count_problem,
    rate_problem,
)

__all__ = [
    "COST_OVERFLOW", "MAX_CALL_COUNT", "MAX_RATE", "MAX_STORED_USD", "UNBILLED_OPERATIONS", "Cost", "CostColumns",
    "PriceDataError", "PriceEntry", "PriceTable", "Rates", "TokenRates", "Usage", "count_problem", "rate_problem",
]
