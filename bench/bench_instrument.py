"""Added latency of claudescope's instrumentation vs the bare SDK and the peers, side by side.

All scenarios share one interpreter and one in-process transport (``httpx2.MockTransport``
answering a prebuilt Message or SSE body), so only instrumentation overhead differs. They are
interleaved round by round (instrument, measure, uninstrument), and each scenario's cost is
the median over rounds of (scenario - bare SDK in the same round): paired differences cancel
the drift of a shared, loaded machine; the scenario order rotates every round. Times are CPU
time, both for the whole process (all threads, so the span processor's background work
counts) and for the calling thread alone; the load average is printed with the results. Spans go to a real SDK TracerProvider with a
BatchSpanProcessor whose exporter drops them.

    python bench/bench_instrument.py [--calls 200] [--rounds 25] [--events 400] [--streams N]

Scenarios: bare SDK (its tracing off); the SDK's built-in tracing; claudescope (SDK tracing
off, the default; global no-op meter); claudescope with a real SDK MeterProvider; "otel_floor",
one empty span around each request (what any span-emitting instrumentation pays); "span_floor",
the OTel SDK's own cost of exactly the span claudescope emits (same name, kind, attributes and
attempt event, captured once from a real claudescope span and replayed by a bare wrapper with
none of our logic; for a stream it ends when request() returns, so it has no per-event cost),
so "claudescope - span_floor" is claudescope's own Python; OpenLLMetry
(opentelemetry-instrumentation-anthropic), if installed.

Per event: the stream call pays the fixed per-call cost too, so the per-event cost is
(stream added - call added) / events, with the per-call cost taken out; the raw
(stream added) / events is printed as well. Each stream has ``--events`` deltas plus 5 framing
events.
Targets: claudescope <= 50 us per non-streaming call and below the peers; <= 2 us per event.
On a shared, loaded machine CPU times swing by tens of us from run to run (the per-event
figures by about 1 us): compare scenarios within one run, and run it more than once.

    python bench/bench_instrument.py --only claudescope,span_floor   # a quicker subset (bare is always run)
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
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

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


class _AtStart(InMemorySpanExporter):
    """Also keeps each span's attributes as they were at creation (what the sampler saw)."""

    def __init__(self) -> None:
        super().__init__()
        self.at_start: dict[int, dict[str, Any]] = {}


def _captured(events: int) -> dict[bool, tuple[str, Any, dict[str, Any], dict[str, Any], str, dict[str, Any]]]:
    """stream? -> (name, kind, start attributes, end attributes, event name, event attributes) of
    the span claudescope emits for REQUEST, captured once from a real instrumented call."""
    from opentelemetry.sdk.trace import SpanProcessor

    exporter = _AtStart()

    class Starts(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            exporter.at_start[span.context.span_id] = dict(span.attributes or {})

    provider = TracerProvider()
    provider.add_span_processor(Starts())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    cs.instrument(tracer_provider=provider)
    try:
        client = _client(events)
        client.messages.create(**REQUEST)
        sum(1 for _ in client.messages.create(stream=True, **REQUEST))
    finally:
        cs.uninstrument()
    found = {}
    for span in exporter.get_finished_spans():
        start = exporter.at_start[span.context.span_id]
        rest = {k: v for k, v in (span.attributes or {}).items() if k not in start}
        (event,) = span.events  # one attempt, one event: anything else would make the floor wrong
        found[bool(start.get("gen_ai.request.stream"))] = (span.name, span.kind, start, rest, event.name,
                                                          dict(event.attributes or {}))
    assert set(found) == {False, True}, found
    return found


def _span_floor(provider: TracerProvider, events: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """The OTel SDK's floor for the span claudescope must emit: the same span (start with the
    request attributes, current while request() runs, the rest set at the end, one attempt
    event, end), replayed from precomputed dicts with none of claudescope's logic."""
    import wrapt
    from anthropic import _base_client
    from opentelemetry import context, trace
    from opentelemetry.instrumentation.utils import unwrap

    tracer = provider.get_tracer("span_floor")
    shapes = _captured(events)

    def same_span(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        name, kind, start, rest, event_name, event = shapes[bool(kwargs.get("stream"))]
        span = tracer.start_span(name, kind=kind, attributes=start)
        token = context.attach(trace.set_span_in_context(span))
        try:
            result = wrapped(*args, **kwargs)
        finally:
            context.detach(token)
        span.set_attributes(rest)
        span.add_event(event_name, event)
        span.end()
        return result

    def setup() -> None:
        wrapt.wrap_function_wrapper(_base_client.SyncAPIClient, "request", same_span)

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
    found["span_floor"] = (bare, *_span_floor(provider, events))
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
    parser.add_argument("--streams", type=int, default=0, help="streams per round (default max(10, calls / 50))")
    parser.add_argument("--only", default="", help="comma-separated scenarios to run (bare always runs)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=200_000))
    scenarios = _scenarios(provider, args.events)
    if args.only:
        wanted = {"bare", *args.only.split(",")}
        scenarios = {name: found for name, found in scenarios.items() if name in wanted}
    streams = args.streams or max(10, args.calls // 50)
    args.streams = streams
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
    print(f"\n{args.calls} calls and {args.streams} streams of {args.events} deltas per round, "
          f"{args.rounds} interleaved rounds; added = median of per-round differences to bare; "
          "proc = process CPU (all threads), thread = calling thread's CPU (us)")
    print("per event = (stream added - call added) / events; raw = stream added / events (includes the per-call cost)")
    print(f"{'scenario':<13}{'us/call':>8}{'call proc':>11}{'call thread':>13}"
          f"{'event proc':>12}{'event thread':>14}{'raw proc':>10}{'raw thread':>12}")
    events = args.events + 5
    added: dict[str, tuple[float, float]] = {}
    for name in call_s:
        call = [_added(call_s, name, which) * 1e6 for which in (0, 1)]
        stream = [_added(stream_s, name, which) * 1e6 for which in (0, 1)]
        added[name] = (call[0], call[1])
        print(f"{name:<13}{statistics.median(c[0] for c in call_s[name]) * 1e6:>8.1f}{call[0]:>11.1f}{call[1]:>13.1f}"
              f"{(stream[0] - call[0]) / events:>12.2f}{(stream[1] - call[1]) / events:>14.2f}"
              f"{stream[0] / events:>10.2f}{stream[1] / events:>12.2f}")
    if "claudescope" in added and "span_floor" in added:
        ours = [added["claudescope"][w] - added["span_floor"][w] for w in (0, 1)]
        print(f"claudescope - span_floor (claudescope's own Python per call): proc {ours[0]:.1f} us, "
              f"thread {ours[1]:.1f} us")


if __name__ == "__main__":
    raise SystemExit(main())
