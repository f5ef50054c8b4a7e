"""The reconcile comparison (pure): the Admin API's report shapes beside the store's calls aggregate.

Bills are built in the public cost/usage report shapes (amounts in cents strings), calls in
the shape of ``Store.reconcile_calls`` rows; the real built-in price table resolves models.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from claudescope.collector.reconcile.bill import BillError, bill_cells
from claudescope.collector.reconcile.compare import ReconRow, calls_cells, canonical_model, compare
from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable

PRICES = PriceTable.load(PricingConfig())
DAY = date(2026, 12, 1)
TODAY = date(2026, 12, 2)
TOL = Decimal("0.001")
_TOKEN_TYPES = {"input": "uncached_input_tokens", "output": "output_tokens", "cache_read": "cache_read_input_tokens",
                "cache_write_5m": "cache_creation.ephemeral_5m_input_tokens",
                "cache_write_1h": "cache_creation.ephemeral_1h_input_tokens"}
# claude-sonnet-5-5 from 2026-10-07: USD per MTok.
RATES = {"input": Decimal(2), "output": Decimal(10), "cache_read": Decimal("0.10"), "cache_write_5m": Decimal("2.50"),
         "cache_write_1h": Decimal(4)}


def cost_line(cents: str, token: str, *, model: str = "claude-sonnet-5-5", workspace: str | None = None,
              tier: str = "standard", cost_type: str = "tokens") -> dict[str, Any]:
    return {"amount": cents, "currency": "USD", "workspace_id": workspace, "description": f"{model} usage",
            "cost_type": cost_type, "context_window": "0-200k", "model": model, "service_tier": tier,
            "token_type": _TOKEN_TYPES.get(token), "inference_geo": None}


def usage_line(*, model: str = "claude-sonnet-5-5", workspace: str | None = None, tier: str = "standard",
               **tokens: int) -> dict[str, Any]:
    return {"uncached_input_tokens": tokens.get("input", 0), "cache_read_input_tokens": tokens.get("cache_read", 0),
            "cache_creation": {"ephemeral_5m_input_tokens": tokens.get("cache_write_5m", 0),
                               "ephemeral_1h_input_tokens": tokens.get("cache_write_1h", 0)},
            "output_tokens": tokens.get("output", 0), "server_tool_use": {"web_search_requests": 0},
            "api_key_id": None, "workspace_id": workspace, "model": model, "service_tier": tier,
            "context_window": None, "inference_geo": None}


def bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"starting_at": f"{day}T00:00:00Z", "ending_at": f"{day}T23:59:59Z", "results": results}


def exact_bill(tokens: dict[str, int], *, rates: dict[str, Decimal] = RATES, **kw: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Cost lines in cents at ``rates`` for ``tokens``, and the matching usage line."""
    costs = [cost_line(str(n * rates[c] / 10_000), c, **kw) for c, n in tokens.items() if n]
    return costs, usage_line(**kw, **tokens)


def group(tokens: dict[str, int], *, calls: int = 10, service: str = "api", tier: str = "standard", workspace: str | None = None,
          request_model: str = "claude-sonnet-5-5", response_model: str | None = "claude-sonnet-5-5-20260901",
          unpriced: int = 0, rates: dict[str, Decimal] = RATES) -> dict[str, Any]:
    """One store aggregate row, priced at ``rates`` (None cost when all unpriced)."""
    part = {c: tokens.get(c, 0) * rates[c] / 1_000_000 for c in RATES}
    total = sum(part.values(), Decimal(0))
    return {
        "day": DAY, "request_model": request_model, "response_model": response_model, "workspace_id": workspace,
        "service_tier": tier, "service_name": service, "calls": calls, "unpriced_calls": unpriced,
        "input_tokens": tokens.get("input", 0), "cache_read_tokens": tokens.get("cache_read", 0),
        "cache_write_5m_tokens": tokens.get("cache_write_5m", 0), "cache_write_1h_tokens": tokens.get("cache_write_1h", 0),
        "output_tokens": tokens.get("output", 0), "web_search_requests": 0,
        "cost_usd": None if unpriced == calls else total, "cost_input_usd": part["input"], "cost_output_usd": part["output"],
        "cost_cache_read_usd": part["cache_read"], "cost_cache_write_usd": part["cache_write_5m"] + part["cache_write_1h"],
        "cost_other_usd": Decimal(0),
    }


def run(cost: list[dict[str, Any]], usage: list[dict[str, Any]], groups: list[dict[str, Any]], *, today: date = TODAY,
        day: date = DAY) -> list[ReconRow]:
    bill = bill_cells([bucket(day, cost)], [bucket(day, usage)], lambda n: canonical_model(PRICES, n))
    return compare(bill, calls_cells(PRICES, groups), PRICES, tolerance=TOL, today=today)


TOKENS = {"input": 120_000, "output": 40_000, "cache_read": 300_000, "cache_write_5m": 20_000, "cache_write_1h": 5_000}


def test_an_exact_bill_matches_with_zero_drift_and_keeps_the_bills_model_name() -> None:
    cost, usage = exact_bill(TOKENS)
    rows = run(cost, [usage], [group(TOKENS)])
    assert len(rows) == 1
    row = rows[0]
    # The calls say an alias and a dated id; the bill names the model its own way: one row.
    assert (row.model, row.workspace_id, row.cause, row.matches) == ("claude-sonnet-5-5", "*", "match", True)
    assert row.bill_usd == row.calls_usd == Decimal("0.740000000")
    assert row.diff_usd == 0 and row.drift == 0
    assert (row.bill_input_tokens, row.calls_output_tokens, row.calls) == (120_000, 40_000, 10)
    assert "agree" in row.explanation


def test_cents_strings_become_usd_exactly() -> None:
    cost = [cost_line("0.0000001", "input"), cost_line("12345.6789", "output")]
    bill = bill_cells([bucket(DAY, cost)], [], lambda n: canonical_model(PRICES, n))
    (cell,) = bill.values()
    assert cell.cost_usd == Decimal("123.456789001")
    assert isinstance(cell.cost_usd, Decimal)


def test_a_missing_service_is_untraced_with_the_missing_tokens_and_who_did_report() -> None:
    billed = {k: v * 2 for k, v in TOKENS.items()}
    cost, usage = exact_bill(billed)
    rows = run(cost, [usage], [group(TOKENS, service="web"), group({"input": 1}, service="jobs", request_model="claude-opus-4-6",
                                                                  response_model="claude-opus-4-6")])
    row = next(r for r in rows if r.model == "claude-sonnet-5-5")
    assert (row.cause, row.matches) == ("untraced", False)
    assert "485,000 more tokens" in row.explanation and "50 %" in row.explanation
    assert "jobs, web" in row.explanation  # every service that reported that day
    assert row.diff_usd == -row.calls_usd


def test_no_traced_calls_at_all_is_said() -> None:
    cost, usage = exact_bill(TOKENS)
    (row,) = run(cost, [usage], [])
    assert row.cause == "untraced"
    assert "no traced calls at all" in row.explanation and "No service reported" in row.explanation


def test_a_wrong_price_names_the_token_class_and_both_rates() -> None:
    cost, usage = exact_bill(TOKENS, rates={**RATES, "output": Decimal(12)})
    (row,) = run(cost, [usage], [group(TOKENS)])
    assert (row.cause, row.matches) == ("price_table", False)
    assert row.diff_usd == Decimal("-0.080000000")
    assert "output tokens at $12/MTok where claudescope's price table has $10/MTok" in row.explanation
    assert "uncached input" not in row.explanation  # only the class that differs
    assert "Correct the model under [prices]" in row.explanation


def test_multipliers_on_both_sides_do_not_hide_the_class_that_differs() -> None:
    # US inference geo (1.1x) on every class, in the bill and in claudescope's stored costs;
    # the bill's 1-hour cache writes are at $5 x 1.1 instead of $4 x 1.1.
    geo = {c: r * Decimal("1.1") for c, r in RATES.items()}
    tokens = {**TOKENS, "cache_write_5m": 0, "cache_write_1h": 25_000}
    cost, usage = exact_bill(tokens, rates={**geo, "cache_write_1h": Decimal("5.5")})
    (row,) = run([c | {"inference_geo": "us"} for c in cost], [usage], [group(tokens, rates=geo)])
    assert row.cause == "price_table"
    assert "1-hour cache write tokens at $5.5/MTok where claudescope's price table has $4.4/MTok" in row.explanation
    assert "output" not in row.explanation and "uncached input" not in row.explanation


def test_the_table_rate_named_is_the_one_in_force_that_day() -> None:
    # Before 2026-10-07 sonnet 5.5's cache read was $0.20/MTok.
    old = {**RATES, "cache_read": Decimal("0.20")}
    cost, usage = exact_bill(TOKENS, rates={**old, "cache_read": Decimal("0.30")})
    bill = bill_cells([bucket(date(2026, 10, 6), cost)], [bucket(date(2026, 10, 6), [usage])], lambda n: canonical_model(PRICES, n))
    calls = calls_cells(PRICES, [group(TOKENS, rates=old) | {"day": date(2026, 10, 6)}])
    (row,) = compare(bill, calls, PRICES, tolerance=TOL, today=TODAY)
    assert row.cause == "price_table"
    assert "cache read tokens at $0.3/MTok where claudescope's price table has $0.2/MTok" in row.explanation


def test_stale_stored_costs_ask_for_a_reprice() -> None:
    cost, usage = exact_bill(TOKENS)  # the bill follows today's table
    (row,) = run(cost, [usage], [group(TOKENS, rates={**RATES, "input": Decimal(3)})])
    assert row.cause == "price_table"
    assert "uncached input tokens at $2/MTok where claudescope's stored costs have $3/MTok" in row.explanation
    assert "current price table agrees with the bill" in row.explanation
    assert "claudescope reprice --since 2026-12-01" in row.explanation


def test_more_traced_than_billed_is_extra_traced() -> None:
    cost, usage = exact_bill(TOKENS)
    (row,) = run(cost, [usage], [group(TOKENS), group(TOKENS, service="copy")])
    assert row.cause == "extra_traced"
    assert "another organisation" in row.explanation


def test_unpriced_calls_are_named() -> None:
    cost, usage = exact_bill(TOKENS)
    (row,) = run(cost, [usage], [group(TOKENS, unpriced=10)])
    assert (row.cause, row.unpriced_calls) == ("unpriced", 10)
    assert "10 of the 10 traced calls" in row.explanation


def test_priority_tier_cost_is_left_out_but_its_tokens_count() -> None:
    cost, usage = exact_bill(TOKENS)
    prio = {"input": 1000, "output": 500}
    usage_prio = usage_line(tier="priority", **prio)
    (row,) = run(cost, [usage, usage_prio], [group(TOKENS), group(prio, tier="priority", calls=2)])
    assert (row.cause, row.matches) == ("match", True)
    assert row.priority_usd == Decimal("0.007000000")
    assert row.calls_input_tokens == row.bill_input_tokens == 121_000
    assert "2 priority-tier calls ($0.007)" in row.explanation


def test_a_bill_that_counts_priority_cost_is_priority_tier() -> None:
    prio = {"input": 1000, "output": 500}
    cost, usage = exact_bill(TOKENS)
    cost.append(cost_line("0.7", "input"))  # the priority calls' $0.007, in cents
    (row,) = run(cost, [usage, usage_line(tier="priority", **prio)], [group(TOKENS), group(prio, tier="priority", calls=2)])
    assert row.cause == "priority_tier"


def test_calls_the_bill_does_not_have_are_not_in_bill() -> None:
    (row,) = run([], [], [group(TOKENS)])
    assert (row.cause, row.bill_usd, row.model) == ("not_in_bill", 0, "claude-sonnet-5-5-20260901")


def test_several_causes_are_mixed_with_a_sentence_each() -> None:
    billed = {**TOKENS, "input": TOKENS["input"] * 2}
    cost, usage = exact_bill(billed)
    (row,) = run(cost, [usage], [group(TOKENS, unpriced=3)])
    assert row.cause == "mixed"
    assert "more tokens than the traced calls" in row.explanation and "have no price" in row.explanation


def test_workspaces_are_compared_one_by_one_once_calls_carry_them() -> None:
    a, b = {"input": 1000, "output": 100}, {"input": 2000, "output": 300}
    cost_a, use_a = exact_bill(a, workspace="wrkspc_A")
    cost_d, use_d = exact_bill(b)  # the default workspace: null in the bill
    rows = run(cost_a + cost_d, [use_a, use_d], [group(a, workspace="wrkspc_A"), group(b)])
    assert [(r.workspace_id, r.cause) for r in rows] == [("default", "match"), ("wrkspc_A", "match")]


def test_workspaces_collapse_when_no_call_carries_one() -> None:
    a, b = {"input": 1000, "output": 100}, {"input": 2000, "output": 300}
    cost_a, use_a = exact_bill(a, workspace="wrkspc_A")
    cost_d, use_d = exact_bill(b)
    rows = run(cost_a + cost_d, [use_a, use_d], [group({"input": 3000, "output": 400})])
    assert [(r.workspace_id, r.cause, r.bill_input_tokens) for r in rows] == [("*", "match", 3000)]


def test_todays_bill_is_marked_not_final() -> None:
    cost, usage = exact_bill(TOKENS)
    (row,) = run(cost, [usage], [group(TOKENS)], today=DAY)
    assert row.matches and "not final" in row.explanation
    (row,) = run(cost, [usage], [group(TOKENS)], today=TODAY)
    assert "not final" not in row.explanation


def test_code_execution_in_the_bill_is_named_as_untraced() -> None:
    cost, usage = exact_bill(TOKENS)
    cost.append(cost_line("5", "none", cost_type="code_execution"))
    (row,) = run(cost, [usage], [group(TOKENS)])
    assert row.cause == "untraced" and "$0.05 of code execution" in row.explanation


@pytest.mark.parametrize("amount", ["12,3", "NaN", None, 12.5])
def test_a_malformed_amount_is_a_bill_error(amount: Any) -> None:
    with pytest.raises(BillError, match="amount"):
        bill_cells([bucket(DAY, [cost_line("1", "input") | {"amount": amount}])], [], str)


def test_calls_with_nothing_billed_and_no_bill_line_match() -> None:
    (row,) = run([], [], [group({}, calls=2)])
    assert (row.cause, row.matches, row.calls) == ("match", True, 2)


@pytest.mark.parametrize("field, value", [("output_tokens", -1), ("output_tokens", "12"), ("cache_creation", [1, 2]),
                                          ("server_tool_use", "x")])
def test_a_malformed_usage_result_is_a_bill_error(field: str, value: Any) -> None:
    with pytest.raises(BillError, match="usage_report"):
        bill_cells([], [bucket(DAY, [usage_line(input=1) | {field: value}])], str)
