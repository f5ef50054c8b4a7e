"""Issue 12 through the real SDK path: one answer with ``usage.output_tokens = 1e15`` (a valid
int64, no real call) used to fail its whole export batch (0 of 21 stored). Now that span alone
is rejected with its reason and the 20 others are stored, priced.

The real ``anthropic`` SDK, instrumented, calls the bundled fake API (told the usage by its
``x-fake-usage`` header), and the stock OTLP/HTTP exporter sends one batch to a real collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import claudescope.instrument as cs
from tests.e2e.test_pipeline import expected_cost, usage_header, wait_rows


@pytest.fixture
def exporting(collector: Any) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "huge-usage-app"}))
    # One batch for all 21 spans: exported only when the test flushes.
    processor = BatchSpanProcessor(
        OTLPSpanExporter(endpoint=collector.url + "/v1/traces"), max_export_batch_size=512, schedule_delay_millis=60_000
    )
    provider.add_span_processor(processor)
    cs.instrument(tracer_provider=provider)
    try:
        yield provider
    finally:
        cs.uninstrument()
        provider.shutdown()


def test_one_answer_with_1e15_output_tokens_costs_only_itself(
    fake_api: str, collector: Any, exporting: TracerProvider
) -> None:
    client = anthropic.Anthropic(base_url=fake_api, api_key="sk-ant-test-key", max_retries=0)
    answers = []
    for i in range(21):
        out = 10**15 if i == 10 else 30 + i
        # A tool_use answer keeps the fake's text to a few words whatever the usage says.
        headers = {"x-fake-usage": usage_header(100, out), "x-fake-stop": "tool_use" if i == 10 else "end_turn"}
        answers.append(client.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": f"call {i}"}],
            extra_headers=headers,
        ))
    assert answers[10].usage.output_tokens == 10**15  # the SDK returned it unchanged
    assert exporting.force_flush(30_000)

    rows = wait_rows(collector, "SELECT response_id, output_tokens, cost_usd FROM calls ORDER BY output_tokens", 20)
    assert len(rows) == 20
    assert {r["response_id"] for r in rows} == {a.id for i, a in enumerate(answers) if i != 10}
    assert [r["output_tokens"] for r in rows] == [30 + i for i in range(21) if i != 10]
    for row in rows:
        assert Decimal(row["cost_usd"]) == expected_cost("claude-sonnet-4-5", 100, row["output_tokens"], 0, 0, 0)
    metrics = httpx.get(collector.url + "/metrics", timeout=10).text
    assert 'reason="output_tokens above 1,000,000,000 (not a real call)"} 1' in metrics
