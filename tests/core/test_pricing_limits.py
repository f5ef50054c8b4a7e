"""The one rule for what a stored call can hold (claudescope.pricing.limits, PriceTable.cost_columns)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from claudescope.config import PricingConfig
from claudescope.pricing import COST_OVERFLOW, PriceDataError, PriceTable, Usage, count_problem, rate_problem

DEAR = PricingConfig(overrides={"dear": {"input": Decimal(10**6), "output": Decimal(10**6)}})


def test_counts_outside_a_real_call_are_named() -> None:
    assert count_problem("output_tokens", 10**9) is None
    assert count_problem("output_tokens", 0) is None
    assert count_problem("output_tokens", 10**9 + 1) == "output_tokens above 1,000,000,000 (not a real call)"
    assert count_problem("input_tokens", -1) == "input_tokens is negative"


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e30", "1000000.000000001", "sNaN"])
def test_rates_that_are_not_prices_are_named(value: str) -> None:
    assert rate_problem(Decimal(value)) is not None


def test_a_price_table_refuses_an_override_no_config_file_could_hold() -> None:
    # A PricingConfig can also come from a live reprice's JSON body: the table checks it too.
    with pytest.raises(PriceDataError, match=r"prices\.m\.input: must be a finite number"):
        PriceTable.load(PricingConfig(overrides={"m": {"input": Decimal("nan"), "output": Decimal(1)}}))


def test_cost_columns_store_what_fits_and_flag_what_does_not() -> None:
    table = PriceTable.load(DEAR)
    fits = table.cost_columns("dear", Usage(input_tokens=999_999_999))
    assert fits == (Decimal("999999999.000000000"), Decimal("999999999.000000000"), *(Decimal("0E-9"),) * 4, table.version)
    # Each part fits, the total does not: still unstorable.
    total_over = table.cost_columns("dear", Usage(input_tokens=600_000_000, output_tokens=600_000_000))
    assert total_over == (None,) * 6 + (table.version + COST_OVERFLOW,)
    part_over = table.cost_columns("dear", Usage(output_tokens=10**9))
    assert part_over == (None,) * 6 + (table.version + COST_OVERFLOW,)
    # Past Decimal's 28 digits (an old store's 10^18-token row repriced): flagged, not raised.
    assert table.cost_columns("dear", Usage(output_tokens=10**18))[-1] == table.version + COST_OVERFLOW
    assert table.cost_columns("unknown-model", Usage(output_tokens=5)) == (None,) * 7
