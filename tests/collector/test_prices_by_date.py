"""Prices by date: a call pays the prices in force at its start_time, at ingest and after reprice.

Known case: claude-sonnet-5-5's cache read went from $0.20 to $0.10 per MTok on 2026-10-07
(UTC). Before prices carried dates, one value ($0.10) priced both periods, and a reprice could
only confirm the mistake. Also fast mode on Opus 4.6, withdrawn on 2026-06-29: a fast call after
that bills at standard speed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from claudescope import semconv as sc
from claudescope.collector.admin_api import pricing_from_json, pricing_to_json
from claudescope.config import PricingConfig, load_config
from claudescope.fakeapi.server import free_port
from claudescope.pricing import PriceTable, Usage
from tests.fixtures_collector import call_span

CUT = datetime(2026, 10, 7, tzinfo=UTC)
BEFORE = datetime(2026, 10, 6, 23, 59, 59, 999_000, tzinfo=UTC)  # the last millisecond at $0.20
SONNET = {"model": "claude-sonnet-5-5", "input_tokens": 1000, "cache_read_tokens": 1_000_000, "output_tokens": 1000}
FAST = {"model": "claude-opus-4-6", "input_tokens": 1000, "output_tokens": 1000, "attributes": {sc.CS_SPEED: "fast"}}
COLUMNS = "span_id, cost_usd, cost_cache_read_usd, price_version"
# A dated override: from 2026-12-01 the user pays $0.05 for cache reads, before that the list price.
DATED_OVERRIDE = '[prices]\n"claude-sonnet-5-5" = { from = 2026-12-01, input = 2.0, output = 10.0, cache_read = 0.05 }\n'


def _spans() -> dict[str, dict[str, Any]]:
    return {
        "sonnet-before": call_span(span_id="1" * 16, start=BEFORE, **SONNET),
        "sonnet-cut": call_span(span_id="2" * 16, start=CUT, **SONNET),
        "sonnet-december": call_span(span_id="3" * 16, start=datetime(2026, 12, 1, 9, tzinfo=UTC), **SONNET),
        "fast-before": call_span(span_id="4" * 16, start=datetime(2026, 6, 28, 12, tzinfo=UTC), **FAST),
        "fast-after": call_span(span_id="5" * 16, start=datetime(2026, 6, 29, 0, 0, 1, tzinfo=UTC), **FAST),
    }


def _costs(running: Any) -> dict[str, tuple[str, str]]:
    rows = running.query(f"SELECT {COLUMNS} FROM calls ORDER BY span_id")
    names = {span["span_id"]: name for name, span in _spans().items()}
    return {names[r["span_id"]]: (r["cost_usd"], r["cost_cache_read_usd"]) for r in rows}


# in 1000 x $2 = 0.002 ; out 1000 x $10 = 0.01 ; read 1,000,000 x $0.20 = 0.2 (or x $0.10 = 0.1)
# Opus 4.6 fast: (1000 x $5 + 1000 x $25) x 6 = 0.18 before the withdrawal, 0.03 after.
LIST_PRICES = {
    "sonnet-before": ("0.212000000", "0.200000000"),
    "sonnet-cut": ("0.112000000", "0.100000000"),
    "sonnet-december": ("0.112000000", "0.100000000"),
    "fast-before": ("0.180000000", "0.000000000"),
    "fast-after": ("0.030000000", "0.000000000"),
}


def _reprice(data: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLAUDESCOPE_PORT": str(free_port())}  # never a collector someone else runs
    return subprocess.run([sys.executable, "-m", "claudescope", "reprice", "--data", str(data), *extra],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_each_call_is_priced_at_its_own_date_at_ingest_and_after_reprice(collector_factory, tmp_path: Path) -> None:
    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    assert running.post_spans(list(_spans().values())).status_code == 200
    assert _costs(running) == LIST_PRICES  # at ingest
    version = running.query("SELECT DISTINCT price_version FROM calls")
    assert version == [{"price_version": PriceTable.load(PricingConfig()).version}]
    running.stop()

    # Offline reprice of the stopped store with the same table: every call keeps its own rate.
    answer = _reprice(data, tmp_path)
    assert answer.returncode == 0, answer.stderr
    assert "repriced 5 calls, 0 changed" in answer.stdout, answer.stdout
    again = collector_factory(data_dir=data)
    assert _costs(again) == LIST_PRICES


def test_a_dated_override_reprices_only_its_own_period(collector_factory, tmp_path: Path) -> None:
    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    assert running.post_spans(list(_spans().values())).status_code == 200
    config = tmp_path / "dated-prices.toml"
    config.write_text(DATED_OVERRIDE)
    # Through the running collector: the dated override travels as JSON to the collector.
    answer = _reprice(data, tmp_path, "--api", running.url, "--config", str(config))
    assert answer.returncode == 0, answer.stderr
    assert "repriced 5 calls, 1 changed" in answer.stdout, answer.stdout
    # December: 1,000,000 x $0.05 = 0.05 ; + 0.012 of input and output
    assert _costs(running) == {**LIST_PRICES, "sonnet-december": ("0.062000000", "0.050000000")}


def test_dated_overrides_survive_the_trip_to_a_running_collector(tmp_path: Path) -> None:
    config = tmp_path / "claudescope.toml"
    config.write_text(DATED_OVERRIDE + '"acme" = [{ until = 2026-10-07T12:00:00Z, input = 1, output = 2 }, '
                      "{ from = 2026-10-07T12:00:00Z, input = 3, output = 4 }]\n")
    pricing = load_config(config).pricing
    assert pricing_from_json(pricing_to_json(pricing)) == pricing
    table = PriceTable.load(pricing_from_json(pricing_to_json(pricing)))
    one = Usage(input_tokens=1_000_000)
    noon = datetime(2026, 10, 7, 12, tzinfo=UTC)
    assert table.price("acme", one, at=noon.replace(hour=11)).total_usd == Decimal(1)
    assert table.price("acme", one, at=noon).total_usd == Decimal(3)
