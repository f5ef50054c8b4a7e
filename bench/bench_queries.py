"""Dashboard-style aggregates over N million calls (default 10 M) in the collector's store.

Generates the rows with numpy/pyarrow (not through OTLP: that is bench_ingest's job), loads
them into a fresh store via the Store API, then times each query (median of 5 after one warm-up)
through Store.read_arrow, i.e. what the query API runs. Usage:
python bench/bench_queries.py [--millions 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from claudescope.collector.store import SPANS_ARROW_SCHEMA, Store  # noqa: E402

QUERIES = {
    "spend by model/day (raw calls)": "SELECT date_trunc('day', start_time) AS day, response_model, sum(cost_usd) AS usd FROM calls GROUP BY ALL ORDER BY ALL",
    "spend by model/day (calls_hour rollup)": (
        "SELECT date_trunc('day', hour) AS day, model, sum(cost_usd) AS usd FROM calls_hour_live GROUP BY ALL ORDER BY ALL"
    ),
    "stop reasons by feature (calls_hour rollup)": (
        "SELECT feature, stop_reason, sum(calls) AS n FROM calls_hour_live GROUP BY ALL ORDER BY ALL"
    ),
    "cache hit rate by feature (calls_hour rollup)": (
        "SELECT feature, sum(cache_read_tokens) / nullif(sum(input_tokens + cache_read_tokens + cache_write_tokens), 0) "
        "AS hit_rate FROM calls_hour_live GROUP BY 1 ORDER BY 1"
    ),
    "p95 latency by model": "SELECT response_model, quantile_cont(duration_ms, 0.95) AS p95 FROM calls GROUP BY 1 ORDER BY 1",
    "cache hit rate by feature": (
        "SELECT feature, sum(cache_read_tokens) / nullif(sum(input_tokens + cache_read_tokens + cache_write_5m_tokens "
        "+ cache_write_1h_tokens), 0) AS hit_rate FROM calls GROUP BY 1 ORDER BY 1"
    ),
    "stop reasons by feature": "SELECT feature, stop_reason, count(*) AS n FROM calls GROUP BY ALL ORDER BY ALL",
    "last 24h spend + errors by service": (
        "SELECT service_name, sum(cost_usd) AS usd, count_if(status = 'error') AS errors FROM calls "
        "WHERE start_time >= (SELECT max(start_time) FROM calls) - INTERVAL 1 DAY GROUP BY 1"
    ),
}
MODELS = np.array(["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805", "claude-sonnet-4-20250514"])
FEATURES = np.array(["support_chat", "summarize", "search", "agent", "classify", "extract", "translate", "code_review"])
STOPS = np.array(["end_turn", "end_turn", "end_turn", "max_tokens", "tool_use", "stop_sequence"])


def chunk(n: int, offset: int, rng: np.random.Generator) -> pa.Table:
    start0 = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp() * 1e6)
    # ~90 days of traffic, appended roughly in time order like real ingest
    starts = start0 + (offset + np.arange(n)) * (90 * 86400 * 10**6 // 10_000_000)
    dur = rng.lognormal(7, 0.8, n)
    inp = rng.integers(10, 5000, n)
    out = rng.integers(1, 2000, n)
    cache = rng.choice([0, 0, 2048, 8000], n)
    cost_units = (inp * 3000 + out * 15000 + cache * 300)  # nano-dollars
    cols = {name: pa.nulls(n, f.type) for name, f in zip(SPANS_ARROW_SCHEMA.names, SPANS_ARROW_SCHEMA, strict=True)}
    ids = np.arange(offset, offset + n)
    cols.update(
        trace_id=pa.array(np.char.mod("%032x", ids)), span_id=pa.array(np.char.mod("%016x", ids)),
        start_time=pa.array(starts, pa.timestamp("us", tz="UTC")),
        end_time=pa.array(starts + (dur * 1000).astype(np.int64), pa.timestamp("us", tz="UTC")),
        duration_ms=pa.array(dur), service_name=pa.array(rng.choice(np.array(["web", "worker", "batch"]), n)),
        operation=pa.array(np.full(n, "chat")), request_model=pa.array(rng.choice(MODELS, n)),
        status=pa.array(np.where(rng.random(n) < 0.02, "error", "ok")), stop_reason=pa.array(rng.choice(STOPS, n)),
        input_tokens=pa.array(inp), cache_read_tokens=pa.array(cache), cache_write_5m_tokens=pa.array(rng.choice([0, 0, 0, 1024], n)),
        cache_write_1h_tokens=pa.array(np.zeros(n, np.int64)), output_tokens=pa.array(out),
        feature=pa.array(rng.choice(FEATURES, n)), user_id=pa.array(np.char.mod("u-%d", rng.integers(1, 5000, n))),
        # generated data only: float -> DECIMAL here is fine (ingest prices with Decimal)
        cost_usd=pa.array(np.round(cost_units / 1e9, 9)).cast(pa.decimal128(18, 9), safe=False),
        source=pa.array(np.full(n, "claudescope")), source_rank=pa.array(np.zeros(n, np.int8)),
        superseded=pa.array(np.zeros(n, bool)), ingested_at=pa.array(starts, pa.timestamp("us", tz="UTC")),
    )
    cols["response_model"] = cols["request_model"]
    return pa.Table.from_pydict(cols, schema=SPANS_ARROW_SCHEMA)


_UNFOLDED_TAIL = 20_000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--millions", type=float, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    total = int(args.millions * 1_000_000)
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "claudescope.duckdb", threads=args.threads)
        t0 = time.perf_counter()
        for offset in range(0, total, 1_000_000):
            store.load_arrow("call_spans", chunk(min(1_000_000, total - offset), offset, rng))
        load_s = time.perf_counter() - t0
        store.rebuild_rollups()  # what ingest maintains incrementally
        # What readers meet under load: calls committed since the last fold, which the *_live
        # views add to the rollup tables (about a second of ingest).
        store.insert_spans(chunk(_UNFOLDED_TAIL, total, rng), fold=False)
        print(f"rollup rows: calls_minute {store.scalar('SELECT count(*) FROM calls_minute'):,}, calls_hour {store.scalar('SELECT count(*) FROM calls_hour'):,}")
        rows = store.scalar("SELECT count(*) FROM calls")
        print(f"loaded {rows:,} calls in {load_s:.1f}s; store {store.size_bytes() / 1e6:.0f} MB; threads={args.threads}")
        for name, sql in QUERIES.items():
            store.read_arrow(sql)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                result = store.read_arrow(sql)
                times.append(time.perf_counter() - t)
            print(f"{name:55s} median {statistics.median(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms   ({result.num_rows} rows)")
        store.close()


if __name__ == "__main__":
    main()
