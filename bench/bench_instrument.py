"""Added latency of claudescope's instrumentation vs the bare SDK and the peers, side by side.

All scenarios share one interpreter and one in-process transport (``httpx2.MockTransport``
answering a prebuilt Message or SSE body), so only instrumentation overhead differs. They are
interleaved round by round (instrument, measure, uninstrument), and each scenario's cost is
the median over rounds of (scenario - bare SDK in the same round): paired differences cancel
the drift of a shared, loaded machine; the scenario order rotates every round. Times are CPU
time, both for the whole process (all threads, so the span processor's background work
counts) and for the calling thread alone; the load average is printed with the results. Spans go to a real SDK TracerProvider with a
BatchSpanProcessor whose exporter drops them.

    python bench/bench_instrument.py [--calls 200] [--rounds 25] [--events 400]

Scenarios: bare SDK (its tracing off); the SDK's built-in tracing; claudescope (SDK tracing
off, the default; global no-op meter); claudescope with a real SDK MeterProvider; "otel_floor",
one empty span around each request (what any span-emitting instrumentation pays); OpenLLMetry (opentelemetry-instrumentation-anthropic), if installed.
Targets: claudescope <= 50 us per non-streaming call and below the peers; <= 2 us per event.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
import httpx2
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import claudescope.instrument as cs

REQUEST = {"model": "claude-opus-4-6", "max_tokens": 300, "system": "You are terse.",
           "messages": [{"role": "user", "content": "Say hello."}]}


class _Drop(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _bodies(events: int) -> tuple[bytes, bytes]:
    usage = {"input_tokens": 120, "output_tokens": 250, "cache_read_input_tokens": 3000,
             "cache_creation_input_tokens": 800, "service_tier": "standard",
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 800}}
    message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
               "content": [{"type": "text", "text": "Hello there"}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": usage}

    def sse(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok "}}
    parts = [sse("message_start", {"type": "message_start", "message": start}),
             sse("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
             *[sse("content_block_delta", delta)] * events,
             sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
             sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                   "usage": {"output_tokens": events}}),
             sse("message_stop", {"type": "message_stop"})]
    return json.dumps(message).encode(), "".join(parts).encode()


def _client(events: int, **kwargs: Any) -> anthropic.Anthropic:
    body, stream = _bodies(events)
    headers = {"content-type": "application/json", "request-id": "req_bench",
               "anthropic-ratelimit-tokens-remaining": "9000", "anthropic-ratelimit-tokens-limit": "10000"}

    def handler(request: httpx2.Request) -> httpx2.Response:
        if b'"stream":true' in request.content:
            return httpx2.Response(200, content=stream, headers={**headers, "content-type": "text/event-stream"})
        return httpx2.Response(200, content=body, headers=headers)

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(api_key="sk-bench", base_url="http://bench.invalid", max_retries=0,
                               http_client=anthropic.DefaultHttpxClient(transport=transport), **kwargs)


def _cpu_per(fn: Callable[[], Any], n: int) -> tuple[float, float]:
    """(process CPU, calling-thread CPU) seconds per call: the first includes the span
    processor's export thread, the second is what the calling thread itself paid."""
    began, began_thread = time.process_time(), time.thread_time()
    for _ in range(n):
        fn()
    return (time.process_time() - began) / n, (time.thread_time() - began_thread) / n


def _floor(provider: TracerProvider) -> tuple[Callable[[], None], Callable[[], None]]:
    """The floor any span-emitting instrumentation pays: one empty span around request()."""
    import wrapt
    from anthropic import _base_client
    from opentelemetry.instrumentation.utils import unwrap

    tracer = provider.get_tracer("floor")

    def empty_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        with tracer.start_as_current_span("chat"):
            return wrapped(*args, **kwargs)

    def setup() -> None:
        wrapt.wrap_function_wrapper(_base_client.SyncAPIClient, "request", empty_span)

    return setup, lambda: unwrap(_base_client.SyncAPIClient, "request")


def _scenarios(provider: TracerProvider, events: int) -> dict[str, tuple[anthropic.Anthropic, Any, Any]]:
    """name -> (client, setup, teardown)."""
    noop = lambda: None  # noqa: E731
    bare = _client(events, open_telemetry=False)
    found = {
        "bare": (bare, noop, noop),
        "sdk_tracing": (_client(events, open_telemetry={"tracer_provider": provider}), noop, noop),
    }
    cs.instrument(tracer_provider=provider)
    instrumented = _client(events)
    cs.uninstrument()
    found["claudescope"] = (instrumented, lambda: cs.instrument(tracer_provider=provider), cs.uninstrument)
    # The same with a real MeterProvider (the GenAI histograms and counters actually recorded).
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    found["cs+metrics"] = (instrumented, lambda: cs.instrument(tracer_provider=provider, meter_provider=meters),
                           cs.uninstrument)
    found["otel_floor"] = (bare, *_floor(provider))
    try:
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    except ImportError:
        print("openllmetry: not installed, skipped")
    else:
        peer = AnthropicInstrumentor()
        found["openllmetry"] = (bare, lambda: peer.instrument(tracer_provider=provider), peer.uninstrument)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--events", type=int, default=400)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=200_000))
    scenarios = _scenarios(provider, args.events)
    streams = max(10, args.calls // 50)
    call_s: dict[str, list[tuple[float, float]]] = {name: [] for name in scenarios}
    stream_s: dict[str, list[tuple[float, float]]] = {name: [] for name in scenarios}
    load_before = os.getloadavg()
    began = time.perf_counter()
    order = list(scenarios)
    for round_ in range(args.rounds):
        # Rotate the order each round so that no scenario always runs right after another.
        shift = round_ % len(order)
        for name in order[shift:] + order[:shift]:
            client, setup, teardown = scenarios[name]
            setup()
            try:
                create = lambda c=client: c.messages.create(**REQUEST)  # noqa: E731
                drain = lambda c=client: sum(1 for _ in c.messages.create(stream=True, **REQUEST))  # noqa: E731
                _cpu_per(create, 30)
                call_s[name].append(_cpu_per(create, args.calls))
                stream_s[name].append(_cpu_per(drain, streams))
            finally:
                teardown()
    provider.shutdown()
    _report(call_s, stream_s, args)
    print(f"wall {time.perf_counter() - began:.0f} s; load average (1/5/15 min) before "
          f"{'/'.join(f'{x:.2f}' for x in load_before)}, after {'/'.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    return 0


def _added(samples: dict[str, list[tuple[float, float]]], name: str, which: int) -> float:
    """Median over rounds of (scenario - bare SDK in the same round)."""
    return statistics.median(a[which] - b[which] for a, b in zip(samples[name], samples["bare"]))


def _report(call_s: dict[str, list[tuple[float, float]]], stream_s: dict[str, list[tuple[float, float]]],
            args: argparse.Namespace) -> None:
    print(f"\n{args.calls} calls and {max(10, args.calls // 50)} streams of {args.events} deltas per round, "
          f"{args.rounds} interleaved rounds; added = median of per-round differences to bare; "
          "proc = process CPU (all threads), thread = calling thread's CPU")
    print(f"{'scenario':<14}{'us/call':>9}{'added/call proc':>17}{'added/call thread':>19}"
          f"{'added/event proc':>18}{'added/event thread':>20}")
    events = args.events + 5
    for name in call_s:
        print(f"{name:<14}{statistics.median(c[0] for c in call_s[name]) * 1e6:>9.1f}"
              f"{_added(call_s, name, 0) * 1e6:>17.1f}{_added(call_s, name, 1) * 1e6:>19.1f}"
              f"{_added(stream_s, name, 0) / events * 1e6:>18.2f}{_added(stream_s, name, 1) / events * 1e6:>20.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
