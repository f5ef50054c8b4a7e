"""Pricing throughput: PriceTable.price() per call, as the collector runs it per span at ingest.

Run: python bench/bench_pricing.py   (target: < 10 microseconds per call)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable, Usage

CASES = {
    "plain (alias id)": ("claude-sonnet-4-5-20250929", Usage(input_tokens=1200, output_tokens=400)),
    "all categories + geo": (
        "claude-opus-4-6",
        Usage(input_tokens=1200, cache_read_tokens=50_000, cache_write_5m_tokens=3000, cache_write_1h_tokens=500,
              output_tokens=800, web_search_requests=1, inference_geo="us"),
    ),
    "long context + batch": ("us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                             Usage(input_tokens=250_000, output_tokens=900, service_tier="batch")),
    "unknown model": ("gpt-4o", Usage(input_tokens=10)),
}


def main() -> None:
    started = time.perf_counter()
    table = PriceTable.load(PricingConfig())
    print(f"PriceTable.load: {(time.perf_counter() - started) * 1e3:.2f} ms")
    # Best of many short batches, plus the median: the best is robust to a busy machine.
    print(f"{'case':<24} {'best us':>8} {'median us':>10}")
    for name, (model, usage) in CASES.items():
        table.price(model, usage)
        _report(name, [_run(lambda: table.price(model, usage)) for _ in range(100)])
    counter = iter(range(10**9))

    def fresh() -> None:
        i = next(counter)
        table.price("claude-haiku-4-5", Usage(input_tokens=i, output_tokens=i // 3))

    _report("Usage() + price()", [_run(fresh) for _ in range(100)])


def _report(name: str, samples: list[float]) -> None:
    samples.sort()
    print(f"{name:<24} {samples[0]:>8.2f} {samples[len(samples) // 2]:>10.2f}")


def _run(call: Callable[[], object], n: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - started) / n * 1e6


if __name__ == "__main__":
    main()
