"""Alert engine benchmarks: span-to-notification latency, and the cost of one evaluation pass.

Starts a local webhook sink and a real ``claudescope collector`` subprocess (alert engine on),
then repeatedly POSTs one OTLP span that makes a new series fire (a max_tokens stop on a fresh
feature) and times POST-start -> webhook request received. Prints median / p95 / max.
Then fills an in-process Store with ``--rows`` calls over 30 days and times evaluation passes
with every built-in rule plus daily and monthly budgets (the work done on each ingest commit,
and on each timer tick).

    python bench/bench_alerts.py [--n 30] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fixtures_collector import call_span, start_collector  # noqa: E402 (after the path fix)


def _sink() -> tuple[ThreadingHTTPServer, dict[str, float]]:
    arrivals: dict[str, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            now = time.perf_counter()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            for word in body["message"].split():
                if word.startswith("[feature=bench-"):
                    arrivals.setdefault(word.strip("[]").split("=")[1], now)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, arrivals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="alerts to time")
    parser.add_argument("--rows", type=int, default=1_000_000, help="calls in the evaluation-pass store")
    args = parser.parse_args()
    code = _latency(args.n)
    return code or _evaluation(args.rows)


def _latency(n: int) -> int:
    server, arrivals = _sink()
    config = (
        "[alerts]\nbuiltins = false\nevaluate_every_s = 10\n"
        '[[alerts.rules]]\nname = "truncation"\nkind = "max_tokens_rate"\nthreshold = 0.5\ngroup_by = "feature"\n'
        f'[notify]\nurls = ["json://127.0.0.1:{server.server_address[1]}/hook"]\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        running = start_collector(Path(tmp) / "data", config_toml=config, alerts=True)
        try:
            latencies = []
            for i in range(n):
                key = f"bench-{i}"
                started = time.perf_counter()
                response = running.post_spans([call_span(feature=key, stop_reason="max_tokens")])
                assert response.status_code == 200, response.text
                while key not in arrivals and time.perf_counter() - started < 30:
                    time.sleep(0.005)
                if key not in arrivals:
                    print(f"alert {key} not delivered within 30 s", file=sys.stderr)
                    return 1
                latencies.append(arrivals[key] - started)
                time.sleep(1.1)  # the outbox paces one channel at one message per second
        finally:
            running.stop()
            server.shutdown()
    latencies.sort()
    p95 = latencies[max(int(round(0.95 * len(latencies))) - 1, 0)]
    print(f"span -> webhook delivery, {len(latencies)} alerts through a collector subprocess")
    print(f"  median {statistics.median(latencies) * 1000:7.0f} ms")
    print(f"  p95    {p95 * 1000:7.0f} ms")
    print(f"  max    {latencies[-1] * 1000:7.0f} ms", flush=True)
    return 0


def _evaluation(rows: int) -> int:
    from datetime import UTC, datetime
    from decimal import Decimal

    import numpy as np
    import pyarrow as pa

    from claudescope.alerts.engine import AlertEngine
    from claudescope.collector.store import SPANS_ARROW_SCHEMA, Store
    from claudescope.config import BudgetConfig, Config

    rng = np.random.default_rng(7)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "claudescope.duckdb")
        started = time.perf_counter()
        for chunk_start in range(0, rows, 200_000):
            size = min(200_000, rows - chunk_start)
            store.insert_spans(_batch(size, chunk_start, now, rng, pa, SPANS_ARROW_SCHEMA))
        print(f"\nevaluation pass over {rows:,} calls (30 days; filled in {time.perf_counter() - started:.1f} s)")
        config = Config(budget=BudgetConfig(daily_usd=Decimal(1000), monthly_usd=Decimal(30000)))
        engine = AlertEngine(config, store)
        for label, ingest in (("on ingest (cheap rules)", True), ("timer (all rules)", False)):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                engine.evaluate(ingest=ingest)
                times.append(time.perf_counter() - t0)
            print(f"  {label:24s} median {statistics.median(times) * 1000:6.0f} ms  max {max(times) * 1000:6.0f} ms"
                  f"  ({sum(1 for r in engine.rules if r.spec.on_ingest or not ingest)} rules)")
        store.close()
    return 0


def _batch(size: int, offset: int, now: Any, rng: Any, pa: Any, schema: Any) -> Any:
    from decimal import Decimal

    import numpy as np

    seconds = rng.uniform(0, 30 * 86400, size)
    start = np.datetime64(now.replace(tzinfo=None), "us") - (seconds * 1e6).astype("timedelta64[us]")
    features = np.array(["chat", "search", "summarize", "support", "agent"])[rng.integers(0, 5, size)]
    stops = np.array(["end_turn", "end_turn", "end_turn", "tool_use", "max_tokens"])[rng.integers(0, 5, size)]
    micro_usd = rng.integers(100, 50_000, size).tolist()  # $0.0001 to $0.05 per call
    cost = pa.array([Decimal(v).scaleb(-6) for v in micro_usd], pa.decimal128(18, 9))
    ids = [f"{offset + i:032x}" for i in range(size)]
    columns = {
        "trace_id": pa.array(ids), "span_id": pa.array([i[16:] for i in ids]),
        "start_time": pa.array(start, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "end_time": pa.array(start + np.timedelta64(1, "s"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")),
        "duration_ms": pa.array(rng.gamma(2.0, 600.0, size)), "operation": pa.array(["chat"] * size),
        "request_model": pa.array(["claude-sonnet-4-5"] * size), "status": pa.array(["ok"] * size),
        "stop_reason": pa.array(stops), "feature": pa.array(features),
        "user_id": pa.array([f"u-{u}" for u in rng.integers(0, 500, size)]),
        "input_tokens": pa.array(rng.integers(100, 5000, size)), "cache_read_tokens": pa.array(rng.integers(0, 5000, size)),
        "output_tokens": pa.array(rng.integers(10, 1000, size)), "cost_usd": cost,
        "attributes": pa.array(["{}"] * size), "source_rank": pa.array([0] * size, pa.int8()),
        "superseded": pa.array([False] * size), "ingested_at": pa.array([now] * size, pa.timestamp("us", tz="UTC")),
    }
    arrays = [columns[f.name].cast(f.type) if f.name in columns else pa.nulls(size, f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


if __name__ == "__main__":
    sys.exit(main())
