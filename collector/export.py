"""One export path for every transport: decode, make durable, answer.

OTLP/HTTP (``app.py``) and OTLP/gRPC (``grpc_server.py``) both hand the raw body here and turn
the :class:`Outcome` into their own answer; which failures are retryable, how they are counted
and what a partial success says are decided once, here. The HTTP path awaits (it runs on the
event loop); gRPC handlers run on a thread pool and block: the two drivers differ only there.
"""

from __future__ import annotations

import asyncio
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from claudescope.collector import otlp, otlp_logs
from claudescope.collector.decode import Decoded, WorkersUnavailable
from claudescope.collector.writer import QueueFull, WriterStopped

if TYPE_CHECKING:
    from claudescope.collector.app import Collector

COMMIT_WAIT_S = 60.0  # a blocking caller gives up (503, retryable) after this long


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one export request came to, in HTTP terms (gRPC maps ``status`` to its codes)."""

    status: int  # 200, or 400 / 413 / 415 (bad body), 429 / 503 (retry later)
    message: str = ""
    response: Any = None  # the Export*ServiceResponse (with partial_success) when status == 200

    @property
    def retryable(self) -> bool:
        """429 and 503: the sender should resend the same body later (``Retry-After``)."""
        return self.status in (429, 503)


async def export_async(c: Collector, body: bytes, kind: str, encoding: str | None, signal: str) -> Outcome:
    """Decode and commit one body without blocking the event loop (OTLP/HTTP)."""
    try:
        batch = c.count(await c.ingest.arun(body, kind, encoding, signal))
        if batch.table is not None:
            await asyncio.wrap_future(c.writer.submit(batch.table))
    except _FAILURES as exc:
        return refused(c, exc)
    return _accepted(c, batch, signal, transport="")


def export_blocking(c: Collector, body: bytes, kind: str, encoding: str | None, signal: str) -> Outcome:
    """Decode and commit one body on the calling thread (OTLP/gRPC handlers)."""
    try:
        batch = c.count(c.ingest.run(body, kind, encoding, signal))
        if batch.table is not None:
            c.writer.submit(batch.table).result(COMMIT_WAIT_S)
    except (*_FAILURES, futures.TimeoutError) as exc:
        return refused(c, exc)
    return _accepted(c, batch, signal, transport="grpc_")


def refused(c: Collector, exc: BaseException) -> Outcome:
    """The answer to a failed export, counted in the ingest metrics."""
    if isinstance(exc, otlp.BadRequest):
        c.metrics.count_request(f"http_{exc.status}")
        return Outcome(exc.status, exc.message)
    if isinstance(exc, QueueFull):
        c.metrics.count_request("throttled")
        return Outcome(429, str(exc))
    c.metrics.count_request("unavailable")
    return Outcome(503, str(exc) or "commit timed out")


def _accepted(c: Collector, batch: Decoded, signal: str, *, transport: str) -> Outcome:
    c.metrics.count_request(transport + ("partial" if batch.rejected else "ok"))
    return Outcome(200, response=otlp_logs.export_response(batch.rejected, batch.rejection_message(), signal))


_FAILURES = (otlp.BadRequest, WorkersUnavailable, QueueFull, WriterStopped)
