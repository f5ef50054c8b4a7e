"""Added latency of claudescope's instrumentation vs the bare SDK and the peers, side by side.

Times are process CPU time (all threads, so the span processor's background work counts),
best of ``--rounds``: on a shared, loaded machine CPU time is far steadier than wall time.
Every scenario runs in its own fresh interpreter (patches are process-global) against the
same in-process transport (``httpx2.MockTransport`` answering a prebuilt Message or SSE body),
so the numbers measure instrumentation overhead only. Spans go to a real SDK TracerProvider
with a BatchSpanProcessor and an exporter that drops them.

    python bench/bench_instrument.py [--calls 3000] [--rounds 5] [--events 400]

Scenarios: bare SDK (its tracing off); the SDK's built-in tracing; claudescope (SDK tracing
off, the default); OpenLLMetry (opentelemetry-instrumentation-anthropic), if installed.
Targets: claudescope <= 50 us per non-streaming call and below the peers; <= 2 us per event.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SCENARIOS = ("bare", "sdk_tracing", "claudescope", "openllmetry")

_CHILD = r'''
import json, statistics, sys, time
import anthropic, httpx2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

scenario, calls, rounds, events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

class Drop(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS

provider = TracerProvider()
provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100000))

usage = {"input_tokens": 120, "output_tokens": 250, "cache_read_input_tokens": 3000,
         "cache_creation_input_tokens": 800,
         "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 800},
         "service_tier": "standard"}
message = {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-opus-4-6",
           "content": [{"type": "text", "text": "Hello there"}], "stop_reason": "end_turn",
           "stop_sequence": None, "usage": usage}
BODY = json.dumps(message).encode()
def sse(name, data):
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"
start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
parts = [sse("message_start", {"type": "message_start", "message": start}),
         sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})]
parts += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": "tok "}})] * events
parts += [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
          sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                "usage": {"output_tokens": events}}),
          sse("message_stop", {"type": "message_stop"})]
STREAM = "".join(parts).encode()
HEADERS = {"content-type": "application/json", "request-id": "req_bench",
           "anthropic-ratelimit-tokens-remaining": "9000", "anthropic-ratelimit-tokens-limit": "10000"}

def handler(request):
    if b'"stream":true' in request.content:
        return httpx2.Response(200, content=STREAM, headers={**HEADERS, "content-type": "text/event-stream"})
    return httpx2.Response(200, content=BODY, headers=HEADERS)

kwargs = {}
if scenario == "claudescope":
    import claudescope.instrument as cs
    cs.instrument(tracer_provider=provider)
elif scenario == "openllmetry":
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    AnthropicInstrumentor().instrument(tracer_provider=provider)
    kwargs["open_telemetry"] = False
elif scenario == "sdk_tracing":
    kwargs["open_telemetry"] = {"tracer_provider": provider}
else:
    kwargs["open_telemetry"] = False

client = anthropic.Anthropic(api_key="sk-bench", base_url="http://bench.invalid", max_retries=0,
                             http_client=anthropic.DefaultHttpxClient(transport=httpx2.MockTransport(handler)), **kwargs)
req = dict(model="claude-opus-4-6", max_tokens=300, system="You are terse.",
           messages=[{"role": "user", "content": "Say hello."}])

def per_call():
    best = []
    for _ in range(rounds):
        t = time.process_time()
        for _ in range(calls):
            client.messages.create(**req)
        best.append((time.process_time() - t) / calls)
    return min(best)

def per_stream():
    n = max(20, calls // 50)
    best = []
    for _ in range(rounds):
        t = time.process_time()
        for _ in range(n):
            for _ in client.messages.create(stream=True, **req):
                pass
        best.append((time.process_time() - t) / n)
    return min(best)

for _ in range(200):
    client.messages.create(**req)
for _ in client.messages.create(stream=True, **req):
    pass
print(json.dumps({"call_s": per_call(), "stream_s": per_stream()}))
provider.shutdown()
'''


def _run(scenario: str, calls: int, rounds: int, events: int) -> dict[str, float] | None:
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", _CHILD, scenario, str(calls), str(rounds), str(events)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        print(f"{scenario}: skipped ({result.stderr.strip().splitlines()[-1] if result.stderr else 'failed'})")
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--events", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=2, help="interleaved repetitions of the whole set")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SCENARIOS}
    for _ in range(args.repeat):
        for scenario in SCENARIOS:
            found = _run(scenario, args.calls, args.rounds, args.events)
            if found:
                runs[scenario].append(found)
    if not runs["bare"]:
        print("bare SDK scenario failed")
        return 1
    bare_call = min(r["call_s"] for r in runs["bare"])
    bare_stream = min(r["stream_s"] for r in runs["bare"])
    print(f"\n{args.calls} calls x {args.rounds} rounds x {args.repeat} runs; stream of {args.events} deltas")
    print(f"{'scenario':<14}{'us/call':>10}{'added us/call':>15}{'us/stream':>11}{'added us/event':>16}")
    for scenario, found in runs.items():
        if not found:
            continue
        call = min(r["call_s"] for r in found)
        stream = min(r["stream_s"] for r in found)
        added_event = (stream - bare_stream) / (args.events + 5)
        print(f"{scenario:<14}{call * 1e6:>10.1f}{(call - bare_call) * 1e6:>15.1f}{stream * 1e6:>11.0f}{added_event * 1e6:>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
