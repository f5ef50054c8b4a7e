"""A span whose numbers cannot be priced or stored never costs the rest of its batch (issue 12).

Over OTLP/HTTP to a real ``claudescope collector`` process: a count no real call has rejects
that span alone (200 with ``partial_success`` naming the reason); a real call whose cost does not
fit DECIMAL(18,9) is stored with NULL cost and ``price_version`` flagged ``+cost-overflow``; a
reprice goes through the same rule.
"""

from __future__ import annotations

from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from claudescope.pricing.limits import COST_OVERFLOW
from tests.fixtures_collector import call_span

# claude-sonnet-4-5: $3 input, $15 output per million tokens; 100 in / 20 out = $0.0006.
ORDINARY_COST = "0.000600000"
# Only the overrides name this model: the largest price the config accepts, $1 a token.
HUGE_PRICE_CONFIG = '[prices]\n"claude-custom-dear" = { input = 1000000, output = 1000000 }\n'


def _answer(r: httpx.Response) -> ExportTraceServiceResponse:
    assert r.status_code == 200, r.text
    return ExportTraceServiceResponse.FromString(r.content)


def _rows(collector: Any) -> dict[str, dict[str, Any]]:
    rows = collector.query(
        "SELECT span_id, output_tokens, cost_usd, cost_output_usd, price_version FROM calls ORDER BY span_id"
    )
    return {row["span_id"]: row for row in rows}


def test_nine_ordinary_spans_survive_one_with_1e14_output_tokens(collector: Any) -> None:
    good = [call_span() for _ in range(9)]
    odd = call_span(output_tokens=10**14)
    answer = _answer(collector.post_spans([*good[:4], odd, *good[4:]]))

    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message == (
        "1 span(s) rejected: output_tokens above 1,000,000,000 (not a real call)"
    )
    rows = _rows(collector)
    assert sorted(rows) == sorted(s["span_id"] for s in good)
    assert {r["cost_usd"] for r in rows.values()} == {ORDINARY_COST}
    # The collector keeps serving the next batch.
    assert _answer(collector.post_spans([call_span()])).partial_success.rejected_spans == 0
    assert len(_rows(collector)) == 10


def test_negative_and_oversized_counts_are_rejected_one_by_one(collector: Any) -> None:
    good = [call_span(), call_span()]
    # The largest plausible count is stored and priced exactly: 10^9 x $15/MTok = $15,000.
    boundary = call_span(output_tokens=10**9)
    bad = [
        call_span(input_tokens=-5),
        call_span(cache_read_tokens=-1),
        call_span(output_tokens=2**63 - 1),  # a valid int64, not a call
        call_span(cache_write_1h_tokens=10**9 + 1),
        call_span(output_tokens=float("inf")),
    ]
    answer = _answer(collector.post_spans([*good, *bad, boundary]))

    assert answer.partial_success.rejected_spans == 5
    assert answer.partial_success.error_message.split("; ") == [
        "1 span(s) rejected: cache_read_tokens is negative",
        "1 span(s) rejected: cache_write_1h_tokens above 1,000,000,000 (not a real call)",
        "1 span(s) rejected: input_tokens is negative",
        "2 span(s) rejected: output_tokens above 1,000,000,000 (not a real call)",
    ]
    rows = _rows(collector)
    assert sorted(rows) == sorted(s["span_id"] for s in [*good, boundary])
    assert rows[boundary["span_id"]]["output_tokens"] == 10**9
    assert rows[boundary["span_id"]]["cost_output_usd"] == "15000.000000000"
    assert rows[boundary["span_id"]]["cost_usd"] == "15000.000300000"
    assert all(rows[s["span_id"]]["cost_usd"] == ORDINARY_COST for s in good)


def test_a_cost_too_large_to_store_is_null_and_flagged_and_the_rest_priced(collector_factory: Any) -> None:
    collector = collector_factory(HUGE_PRICE_CONFIG)
    ordinary = call_span()
    dear = call_span(model="claude-custom-dear", input_tokens=2000, output_tokens=0)
    overflow = call_span(model="claude-custom-dear", input_tokens=0, output_tokens=10**9)  # $10^9
    answer = _answer(collector.post_spans([ordinary, dear, overflow]))

    assert answer.partial_success.rejected_spans == 0
    rows = _rows(collector)
    assert sorted(rows) == sorted(s["span_id"] for s in (ordinary, dear, overflow))
    assert rows[ordinary["span_id"]]["cost_usd"] == ORDINARY_COST
    assert rows[dear["span_id"]]["cost_usd"] == "2000.000000000"
    flagged = rows[overflow["span_id"]]
    assert flagged["cost_usd"] is None and flagged["cost_output_usd"] is None
    assert flagged["price_version"].endswith(COST_OVERFLOW)
    assert not rows[dear["span_id"]]["price_version"].endswith(COST_OVERFLOW)

    # Reprice follows the same rule: at a sane price the flagged call is priced and unflagged ...
    sane = {"overrides": {"claude-custom-dear": {"input": "1", "output": "5"}}}
    r = httpx.post(collector.url + "/api/v1/admin/reprice", json={"pricing": sane}, timeout=60)
    assert r.status_code == 200, r.text
    rows = _rows(collector)
    assert rows[overflow["span_id"]]["cost_usd"] == "5000.000000000"
    assert not rows[overflow["span_id"]]["price_version"].endswith(COST_OVERFLOW)
    # ... and a price no table may hold is refused with the key, changing nothing.
    absurd = {"overrides": {"claude-custom-dear": {"input": "1e30", "output": "5"}}}
    r = httpx.post(collector.url + "/api/v1/admin/reprice", json={"pricing": absurd}, timeout=60)
    assert r.status_code == 400
    assert "prices.claude-custom-dear.input: must be at most 1,000,000 USD per million tokens" in r.text
    assert _rows(collector)[overflow["span_id"]]["cost_usd"] == "5000.000000000"
