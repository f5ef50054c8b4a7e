"""Run ONE producer instrumentation against the fake API and write its spans as OTLP protobuf.

Run as a subprocess (instrumentors patch the SDK globally): ``python peer_emit.py PRODUCER
FAKE_API_URL OUT_FILE``. Makes one messages.create with known usage (and one count_tokens),
with the SDK's own tracer off unless PRODUCER is ``anthropic-sdk``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

USAGE = "input=120,cache_read=3000,cache_write_5m=0,cache_write_1h=800,output=250"


def main(producer: str, url: str, out: str) -> None:
    import anthropic

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    sdk_tracing = producer in ("anthropic-sdk", "stacked")
    client = anthropic.Anthropic(api_key="sk-ant-test", base_url=url, max_retries=0, open_telemetry=None if sdk_tracing else False)
    if producer in ("openllmetry", "stacked"):
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif producer == "otel-genai":
        from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif producer == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif producer == "logfire":
        import logfire

        logfire.configure(send_to_logfire=False, console=False, additional_span_processors=[SimpleSpanProcessor(exporter)])
        logfire.instrument_anthropic(client)
    if producer in ("claudescope", "stacked"):
        import claudescope.instrument as cs

        cs.instrument()
    client.messages.create(
        model="claude-sonnet-4-5", max_tokens=300, messages=[{"role": "user", "content": "hello"}],
        extra_headers={"x-fake-usage": USAGE, "x-fake-stop": "max_tokens"},
    )
    provider.force_flush()
    Path(out).write_bytes(encode_spans(exporter.get_finished_spans()).SerializeToString())


if __name__ == "__main__":
    main(*sys.argv[1:4])
