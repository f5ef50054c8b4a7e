"""One OTLP traces body -> priced call rows as Arrow, in worker processes when configured.

Decoding and normalising is pure-Python CPU work (protobuf attribute reads, pricing) that
holds the GIL; in the collector's own process it would serialise with the writer thread's
Python steps between DuckDB calls. ``IngestPool`` runs it in worker processes instead, so
one collector uses every core: the event loop only moves bytes and the writer only commits.
Workers return Arrow IPC (one buffer copy), plus the counts the collector's metrics need.

``ingest_workers = 0`` runs the same function in-process (tests, tiny deployments).
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from claudescope.collector import otlp, otlp_logs
from claudescope.collector.normalize import Normalizer
from claudescope.collector.columns import SPANS_ARROW_SCHEMA
from claudescope.config import ClaudeCodeConfig, Limits, PricingConfig
from claudescope.pricing import PriceTable

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1
_MAX_AUTO_WORKERS = 8


class WorkersUnavailable(RuntimeError):
    """A worker process died; the pool is restarting (answer 503 with Retry-After)."""


@dataclass(slots=True)
class Decoded:
    """The outcome of one export request, ready for the writer and the metrics."""

    table: pa.Table | None
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    unpriced: int = 0
    truncated_values: int = 0
    dropped_attributes: int = 0

    def rejection_message(self) -> str:
        """English summary for OTLP partial_success (empty when nothing was rejected)."""
        return "; ".join(f"{n} span(s) rejected: {reason}" for reason, n in sorted(self.rejected.items()))


TRACES, LOGS = "traces", "logs"


def decode(
    normalizer: Normalizer, body: bytes, kind: str, encoding: str | None, max_bytes: int, signal: str = TRACES,
) -> Decoded:
    """Decompress, parse and normalise one traces (or logs) body (raises ``otlp.BadRequest``)."""
    if signal == LOGS:
        logs = otlp_logs.decode_logs(otlp.decompress(body, encoding, max_bytes), kind)
        return _decoded(normalizer.normalize_logs(logs), otlp_logs.count_records(logs))
    message = otlp.decode_traces_lazy(otlp.decompress(body, encoding, max_bytes), kind)
    batch = normalizer.normalize(message)
    return _decoded(batch, sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans))


def _decoded(batch: Any, received: int) -> Decoded:
    return Decoded(
        table=rows_to_arrow(batch.rows) if batch.rows else None,
        received=received,
        rejected=batch.rejected, ignored=batch.ignored, unpriced=batch.unpriced,
        truncated_values=batch.truncated_values, dropped_attributes=batch.dropped_attributes,
    )


def rows_to_arrow(rows: list[tuple[Any, ...]]) -> pa.Table:
    """Normaliser rows (SPANS_ARROW_SCHEMA order) as an Arrow table."""
    if not rows:
        return SPANS_ARROW_SCHEMA.empty_table()
    columns = zip(*rows, strict=True)
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, SPANS_ARROW_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=SPANS_ARROW_SCHEMA)


def resolve_workers(configured: int, cores: int | None = None) -> int:
    """-1 (auto): one worker per core but one (the collector's own process keeps a core for its
    commits), at most 8; none on 1-2 cores. There a worker still buys about a third more
    throughput, but its ~150 MB would break the 500 MB target on the small machines that have
    so few cores (bench/bench_ingest.py --workers; docs/configuration.md gives the numbers)."""
    if configured >= 0:
        return configured
    cores = cores or os.cpu_count() or 1
    return 0 if cores <= 2 else min(_MAX_AUTO_WORKERS, cores - 1)


class IngestPool:
    """Runs :func:`decode` in ``workers`` processes (or in-process when 0)."""

    def __init__(
        self, pricing: PricingConfig, limits: Limits, workers: int, claude_code: ClaudeCodeConfig = ClaudeCodeConfig(),
    ) -> None:
        self._pricing = pricing
        self._limits = limits
        self._claude_code = claude_code
        self.workers = workers
        self._local = Normalizer(PriceTable.load(pricing), limits, claude_code) if workers == 0 else None
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> None:
        """Start the worker processes now (instead of on the first request) and wait for them."""
        if self.workers:
            for future in [self._pool().submit(_ping) for _ in range(self.workers)]:
                future.result(timeout=120)

    def run(self, body: bytes, kind: str, encoding: str | None, signal: str = TRACES) -> Decoded:
        """Decode one body; blocks the calling thread (gRPC handlers)."""
        if self._local is not None:
            return decode(self._local, body, kind, encoding, self._limits.max_body_bytes, signal)
        pool, future = self._submit(body, kind, encoding, signal)
        try:
            packed = future.result()
        except BrokenProcessPool:
            raise self._broken(pool) from None
        return _unpack(packed)

    async def arun(self, body: bytes, kind: str, encoding: str | None, signal: str = TRACES) -> Decoded:
        """Decode one body without blocking the event loop."""
        if self._local is not None:
            return decode(self._local, body, kind, encoding, self._limits.max_body_bytes, signal)
        pool, future = self._submit(body, kind, encoding, signal)
        try:
            packed = await asyncio.wrap_future(future)
        except BrokenProcessPool:
            raise self._broken(pool) from None
        return _unpack(packed)

    def use_pricing(self, pricing: PricingConfig) -> None:
        """Price every body decoded from now on with ``pricing`` (after a live reprice).

        Workers load their price table once, so the current ones are retired: bodies they
        already hold finish with the old table, new bodies go to fresh workers.
        """
        local = Normalizer(PriceTable.load(pricing), self._limits, self._claude_code) if self.workers == 0 else None
        with self._lock:
            self._pricing = pricing
            self._local = local
            retired, self._executor = self._executor, None
        if retired is not None:
            retired.shutdown(wait=False)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, body: bytes, kind: str, encoding: str | None, signal: str) -> tuple[ProcessPoolExecutor, Future[Any]]:
        for _ in range(3):
            pool = self._pool()
            try:
                return pool, pool.submit(_work, body, kind, encoding, signal)
            except BrokenProcessPool:
                raise self._broken(pool) from None
            except RuntimeError:  # retired by use_pricing() between _pool() and submit(): take the new one
                continue
        raise WorkersUnavailable("ingest workers are restarting; retry shortly")

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise WorkersUnavailable("collector is shutting down")
            if self._executor is None:
                # spawn, not fork: the collector has threads and an open DuckDB file by now.
                self._executor = ProcessPoolExecutor(
                    self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_init_worker, initargs=(self._pricing, self._limits, self._claude_code),
                )
            return self._executor

    def _broken(self, broken: ProcessPoolExecutor) -> WorkersUnavailable:
        """Drop a broken executor (the next request starts fresh workers); the error to raise."""
        with self._lock:
            if self._executor is broken:
                self._executor = None
        log.error("an ingest worker process died; starting new workers")
        broken.shutdown(wait=False, cancel_futures=True)
        return WorkersUnavailable("an ingest worker died; retry shortly")


def _unpack(packed: tuple[bytes | None, tuple[Any, ...]]) -> Decoded:
    ipc, (received, rejected, ignored, unpriced, truncated, dropped) = packed
    table = pa.ipc.open_stream(ipc).read_all() if ipc is not None else None
    return Decoded(table, received, Counter(rejected), ignored, unpriced, truncated, dropped)


# --- worker side ---------------------------------------------------------------------
# Per-process state of a pool worker, set once by its initializer: ProcessPoolExecutor's way
# of giving workers what they need without pickling it into every task.
_WORKER: dict[str, Any] = {}


def _init_worker(pricing: PricingConfig, limits: Limits, claude_code: ClaudeCodeConfig) -> None:
    if sys.platform == "linux":
        try:  # a worker must not outlive a collector that was SIGKILLed
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
    # Ctrl-C and a process-group SIGTERM (`claudescope up` stopping the collector) reach the
    # collector too, which drains the bodies in flight and then stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _WORKER["normalizer"] = Normalizer(PriceTable.load(pricing), limits, claude_code)
    _WORKER["max_bytes"] = limits.max_body_bytes


def _ping() -> int:
    return os.getpid()


def _work(body: bytes, kind: str, encoding: str | None, signal: str) -> tuple[bytes | None, tuple[Any, ...]]:
    decoded = decode(_WORKER["normalizer"], body, kind, encoding, _WORKER["max_bytes"], signal)
    ipc = None
    if decoded.table is not None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, decoded.table.schema) as writer:
            writer.write_table(decoded.table)
        ipc = sink.getvalue().to_pybytes()
    stats = (decoded.received, dict(decoded.rejected), decoded.ignored, decoded.unpriced,
             decoded.truncated_values, decoded.dropped_attributes)
    return ipc, stats
