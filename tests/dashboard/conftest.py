"""A collector subprocess loaded with a small, KNOWN set of calls, shared by the dashboard tests.

Every dollar below is what the built-in price table gives (USD per MTok: sonnet-4-5 3/15,
haiku-4-5 1/5 with cache read 0.1, opus-4-5 5/25 with 5m write 6.25); tokens stay under every
long-context band so the arithmetic is plain.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_collector import RunningCollector, call_span, start_collector

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
BUDGET_TOML = "[budget]\ndaily_usd = 2\nmonthly_usd = 100\n"


@dataclass(frozen=True)
class Known:
    """One known call and the cost the collector must have stored for it (None = unpriced)."""

    name: str
    cost: Decimal | None
    start: datetime
    span: dict[str, Any]


def known_calls(now: datetime) -> list[Known]:
    """The dataset: 13 calls (12 model calls and 1 count_tokens), 12 in the last hour and 1 three days ago."""
    recent = now - timedelta(minutes=10)

    def at(seconds: int) -> datetime:
        return recent + timedelta(seconds=seconds)

    prefix = {"claudescope.cache.prefix_hash": "p1" * 16, "claudescope.cache.prefix_tokens": 50000}
    rows = [
        ("A", "0.105", at(0), dict(model="claude-sonnet-4-5", input_tokens=10000, output_tokens=5000,
                                   feature="support_chat", user_id="u-1", prompt_version="v1", duration_ms=1000)),
        ("B", "0.21", at(10), dict(model="claude-sonnet-4-5", input_tokens=20000, output_tokens=10000, max_tokens=10000,
                                   stop_reason="max_tokens", feature="support_chat", user_id="u-2", prompt_version="v2",
                                   duration_ms=2000)),
        ("C", "0.2", at(20), dict(model="claude-haiku-4-5", input_tokens=100000, output_tokens=20000, feature="summarize",
                                  user_id="u-1", prompt_version="v1", duration_ms=3000)),
        ("D", "0.068", at(30), dict(model="claude-haiku-4-5", input_tokens=10000, cache_read_tokens=80000,
                                    output_tokens=10000, feature="summarize", user_id="u-3", prompt_version="v1",
                                    duration_ms=4000)),
        ("E", "0.825", at(40), dict(model="claude-opus-4-5", input_tokens=40000, cache_write_5m_tokens=20000,
                                    output_tokens=20000, feature="agent", user_id="u-2", prompt_version="v2",
                                    duration_ms=9000)),
        ("F", "0", at(50), dict(model="claude-haiku-4-5", input_tokens=None, output_tokens=None, stop_reason=None,
                                error_type="overloaded_error", http_status=529, retries=2, feature="summarize",
                                user_id="u-1", prompt_version="v1", duration_ms=6000)),
        ("G", None, at(60), dict(model="claude-mystery-9", input_tokens=1000, output_tokens=100, feature="agent",
                                 user_id="u-3", prompt_version="v2", duration_ms=500)),
        ("H", "0.18", now - timedelta(days=3), dict(model="claude-sonnet-4-5", input_tokens=10000, output_tokens=10000,
                                                    feature="support_chat", user_id="u-1", prompt_version="v1",
                                                    duration_ms=1500)),
        # I states no max_tokens: it still counts among classify's answered calls on every table.
        ("I", "0.0045", at(70), dict(model="claude-sonnet-4-5", input_tokens=1000, output_tokens=100, max_tokens=None,
                                     stop_reason="refusal", feature="classify", user_id="u-4", prompt_version="v1",
                                     duration_ms=700)),
        # A token count: a call (and a row) that bills nothing; its 4,000 counted tokens are no input.
        ("M", "0", at(5), dict(operation="count_tokens", model="claude-sonnet-4-5", input_tokens=4000,
                               output_tokens=None, stop_reason=None, max_tokens=None, feature="support_chat",
                               user_id="u-2", prompt_version="v2", duration_ms=200)),
    ]
    for i, name in enumerate("JKL"):
        rows.append((name, "0.0505", at(80 + 20 * i), dict(
            model="claude-haiku-4-5", input_tokens=50000, output_tokens=100, feature="classify", user_id="u-4",
            prompt_version="v1", duration_ms=800, stop_reason="max_tokens" if name == "J" else "end_turn",
            attributes=prefix)))
    known = []
    for name, cost, start, fields in rows:
        fields = dict(fields)
        fields["start"] = start
        fields["response_id"] = f"msg_{name}"
        known.append(Known(name, None if cost is None else Decimal(cost), start, call_span(**fields)))
    return known


def expected_spend(known: list[Known], start: datetime, end: datetime) -> Decimal:
    """What the dashboard must show as spend between two instants."""
    return sum((k.cost for k in known if k.cost is not None and start <= k.start < end), Decimal(0))


@pytest.fixture(scope="session")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCollector, list[Known]]]:
    """A collector holding exactly the known calls."""
    collector = start_collector(tmp_path_factory.mktemp("dash-collector") / "data")
    try:
        known = known_calls(datetime.now(UTC))
        response = collector.post_spans([k.span for k in known])
        assert response.status_code == 200, response.text
        stored = collector.query("SELECT response_id, cost_usd FROM calls")
        costs = {row["response_id"]: row["cost_usd"] for row in stored}
        # The dashboard shows what the collector priced; pin that to the hand-computed values.
        assert {k.name: (None if costs[f"msg_{k.name}"] is None else Decimal(costs[f"msg_{k.name}"])) for k in known} \
            == {k.name: k.cost for k in known}
        yield collector, known
    finally:
        collector.stop()
