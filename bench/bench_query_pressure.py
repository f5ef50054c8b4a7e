"""Ingest under query pressure: acknowledgements/s with and without heavy query-API clients.

Starts a real collector (``python -m claudescope collector``) on a free port and a temporary
data dir, then, twice (alone, then with ``--clients`` threads sending heavy queries without
pause), sends ``--seconds`` of OTLP export requests of ``--spans`` spans each, one after the
other, as an exporter does. Prints acknowledgements/s, the worst acknowledgement time, and how
the heavy queries were answered (status: count, worst seconds).

Usage: python bench/bench_query_pressure.py [--seconds 20] [--clients 4] [--spans 1]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from tests.fixtures_collector import RunningCollector, call_span, post_spans, start_collector  # noqa: E402

HEAVY = [
    "SELECT list(range(100000)) FROM range(300)",  # the query: one 240 MB row
    "SELECT range(100000) AS l FROM range(300)",  # 300 rows of 800 KB: truncated by bytes
    "SELECT length(string_agg(x::VARCHAR, ',')) AS n FROM range(50000000) t(x)",
    "SELECT x, x::VARCHAR AS s FROM range(5000000) t(x)",
]


def ingest(running: RunningCollector, seconds: float, spans: int) -> tuple[int, float]:
    """Send export requests back to back for ``seconds``; returns (acknowledged, worst seconds)."""
    acked, worst = 0, 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        r = post_spans(running.url, [call_span() for _ in range(spans)])
        worst = max(worst, time.monotonic() - started)
        if r.status_code == 200:
            acked += 1
    return acked, worst


def heavy_client(url: str, sql: str, stop: threading.Event, seen: list[tuple[int, float]]) -> None:
    """Send ``sql`` again and again until ``stop``; record (status, seconds) of each answer."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            status = httpx.post(url + "/api/v1/query", json={"sql": sql}, timeout=120).status_code
        except httpx.HTTPError:
            status = 0
        seen.append((status, time.monotonic() - started))


def run(seconds: float, clients: int, spans: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        running = start_collector(Path(tmp) / "data")
        try:
            acked, worst = ingest(running, seconds, spans)
            print(f"alone:           {acked / seconds:7.1f} acks/s, worst {worst:.2f} s")
            stop, seen = threading.Event(), []
            threads = [
                threading.Thread(target=heavy_client, args=(running.url, HEAVY[i % len(HEAVY)], stop, seen), daemon=True)
                for i in range(clients)
            ]
            for t in threads:
                t.start()
            time.sleep(1.0)
            acked, worst = ingest(running, seconds, spans)
            stop.set()
            for t in threads:
                t.join()
            print(f"{clients} heavy clients: {acked / seconds:7.1f} acks/s, worst {worst:.2f} s")
            by_status: dict[int, list[float]] = collections.defaultdict(list)
            for status, took in seen:
                by_status[status].append(took)
            for status, took in sorted(by_status.items()):
                print(f"  query answers {status}: {len(took)}, worst {max(took):.1f} s")
        finally:
            running.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--spans", type=int, default=1, help="spans per export request")
    args = parser.parse_args()
    run(args.seconds, args.clients, args.spans)


if __name__ == "__main__":
    main()
