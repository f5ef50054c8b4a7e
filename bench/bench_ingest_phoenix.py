"""Durable OTLP ingest, claudescope vs Arize Phoenix, with the SAME pre-encoded payloads in one run.

Builds N distinct OTLP/protobuf ExportTraceServiceRequest batches of 512 claudescope GenAI call
spans (bench_ingest.make_batches), then POSTs every batch exactly once over 4 keep-alive
connections to

1. a ``claudescope collector`` subprocess (it answers 200 only after the DuckDB commit, so
   "acknowledged" == "durable"), then
2. a ``phoenix serve`` subprocess (SQLite in a temp PHOENIX_WORKING_DIR). Phoenix answers 200
   as soon as the request is parsed and queued (the insert runs in a background task / bulk
   inserter), and 503 while its span queue is full; a 503'd batch is resent until accepted.
   Because acknowledgement is not durability there, the bench also polls Phoenix's SQLite
   ``spans`` table (read-only) until every span is there and reports that time as "durable".

Prints acknowledged and durable spans/s for each, the claudescope/Phoenix ratios (durable vs
durable; claudescope durable vs Phoenix merely acknowledged; spans per server CPU-second, which
is less sensitive to other load on the machine), request latency, peak RSS and CPU time of each
server and the 1-minute load average sampled during each phase.

Phoenix is NOT a claudescope dependency and must not be installed into the main environment
(it pins other versions). Set it up once in a separate venv:

    python -m venv /tmp/phoenix-venv
    /tmp/phoenix-venv/bin/pip install arize-phoenix        # several minutes, ~150 packages

then run (from the repo root, in the main environment):

    python bench/bench_ingest_phoenix.py [--phoenix-venv /tmp/phoenix-venv] [--spans 40960]

Phoenix is started on free loopback ports (PHOENIX_HOST=127.0.0.1, PHOENIX_PORT,
PHOENIX_GRPC_PORT) with PHOENIX_TELEMETRY_ENABLED=false, PHOENIX_ALLOW_EXTERNAL_RESOURCES=false
(else it downloads a WASM sandbox binary at startup) and PHOENIX_DISABLE_AGENT_ASSISTANT=true
(else it connects to a hosted docs MCP server); nothing here talks to the internet. The default
span count is bounded because Phoenix stores only ~100 spans/s on a 2-core box (arize-phoenix
20.26.1: --spans 40960 takes ~7 minutes); say which --spans you used when you quote numbers. Not collected by pytest (bench/ is outside testpaths).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(_BENCH.parent))
sys.path.insert(0, str(_BENCH))

from bench_ingest import ProcessTree, make_batches  # noqa: E402
from claudescope.fakeapi.server import free_port  # noqa: E402
from tests.fixtures_collector import start_collector  # noqa: E402

_RETRY_STATUSES = {429, 503}


@dataclass
class SendResult:
    """Outcome of sending every batch once (retrying 429/503 until accepted)."""

    elapsed: float
    latencies: list[float] = field(default_factory=list)
    retries: int = 0
    failures: list[int] = field(default_factory=list)


def _post_until_accepted(conn: http.client.HTTPConnection, body: bytes, result: SendResult, lock: threading.Lock) -> None:
    while True:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        resp.read()
        took = time.perf_counter() - t0
        with lock:
            result.latencies.append(took)
            if resp.status == 200:
                return
            if resp.status not in _RETRY_STATUSES:
                result.failures.append(resp.status)
                return
            result.retries += 1
        time.sleep(0.02)  # back off briefly, as an OTLP exporter would on 503


def send_all(port: int, batches: list[bytes], conns: int) -> SendResult:
    """POST each batch once over ``conns`` keep-alive connections; time until all accepted."""
    result = SendResult(elapsed=0.0)
    lock = threading.Lock()
    counter = itertools.count()

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while (i := next(counter)) < len(batches):
            _post_until_accepted(conn, batches[i], result, lock)
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed = time.monotonic() - start
    return result


def phoenix_span_count(db: Path) -> int:
    """Rows in Phoenix's ``spans`` table, read-only (0 before the table exists)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def wait_for_count(db: Path, expected: int, timeout: float) -> tuple[float, int]:
    """Poll until ``expected`` spans are stored; (monotonic time reached, final count)."""
    deadline = time.monotonic() + timeout
    count = phoenix_span_count(db)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.25)  # coarse on purpose: the poll must not compete with Phoenix's writer
        count = phoenix_span_count(db)
    return time.monotonic(), count


def start_phoenix(venv: Path, workdir: Path, timeout: float = 180.0) -> tuple[subprocess.Popen[bytes], int]:
    """``phoenix serve`` on free loopback ports with a fresh working dir; waits for /healthz."""
    exe = venv / "bin" / "phoenix"
    if not exe.exists():
        raise SystemExit(f"{exe} not found: set up the Phoenix venv as described in this script's docstring")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    env.update(
        PHOENIX_WORKING_DIR=str(workdir), PHOENIX_HOST="127.0.0.1", PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(free_port()), PHOENIX_TELEMETRY_ENABLED="false",
        PHOENIX_LOG_MIGRATIONS="false", PHOENIX_ALLOW_EXTERNAL_RESOURCES="false",
        PHOENIX_DISABLE_AGENT_ASSISTANT="true",  # else it connects to a hosted docs MCP server
    )
    log = open(workdir / "phoenix.log", "ab")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen([str(exe), "serve"], cwd=str(workdir), env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"phoenix exited with {proc.returncode}; see {workdir / 'phoenix.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise TimeoutError(f"phoenix not healthy in {timeout}s; see {workdir / 'phoenix.log'}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class LoadSampler:
    """Samples the 1-minute load average every second while a phase runs."""

    def __init__(self) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        return f"1-min load average {self.samples[0]:.2f} at start, max {max(self.samples):.2f}, {self.samples[-1]:.2f} at end"


def _latency(r: SendResult) -> str:
    lat = sorted(r.latencies)
    return f"p50 {statistics.median(lat) * 1000:.1f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms"


def run_claudescope(tmp: Path, warm: list[bytes], batches: list[bytes], conns: int, spans: int) -> dict[str, float]:
    running = start_collector(tmp / "cs-data")
    try:
        send_all(running.port, warm, conns)
        procs = ProcessTree(running.proc.pid)
        cpu0 = procs.cpu_seconds()
        with LoadSampler() as load:
            r = send_all(running.port, batches, conns)
        cpu = procs.cpu_seconds() - cpu0
        stored = running.query("SELECT count(*) AS n FROM call_spans")[0]["n"]
        rss = sum(procs.peak_rss_mb())
    finally:
        running.stop()
    rate = spans / r.elapsed
    print(f"  acknowledged = durable: {rate:,.0f} spans/s  ({spans:,} spans in {r.elapsed:.2f}s)")
    print(f"  rows stored (incl. {len(warm)} warm-up batches): {stored:,}")
    print(f"  request latency: {_latency(r)}; 503/429 retries: {r.retries}; other failures: {r.failures}")
    print(f"  collector peak RSS (with its workers): {rss:.0f} MB; CPU used: {cpu:.1f} s ({spans / max(cpu, 1e-9):,.0f} spans per CPU-second)")
    print(f"  {load.summary()}", flush=True)
    return {"ack": rate, "durable": rate, "per_cpu": spans / max(cpu, 1e-9)}


def run_phoenix(tmp: Path, venv: Path, warm: list[bytes], batches: list[bytes], conns: int, spans: int, size: int) -> dict[str, float]:
    workdir = tmp / "phoenix"
    workdir.mkdir()
    db = workdir / "phoenix.db"
    proc, port = start_phoenix(venv, workdir)
    try:
        warm_spans = len(warm) * size
        send_all(port, warm, conns)
        _, got = wait_for_count(db, warm_spans, 120)
        if got < warm_spans:
            raise RuntimeError(f"phoenix stored only {got} of {warm_spans} warm-up spans")
        procs = ProcessTree(proc.pid)
        cpu0 = procs.cpu_seconds()
        with LoadSampler() as load:
            start = time.monotonic()
            r = send_all(port, batches, conns)
            done_at, stored = wait_for_count(db, warm_spans + spans, 1800)
        cpu = procs.cpu_seconds() - cpu0
        rss = sum(procs.peak_rss_mb())
    finally:
        _stop(proc)
    durable_s = done_at - start
    if stored < warm_spans + spans:
        print(f"  WARNING: only {stored - warm_spans:,} of {spans:,} spans stored before the poll gave up")
    ack, durable = spans / r.elapsed, (stored - warm_spans) / durable_s
    print(f"  acknowledged: {ack:,.0f} spans/s  ({spans:,} spans in {r.elapsed:.2f}s)")
    print(f"  durable (all rows in SQLite): {durable:,.0f} spans/s  ({stored - warm_spans:,} spans in {durable_s:.2f}s)")
    print(f"  request latency: {_latency(r)}; 503/429 retries: {r.retries}; other failures: {r.failures}")
    print(f"  phoenix peak RSS: {rss:.0f} MB; CPU used: {cpu:.1f} s ({spans / max(cpu, 1e-9):,.0f} spans per CPU-second)")
    print(f"  {load.summary()}", flush=True)
    return {"ack": ack, "durable": durable, "per_cpu": spans / max(cpu, 1e-9)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phoenix-venv", type=Path, default=Path("/tmp/phoenix-venv"))
    ap.add_argument("--spans", type=int, default=40960, help="spans sent to EACH server (rounded up to whole batches)")
    ap.add_argument("--size", type=int, default=512, help="spans per OTLP request")
    ap.add_argument("--conns", type=int, default=4)
    args = ap.parse_args()
    n_batches = -(-args.spans // args.size)
    spans = n_batches * args.size
    print(f"encoding {n_batches} + 4 warm-up batches of {args.size} spans ...", flush=True)
    batches = make_batches(n_batches + 4, args.size)
    warm, batches = batches[:4], batches[4:]
    print(f"payload: {spans:,} spans, {sum(map(len, batches)) / 1e6:.1f} MB protobuf, {args.conns} connections; cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-phoenix-") as tmp_name:
        tmp = Path(tmp_name)
        print("claudescope collector:", flush=True)
        cs = run_claudescope(tmp, warm, batches, args.conns, spans)
        print("Arize Phoenix (phoenix serve, SQLite):", flush=True)
        px = run_phoenix(tmp, args.phoenix_venv, warm, batches, args.conns, spans, args.size)
    print(f"ratio claudescope/Phoenix: {cs['durable'] / px['durable']:.1f}x durable-vs-durable, "
          f"{cs['ack'] / px['ack']:.1f}x durable-vs-Phoenix-acknowledged, "
          f"{cs['per_cpu'] / px['per_cpu']:.1f}x spans per server CPU-second")


if __name__ == "__main__":
    main()
