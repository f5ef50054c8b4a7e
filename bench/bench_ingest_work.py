"""The CPU work of ingest per span, for comparing two trees without the machine's noise.

bench_ingest.py measures spans/s through a live collector, which on a shared 2-core machine
varies by +-10 % from run to run. This runs the same work in one process, with no HTTP and no
threads of ours: decode (parse, normalise, price, Arrow), then stacking and the durable commit,
on the same pre-encoded 512-span batches, fresh ids on every batch, rollups folded every 10.

  python bench/bench_ingest_work.py                         CPU time per span
  python bench/bench_ingest_work.py --callgrind             instructions per span under valgrind:
                                                            deterministic, so two commits compare
  python bench/bench_ingest_work.py --callgrind --collector the same for a whole `claudescope
                                                            collector` subprocess, fed over HTTP
                                                            on one connection (ingest_workers 0)

With ``--callgrind`` the script runs itself twice under ``valgrind --tool=callgrind`` (with no
work batches and with ``--batches``) and divides the difference by the spans, so start-up and
batch encoding cancel out; it takes a few minutes. The collector's periodic housekeeping (rollup
folds, compaction) runs by the clock, so its counts repeat to within a few tenths of a per cent. It measures whichever claudescope the running
interpreter imports, so for the previous commit run this same file with that checkout's own
environment (a ``git worktree`` of it, ``pip install --no-deps -e`` into a venv made with
``--system-site-packages``). The batches come from that checkout's ``bench/bench_ingest.py``;
any commit since stacking was added has what this drives.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_SPANS_PER_BATCH = 512
_FOLD_EVERY = 10
_CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=16)
    ap.add_argument("--decode-only", action="store_true", help="stop after decoding (no stacking, no commit)")
    ap.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead of timing")
    ap.add_argument("--collector", action="store_true", help="with --callgrind: a whole collector subprocess over HTTP")
    args = ap.parse_args()
    if args.callgrind:
        _callgrind(args)
        return
    decode_s, commit_s = _run(args.batches, args.decode_only)
    spans = max(args.batches * _SPANS_PER_BATCH, 1)
    print(f"{_measured()}: decode {decode_s / spans * 1e6:.1f} us/span, stacking + commit {commit_s / spans * 1e6:.1f} us/span "
          f"(process CPU over {spans:,} spans)")


def _measured() -> str:
    """Where the claudescope being measured lives."""
    import claudescope.collector

    return str(Path(claudescope.collector.__file__).resolve().parent.parent)


def _run(batches: int, decode_only: bool) -> tuple[float, float]:
    """(decode, stacking + commit) process CPU seconds for ``batches`` fresh batches."""
    import pyarrow as pa

    from claudescope.collector.decode import decode
    from claudescope.collector.normalize import Normalizer
    from claudescope.collector.stacking import StackIndex
    from claudescope.collector.store import Store
    from claudescope.config import Limits, PricingConfig
    from claudescope.pricing import PriceTable

    warm_up, work = _bodies(batches)
    normalizer = Normalizer(PriceTable.load(PricingConfig()), Limits())
    for body in warm_up:
        decode(normalizer, body, "protobuf", None, 64 << 20)  # the per-shape caches
    keys_schema = pa.schema([("trace_id", pa.string()), ("span_id", pa.string())])
    decode_s = commit_s = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "claudescope.duckdb")
        stack = StackIndex()
        for i, body in enumerate(work):
            started = time.process_time()
            table = decode(normalizer, body, "protobuf", None, 64 << 20).table
            decode_s += time.process_time() - started
            if decode_only:
                continue
            started = time.process_time()
            table, superseded = stack.resolve(table)
            keys = pa.table({"trace_id": [k[0] for k in superseded], "span_id": [k[1] for k in superseded]}, schema=keys_schema)
            store.insert_spans(table, keys, fold=i % _FOLD_EVERY == _FOLD_EVERY - 1)
            commit_s += time.process_time() - started
        store.close()
    return decode_s, commit_s


def _bodies(batches: int) -> tuple[list[bytes], list[bytes]]:
    """(4 warm-up bodies, ``batches`` bodies with fresh ids), 512 spans each."""
    # They come from the measured checkout's own bench_ingest.py (and its test fixtures), which
    # import only what that checkout has.
    sys.path.insert(0, _measured())
    from bench.bench_ingest import fresh_copy, make_batches

    bodies = [fresh_copy(b, i) for i, b in enumerate(make_batches(8, _SPANS_PER_BATCH))]
    return bodies[:4], [fresh_copy(bodies[i % len(bodies)], 100 + i) for i in range(batches)]


def _callgrind(args: argparse.Namespace) -> None:
    """Instructions per span: (run with ``--batches`` - run with none) / spans."""
    if args.collector:
        counts = [_collector_instructions(n) for n in (0, args.batches)]
        what = "the whole collector (HTTP, decode, stacking, commits)"
    else:
        counts = [_instructions(n, args.decode_only) for n in (0, args.batches)]
        what = "decode" if args.decode_only else "decode + stacking + commit"
    per_span = (counts[1] - counts[0]) / (args.batches * _SPANS_PER_BATCH)
    print(f"{_measured()}: {what} {per_span / 1e3:,.1f}k instructions per span "
          f"({counts[1] - counts[0]:,} over {args.batches * _SPANS_PER_BATCH:,} spans)")


def _instructions(batches: int, decode_only: bool) -> int:
    argv = [*_CALLGRIND, sys.executable, __file__, "--batches", str(batches), *(["--decode-only"] if decode_only else [])]
    # A fixed hash seed: set and dict layouts, and so the instructions, repeat from run to run.
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, check=False)
    return _collected(done.stderr, done.returncode == 0)


def _collector_instructions(batches: int) -> int:
    """Instructions of a collector subprocess, from start to a SIGTERM stop, sent ``batches``."""
    _, work = _bodies(batches)
    from tests.fixtures_collector import free_port  # the measured checkout's, as _bodies imports it

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")}
    env.update(CLAUDESCOPE_INGEST_WORKERS="0", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        argv = [*_CALLGRIND, sys.executable, "-m", "claudescope", "collector", "--data", f"{tmp}/data", "--port", str(port),
                "--grpc-port", "0", "--no-alerts"]
        proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _send(port, work, proc)
            proc.send_signal(signal.SIGTERM)
            stderr = proc.communicate(timeout=600)[1]
        finally:
            proc.kill()
    return _collected(stderr, True)


def _send(port: int, bodies: list[bytes], proc: subprocess.Popen[str]) -> None:
    """Wait for the collector under valgrind to answer, then POST ``bodies`` one by one."""
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                break
        except OSError:
            time.sleep(1)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    for body in bodies:
        conn.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"the collector answered {response.status}")
    conn.close()


def _collected(stderr: str, ok: bool) -> int:
    found = re.search(r"Collected : (\d+)", stderr)
    if not ok or found is None:
        sys.exit(f"callgrind run failed: {stderr.strip()[-300:]}")
    return int(found.group(1))


if __name__ == "__main__":
    main()
