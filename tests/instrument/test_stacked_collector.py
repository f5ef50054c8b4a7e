"""Stacked instrumentation end to end: claudescope + the SDK's own tracing (+ OpenLLMetry when
installed) export to a real collector, which must keep one ``calls`` row per call."""

from __future__ import annotations

from typing import Any

import anthropic
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import claudescope.instrument as cs

from .conftest import HELLO, MODEL


def test_one_row_per_call_when_stacked(collector: Any, fake_api: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "stacked"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.url + "/v1/traces")))
    cs.instrument(tracer_provider=provider, strict=True)
    peer = None
    try:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        peer = AnthropicInstrumentor()
        peer.instrument(tracer_provider=provider)
    except ImportError:
        pass
    try:
        client = anthropic.Anthropic(base_url=fake_api, api_key="k", open_telemetry={"tracer_provider": provider})
        plain = client.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                                       extra_headers={"x-fake-usage": "input=100,cache_read=2000,output=30",
                                                      "x-fake-script": "529,ok"})
        with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO,
                                    extra_headers={"x-fake-usage": "input=50,output=10"}) as stream:
            streamed = stream.get_final_message()
    finally:
        if peer is not None:
            peer.uninstrument()
        cs.uninstrument()
    provider.force_flush()
    rows = collector.query(
        "SELECT response_id, input_tokens, cache_read_tokens, output_tokens, retries, stream, source "
        "FROM calls WHERE service_name = 'stacked' ORDER BY start_time")
    by_id: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_id.setdefault(row["response_id"], []).append(row)
    assert set(by_id) == {plain.id, streamed.id}, rows
    assert all(len(v) == 1 for v in by_id.values()), rows
    first = by_id[plain.id][0]
    assert (first["input_tokens"], first["cache_read_tokens"], first["output_tokens"]) == (100, 2000, 30)
    assert first["retries"] == 1
    second = by_id[streamed.id][0]
    assert (second["input_tokens"], second["output_tokens"], second["stream"]) == (50, 10, True)
    if any(r["source"] for r in rows):
        assert {r["source"] for r in rows} == {"claudescope"}, rows
