"""Pricing throughput: PriceTable.price() per call, as the collector runs it per span at ingest.

Run: python bench/bench_pricing.py   (target: < 10 microseconds per call)
"""

from __future__ import annotations

import time

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
    n = 200_000
    print(f"{'case':<24} {'us/call':>8}")
    for name, (model, usage) in CASES.items():
        table.price(model, usage)
        best = min(_run(table, model, usage, n) for _ in range(3))
        print(f"{name:<24} {best:>8.2f}")
    started = time.perf_counter()
    for i in range(n):
        table.price("claude-haiku-4-5", Usage(input_tokens=i, output_tokens=i // 3))
    print(f"{'Usage() + price()':<24} {(time.perf_counter() - started) / n * 1e6:>8.2f}")


def _run(table: PriceTable, model: str, usage: Usage, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        table.price(model, usage)
    return (time.perf_counter() - started) / n * 1e6


if __name__ == "__main__":
    main()
