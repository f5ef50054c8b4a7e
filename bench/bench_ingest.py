"""Sustained durable ingest: pre-encoded OTLP/protobuf batches of 512 claudescope call spans,
POSTed over 4 keep-alive connections to a `claudescope collector` subprocess.

Prints spans/s (every span acknowledged with 200 = durable), p50/p99 request latency and the
collector's CPU and peak RSS (VmHWM), its ingest worker processes included.
Usage: python bench/bench_ingest.py [--seconds 20] [--conns 4] [--workers -1]
"""

from __future__ import annotations

import argparse
import os
import http.client
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from claudescope import semconv as sc  # noqa: E402
from tests.fixtures_collector import call_span, encode_spans, start_collector  # noqa: E402

# Every trace id starts with these bytes and every response and request id with their hex,
# followed by a 3-byte send number: a sender rewrites the number in the pre-encoded body (two
# bytes.replace calls) so each send carries fresh span keys and ids, like a real exporter's.
_ID_MARK = bytes.fromhex("9c3e71d2a50f")
_BLANK_SEND = bytes(3)
MODELS = ["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4-5-20250929"]
FEATURES = ["support_chat", "summarize", "search", "agent", "classify"]


def make_batches(n_batches: int, size: int, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    batches = []
    for _ in range(n_batches):
        spans = [
            call_span(
                trace_id=(_ID_MARK + _BLANK_SEND).hex() + rng.randbytes(7).hex(),
                response_id="msg_" + (_ID_MARK + _BLANK_SEND).hex() + rng.randbytes(6).hex(),
                model=rng.choice(MODELS), input_tokens=rng.randint(10, 5000), output_tokens=rng.randint(1, 2000),
                cache_read_tokens=rng.choice([0, 0, 2048, 8000]), cache_write_5m_tokens=rng.choice([0, 0, 1024]),
                feature=rng.choice(FEATURES), user_id=f"u-{rng.randint(1, 500)}", prompt_version="v2",
                stop_reason=rng.choice(["end_turn", "end_turn", "max_tokens", "tool_use"]),
                duration_ms=rng.uniform(200, 9000), stream=rng.random() < 0.5,
                attributes={sc.SERVER_ADDRESS: "api.anthropic.com", sc.CS_RATELIMIT_PREFIX + "tokens.remaining": rng.randint(0, 10**6),
                            sc.ANTHROPIC_REQUEST_ID: "req_" + (_ID_MARK + _BLANK_SEND).hex() + rng.randbytes(6).hex()},
            )
            for _ in range(size)
        ]
        batches.append(encode_spans(spans))
    return batches


def fresh_copy(body: bytes, send: int) -> bytes:
    """``body`` (from make_batches) with send number ``send`` in its trace, response and request ids."""
    number = send.to_bytes(3, "big")
    body = body.replace(_ID_MARK + _BLANK_SEND, _ID_MARK + number)
    return body.replace((_ID_MARK + _BLANK_SEND).hex().encode(), (_ID_MARK + number).hex().encode())


def worker(
    port: int, batches: list[bytes], deadline: float, counts: list[int], lat: list[float], size: int, errors: list[int],
    first_send: int = 0,
) -> None:
    """POST fresh copies of ``batches`` in turn until ``deadline``; send numbers from ``first_send``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    i = 0
    while time.monotonic() < deadline:
        body = fresh_copy(batches[i % len(batches)], first_send + i)
        i += 1
        t0 = time.perf_counter()
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        resp.read()
        lat.append(time.perf_counter() - t0)
        if resp.status == 200:
            counts.append(size)
        else:
            errors.append(resp.status)
            time.sleep(0.05)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ProcessTree:
    """A server process and its children (claudescope's ingest workers, multiprocessing's
    tracker) as they are now, measured together."""

    def __init__(self, pid: int) -> None:
        self.pids = [pid]
        for task in Path(f"/proc/{pid}/task").iterdir():
            self.pids += [int(c) for c in (task / "children").read_text().split()]

    def cpu_seconds(self) -> float:
        """CPU time used so far by every process of the tree."""
        return sum(map(cpu_seconds, self.pids))

    def peak_rss_mb(self) -> list[float]:
        """Peak RSS of each process, the server first."""
        return [peak_rss_mb(p) for p in self.pids]


def _commit_metrics(url: str) -> dict[str, float]:
    """The collector's own commit counters from /metrics."""
    with urllib.request.urlopen(url + "/metrics", timeout=30) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=-1, help="[server] ingest_workers: -1 auto, 0 in-process")
    ap.add_argument("--commit-interval-ms", type=int, default=None, help="[limits] commit_interval_ms")
    args = ap.parse_args()
    print(f"encoding batches of {args.size} spans ...", flush=True)
    batches = make_batches(64, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        toml = None if args.commit_interval_ms is None else f"[limits]\ncommit_interval_ms = {args.commit_interval_ms}\n"
        running = start_collector(Path(tmp) / "data", config_toml=toml, env={"CLAUDESCOPE_INGEST_WORKERS": str(args.workers)})
        try:
            port = running.port
            counts: list[int] = []
            lat: list[float] = []
            errors: list[int] = []
            warm = time.monotonic() + 2
            threads = [threading.Thread(target=worker, args=(port, batches[i::args.conns], warm, [], [], args.size, [], i * 1_000_000 + 900_000)) for i in range(args.conns)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            procs = ProcessTree(running.proc.pid)
            cpu_before = procs.cpu_seconds()
            start = time.monotonic()
            deadline = start + args.seconds
            threads = [threading.Thread(target=worker, args=(port, batches[i::args.conns], deadline, counts, lat, args.size, errors, i * 1_000_000)) for i in range(args.conns)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - start
            cpu = procs.cpu_seconds() - cpu_before
            stored = running.query("SELECT count(*) AS n FROM call_spans")[0]["n"]
            metrics = _commit_metrics(running.url)
            rss = procs.peak_rss_mb()
        finally:
            running.stop()
    lat.sort()
    print(f"acknowledged spans/s : {sum(counts) / elapsed:,.0f}  ({sum(counts):,} spans in {elapsed:.1f}s, {args.conns} connections)")
    print(f"distinct rows stored : {stored:,}")
    print(f"request latency      : p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms")
    print(f"non-200 answers      : {len(errors)} {sorted(set(errors))}")
    commits = metrics.get("claudescope_commits_total", 0.0)
    if commits:
        rows = metrics.get("claudescope_calls_stored_total", 0.0)
        print(f"group commits        : {commits:,.0f}, {rows / commits:,.0f} rows and "
              f"{metrics.get('claudescope_commit_seconds_sum', 0.0) / commits * 1000:.1f} ms each on average")
    print(f"collector CPU        : {cpu / elapsed:.2f} cores, {cpu / max(sum(counts), 1) * 1e6:.0f} us per span "
          f"(all {len(procs.pids)} processes), load average {os.getloadavg()[0]:.2f}")
    print(f"collector peak RSS   : {sum(rss):.0f} MB in total (collector {rss[0]:.0f} MB, "
          f"children {' + '.join(f'{r:.0f}' for r in rss[1:]) or 'none'} MB)")


if __name__ == "__main__":
    main()
