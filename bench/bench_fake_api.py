"""Throughput of the bundled fake Anthropic API and wall time of ``claudescope demo``.

    python bench/bench_fake_api.py [--calls 400] [--demo-calls 3000] [--concurrency 8]

Fake API: the real anthropic SDK (uninstrumented) against ``create_fake_api(latency_scale=0)``
served by ``ServerThread`` in the same process, sequential and with N threads, for plain
create, stream and count_tokens; reports calls/s and the median call time.
Demo: ``run_demo`` (fake API, instrumentation, time shifting) into an exporter that drops
spans; target: a 3000-call day well under a minute.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import anthropic  # noqa: E402
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from claudescope.fakeapi.server import ServerThread  # noqa: E402
from claudescope.demo import run_demo  # noqa: E402
from claudescope.fakeapi.app import create_fake_api  # noqa: E402

MESSAGES = [{"role": "user", "content": "Summarise this report. " * 200}]


class Drop(SpanExporter):
    """Counts spans and forgets them."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


def _one(client: anthropic.Anthropic, kind: str) -> float:
    started = time.perf_counter()
    if kind == "count_tokens":
        client.messages.count_tokens(model="claude-haiku-4-5", messages=MESSAGES)
    elif kind == "stream":
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=400, messages=MESSAGES) as stream:
            stream.get_final_message()
    else:
        client.messages.create(model="claude-haiku-4-5", max_tokens=400, messages=MESSAGES)
    return time.perf_counter() - started


def bench_fake(calls: int, concurrency: int) -> list[tuple[str, int, float, float]]:
    rows = []
    with ServerThread(create_fake_api(latency_scale=0.0), log_level="critical") as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="bench")
        _one(client, "create")
        for kind in ("create", "stream", "count_tokens"):
            for threads in (1, concurrency):
                started = time.perf_counter()
                with ThreadPoolExecutor(threads) as pool:
                    times = list(pool.map(lambda _: _one(client, kind), range(calls)))
                wall = time.perf_counter() - started
                rows.append((kind, threads, calls / wall, statistics.median(times) * 1000))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--demo-calls", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    out = Console()
    table = Table(title="fake API (in-process, latency_scale=0)")
    for col in ("call", "threads", "calls/s", "median ms"):
        table.add_column(col, justify="right")
    for kind, threads, rate, median in bench_fake(args.calls, args.concurrency):
        table.add_row(kind, str(threads), f"{rate:.0f}", f"{median:.2f}")
    out.print(table)
    drop = Drop()
    started = time.perf_counter()
    summary = run_demo(endpoint="drop", calls=args.demo_calls, seed=7, live_api_key=None,
                       concurrency=args.concurrency, console=Console(stderr=True, quiet=True), exporter=drop)
    wall = time.perf_counter() - started
    demo = Table(title="claudescope demo (spans dropped)")
    for col in ("calls", "batch results", "spans", "wall s", "calls/s"):
        demo.add_column(col, justify="right")
    demo.add_row(str(summary.calls), str(summary.batch_results), str(drop.count), f"{wall:.1f}", f"{summary.calls / wall:.0f}")
    out.print(demo)
    out.print(f"load average at end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
