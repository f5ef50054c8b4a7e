"""``PriceTable.bill`` computes the stored cost columns inline (the ingest hot path, issue 13's
bench): they must be exactly what ``price`` gives, for every priced model and multiplier, with
the same overflow and unpriced answers as before."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from claudescope.config import PricingConfig
from claudescope.pricing import COST_OVERFLOW, MAX_CALL_COUNT, UNBILLED_OPERATIONS, PriceTable, Usage

_DEAR = PricingConfig(overrides={"claude-custom-dear": {"input": Decimal(10**6), "output": Decimal(10**6)}})


def _usages(rng: random.Random) -> list[Usage]:
    picks = [0, 1, 7, 999, 200_001, 10**6, MAX_CALL_COUNT]
    return [
        Usage(
            input_tokens=rng.choice(picks), cache_read_tokens=rng.choice(picks),
            cache_write_5m_tokens=rng.choice(picks), cache_write_1h_tokens=rng.choice(picks),
            output_tokens=rng.choice(picks), web_search_requests=rng.choice([0, 0, 3]),
            service_tier=rng.choice([None, "standard", "batch"]), inference_geo=rng.choice([None, "us", "global"]),
            speed=rng.choice([None, "fast"]),
        )
        for _ in range(60)
    ]


def test_cost_columns_are_the_parts_and_total_of_price_for_every_model() -> None:
    table = PriceTable.load(PricingConfig())
    rng = random.Random(13)
    usages = _usages(rng)
    at_values = [None, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 12, 1, tzinfo=dt.UTC)]
    checked = 0
    for entry in table.entries():
        for usage in usages:
            at = rng.choice(at_values)
            cost = table.price(entry.model, usage, at=at)
            columns = table.cost_columns(entry.model, usage, at=at)
            assert table.bill("chat", failed=False, model=entry.model, usage=usage, at=at) == columns
            if cost is None:
                assert columns == (None,) * 7
                continue
            checked += 1
            assert columns == (cost.total_usd, cost.input_usd, cost.output_usd, cost.cache_read_usd,
                               cost.cache_write_usd, cost.other_usd, cost.price_version)
    assert checked > 500


def test_unbilled_failed_unpriced_and_overflowing_calls_keep_their_answers() -> None:
    table = PriceTable.load(_DEAR)
    usage = Usage(input_tokens=10, output_tokens=10)
    zero = (Decimal("0E-9"),) * 6 + (table.version,)
    for operation in UNBILLED_OPERATIONS:
        assert table.bill(operation, failed=False, model="claude-sonnet-4-5", usage=usage) == zero
    assert table.bill("chat", failed=True, model="claude-sonnet-4-5", usage=usage) == zero
    assert table.bill("chat", failed=False, model="no-such-model", usage=usage) == (None,) * 7
    assert table.bill("chat", failed=False, model=None, usage=usage) == (None,) * 7
    huge = Usage(output_tokens=MAX_CALL_COUNT)  # $10^9 at $1 a token: does not fit DECIMAL(18,9)
    assert table.cost_columns("claude-custom-dear", huge) == (None,) * 6 + (table.version + COST_OVERFLOW,)
    fits = table.cost_columns("claude-custom-dear", Usage(input_tokens=2000))
    assert fits[0] == Decimal("2000.000000000") and fits[-1] == table.version


def test_dated_is_true_exactly_when_the_start_time_can_change_the_price() -> None:
    table = PriceTable.load(PricingConfig())
    usage = Usage(input_tokens=1000, output_tokens=1000)
    days = [dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=30 * i) for i in range(60)]
    dated = set()
    for entry in table.entries():
        prices = {table.cost_columns(entry.model, usage, at=day) for day in days}
        if table.dated(entry.model):
            dated.add(entry.model)
        else:  # any date (and None, the current prices) gives the one price
            assert prices == {table.cost_columns(entry.model, usage)}, entry.model
    assert {"claude-opus-4-6", "claude-sonnet-5-5"} <= dated  # the built-in table's price changes
    for model in dated:  # more than one period, or one that starts or ends
        periods = table.entry(model).periods
        assert len(periods) > 1 or periods[0].start is not None or periods[0].end is not None, model
    assert not table.dated("no-such-model") and not table.dated(None) and not table.dated("")
