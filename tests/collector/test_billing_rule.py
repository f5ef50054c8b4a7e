"""One billing rule: ingest and reprice price every operation kind alike (PriceTable.bill).

Before the rule was shared, ingest priced batch bookkeeping at $0 and reprice turned those rows
into unpriced (NULL): a reprice with an unchanged table reported "6 changed ... now unpriced 6".
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from claudescope import semconv as sc
from claudescope.fakeapi.server import free_port
from claudescope.config import PricingConfig
from claudescope.pricing import UNBILLED_OPERATIONS, PriceTable, Usage
from tests.fixtures_collector import call_span

BILLED = ("chat", "batch_result")


def _every_operation_kind() -> list[dict]:
    spans = [call_span(operation=op, input_tokens=1200, output_tokens=300) for op in (*BILLED, *sorted(UNBILLED_OPERATIONS))]
    spans.append(call_span(operation="chat", error_type="overloaded_error", http_status=529, input_tokens=None,
                           output_tokens=None, stop_reason=None))
    spans.append(call_span(operation="chat", model="claude-mystery-9", input_tokens=50, output_tokens=5))
    spans.append(call_span(operation="chat", model="claude-opus-4-6", input_tokens=700, cache_read_tokens=9000,
                           cache_write_1h_tokens=400, output_tokens=90,
                           attributes={sc.CS_INFERENCE_GEO: "us"}))
    return spans


def test_ingest_prices_each_operation_by_the_one_rule(collector_factory, tmp_path: Path) -> None:
    running = collector_factory(data_dir=tmp_path / "d")
    running.post_spans(_every_operation_kind())
    rows = {r["operation"] + ("/error" if r["status"] == "error" else "") + "/" + r["request_model"]: r["cost_usd"]
            for r in running.query("SELECT operation, status, request_model, cost_usd FROM calls")}
    table = PriceTable.load(PricingConfig())
    chat = table.bill("chat", failed=False, model="claude-sonnet-4-5", usage=Usage(input_tokens=1200, output_tokens=300))[0]
    assert chat == Decimal("0.008100000")
    for op in BILLED:
        assert Decimal(rows[f"{op}/claude-sonnet-4-5"]) == chat
    for op in UNBILLED_OPERATIONS:
        assert Decimal(rows[f"{op}/claude-sonnet-4-5"]) == 0, op
    assert Decimal(rows["chat/error/claude-sonnet-4-5"]) == 0
    assert rows["chat/claude-mystery-9"] is None


def test_reprice_with_an_unchanged_table_changes_nothing(collector_factory, tmp_path: Path) -> None:
    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    running.post_spans(_every_operation_kind())
    before = running.query("SELECT span_id, cost_usd, cost_input_usd, cost_cache_read_usd, cost_cache_write_usd,"
                           " price_version FROM calls ORDER BY span_id")
    running.stop()
    env = {**os.environ, "CLAUDESCOPE_PORT": str(free_port())}  # never a collector someone else runs
    answer = subprocess.run([sys.executable, "-m", "claudescope", "reprice", "--data", str(data)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert answer.returncode == 0, answer.stderr
    assert f"repriced {len(before)} calls, 0 changed" in answer.stdout
    assert "newly priced 0, now unpriced 0" in answer.stdout
    again = collector_factory(data_dir=data)
    assert again.query("SELECT span_id, cost_usd, cost_input_usd, cost_cache_read_usd, cost_cache_write_usd,"
                       " price_version FROM calls ORDER BY span_id") == before
