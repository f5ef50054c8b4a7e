"""Span-to-notification latency of the alert engine, end to end.

Starts a local webhook sink and a real ``claudescope collector`` subprocess (alert engine on),
then repeatedly POSTs one OTLP span that makes a new series fire (a max_tokens stop on a fresh
feature) and times POST-start -> webhook request received. Prints median / p95 / max.

    python bench/bench_alerts.py [--n 30]
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
    args = parser.parse_args()
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
            for i in range(args.n):
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
    print(f"  max    {latencies[-1] * 1000:7.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
