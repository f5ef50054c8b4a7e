"""kill -9 under load from a retrying client: every acknowledged span is stored exactly once."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import call_span, encode_spans, start_collector

BATCH = 50


def _client(url: str, batches: list[tuple[list[tuple[str, str]], bytes]], acked: set[tuple[str, str]], stop: threading.Event) -> None:
    """Sends each batch until it gets a 200, like an OTLP exporter with retries."""
    with httpx.Client(timeout=5) as http:
        for keys, body in batches:
            while not stop.is_set():
                try:
                    r = http.post(url + "/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"})
                except httpx.HTTPError:
                    time.sleep(0.05)
                    continue
                if r.status_code == 200:
                    acked.update(keys)
                    break
                time.sleep(0.05)


def test_kill_9_loses_no_acknowledged_span(tmp_path: Path) -> None:
    rng = random.Random(7)
    data, port = tmp_path / "data", free_port()
    batches = []
    for _ in range(120):
        spans = [call_span() for _ in range(BATCH)]
        batches.append(([(s["trace_id"], s["span_id"]) for s in spans], encode_spans(spans)))
    acked: set[tuple[str, str]] = set()
    stop = threading.Event()
    running = start_collector(data, port=port)
    url = running.url
    clients = [threading.Thread(target=_client, args=(url, batches[i::3], acked, stop)) for i in range(3)]
    for t in clients:
        t.start()
    try:
        for _ in range(4):
            time.sleep(rng.uniform(0.3, 1.0))
            running.kill()
            running = start_collector(data, port=port)
        for t in clients:
            t.join(120)
        assert not any(t.is_alive() for t in clients)
    finally:
        stop.set()
    try:
        stored = running.query("SELECT trace_id, span_id FROM call_spans")
        pairs = [(r["trace_id"], r["span_id"]) for r in stored]
        assert len(pairs) == len(set(pairs)), "a span was stored twice"
        missing = acked - set(pairs)
        assert not missing, f"{len(missing)} acknowledged spans lost"
        assert len(acked) == 120 * BATCH
        assert running.query("SELECT count(*) AS n FROM calls")[0]["n"] == 120 * BATCH
    finally:
        running.stop()
