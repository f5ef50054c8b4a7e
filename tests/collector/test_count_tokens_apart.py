"""A count_tokens call bills nothing: its count is kept apart from the billed-token columns (SPEC §4)."""

from __future__ import annotations

import json

from tests.fixtures_collector import call_span

COUNTED = "claudescope.counted_input_tokens"


def test_counted_tokens_are_no_input_tokens(collector) -> None:
    chat = call_span(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100)
    counts = [call_span(operation="count_tokens", model="claude-sonnet-4-5", input_tokens=n, output_tokens=None,
                        stop_reason=None, max_tokens=None) for n in (1500, 2506)]
    assert collector.post_spans([chat, *counts]).status_code == 200
    (total,) = collector.query("SELECT sum(input_tokens) AS billed, sum(cost_usd) AS cost FROM calls")
    assert total["billed"] == 1000  # what was billed: the chat call only
    rows = collector.query("SELECT input_tokens, cache_read_tokens, cost_usd, attributes FROM calls "
                           "WHERE operation = 'count_tokens' ORDER BY input_tokens")
    assert [(r["input_tokens"], r["cache_read_tokens"], r["cost_usd"]) for r in rows] == [(0, 0, "0.000000000")] * 2
    counted = sorted(json.loads(r["attributes"])[COUNTED] for r in rows)
    assert counted == [1500, 2506]  # the count itself is kept, under its documented key
    (chat_row,) = collector.query("SELECT attributes FROM calls WHERE operation = 'chat'")
    assert COUNTED not in (json.loads(chat_row["attributes"]) if chat_row["attributes"] else {})
