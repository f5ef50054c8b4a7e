"""Demo-only telemetry plumbing: move each call's span onto the simulated day.

The demo runs a day of calls in seconds. Each worker thread announces the simulated start of
the call it is making (:class:`SimulatedClock`); :class:`TimeShiftProcessor` notes it when the
call's span starts, keyed by span id (nothing is added to the span); :class:`TimeShiftExporter`
rewrites start, end and event times on the way out: the span starts at its simulated time and
its real durations are stretched by ``stretch`` (the inverse of the fake API's latency scale),
so latencies look like production ones. Only this demo exporter does this.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from claudescope import semconv as sc

__all__ = ["SimulatedClock", "TimeShiftExporter", "TimeShiftProcessor"]

# Duration-valued attributes stretched along with the span (seconds / milliseconds).
_STRETCHED_SPAN_ATTRS = (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,)
_STRETCHED_EVENT_ATTRS = (sc.CS_ATTEMPT_DURATION_MS, sc.CS_ATTEMPT_RETRY_AFTER)


class SimulatedClock:
    """The simulated start time of the call the current thread is making."""

    def __init__(self) -> None:
        self._local = threading.local()

    @contextlib.contextmanager
    def at(self, when: datetime) -> Iterator[None]:
        """Calls made inside the block are placed at ``when``."""
        previous = getattr(self._local, "when", None)
        self._local.when = when
        try:
            yield
        finally:
            self._local.when = previous

    def current_ns(self) -> int | None:
        """The current thread's simulated time in epoch nanoseconds, or None."""
        when = getattr(self._local, "when", None)
        return int(when.timestamp() * 1e9) if when is not None else None


class TimeShiftProcessor(SpanProcessor):
    """Remembers each span's simulated start (span id -> epoch ns) when the span starts."""

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self._starts: dict[int, int] = {}
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        when = self._clock.current_ns()
        if when is not None and span.context is not None:
            with self._lock:
                self._starts[span.context.span_id] = when

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def pop(self, span_id: int) -> int | None:
        """The simulated start of a span, forgotten once read."""
        with self._lock:
            return self._starts.pop(span_id, None)

    def shutdown(self) -> None:
        with self._lock:
            self._starts.clear()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class TimeShiftExporter(SpanExporter):
    """Wraps an exporter; spans with a simulated start are moved (and stretched) first."""

    def __init__(self, inner: SpanExporter, processor: TimeShiftProcessor, stretch: float = 1.0) -> None:
        self._inner = inner
        self._processor = processor
        self._stretch = stretch
        self.delivered = 0
        self.failed = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export([self._shift(span) for span in spans])
        # Only the BatchSpanProcessor's worker thread calls export: plain counters suffice.
        if result == SpanExportResult.SUCCESS:
            self.delivered += len(spans)
        else:
            self.failed += len(spans)
        return result

    def _shift(self, span: ReadableSpan) -> ReadableSpan:
        sim = self._processor.pop(span.context.span_id) if span.context is not None else None
        if sim is None or span.start_time is None:
            return span
        origin = span.start_time
        # Only chat calls have the fake API's scaled-down latency to undo.
        stretch = self._stretch if (span.attributes or {}).get(sc.GEN_AI_OPERATION_NAME) == "chat" else 1.0

        def moved(ns: int | None) -> int:
            return sim + int(((ns if ns is not None else origin) - origin) * stretch)

        events = [Event(e.name, _stretched(e.attributes, _STRETCHED_EVENT_ATTRS, stretch), moved(e.timestamp)) for e in span.events]
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=_stretched(span.attributes, _STRETCHED_SPAN_ATTRS, stretch),
            events=events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=sim,
            end_time=moved(span.end_time),
            instrumentation_scope=span.instrumentation_scope,
        )

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def _stretched(attrs: Any, names: tuple[str, ...], stretch: float) -> dict[str, Any]:
    out = dict(attrs or {})
    for name in names:
        value = out.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value) * stretch
    return out
