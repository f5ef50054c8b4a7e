"""A bounded flush at interpreter exit, and one line saying what could not be sent.

The OTel SDK's own exit hook (``TracerProvider(shutdown_on_exit=True)``) waits for the
exporter's whole retry loop: 10 s and more when the collector is down or never answers, with a
log line per retry. ``configure()`` turns that hook off and registers :class:`ExitFlush`
instead: the flush runs on a daemon thread that the exit waits for at most ``timeout_s``; when
it is not done by then, the exporter is shut down (which ends its retry wait) and the process
leaves. During normal running nothing changes: the exporter retries as the SDK does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult

_log = logging.getLogger("claudescope.instrument")

# The loggers the OTLP/HTTP exporter and the batch processor write their retry lines to.
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.sdk._shared_internal",
)


class SpanTally:
    """Spans ended in the app against spans the collector acknowledged (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended = 0
        self._delivered = 0

    def ended(self) -> None:
        """Count one finished span."""
        with self._lock:
            self._ended += 1

    def delivered(self, count: int) -> None:
        """Count spans the collector accepted."""
        with self._lock:
            self._delivered += count

    def undelivered(self) -> int:
        """Spans finished but not (yet) acknowledged: queued, in flight, dropped or failed."""
        with self._lock:
            return max(0, self._ended - self._delivered)


class EndCounter(SpanProcessor):
    """Counts every span that ends, beside the batch processor that exports it."""

    def __init__(self, tally: SpanTally) -> None:
        self._tally = tally

    def on_end(self, span: ReadableSpan) -> None:
        self._tally.ended()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class TallyingExporter(OTLPSpanExporter):
    """The stock OTLP/HTTP exporter, counting the spans each successful export delivered."""

    def __init__(self, tally: SpanTally, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._tally = tally

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS:
            self._tally.delivered(len(spans))
        return result


def quiet_retries() -> None:
    """Hide the exporter's per-retry WARNING lines unless the app chose a level itself.

    A batch that finally fails still logs its ERROR; the per-attempt lines are noise.
    """
    for name in EXPORTER_LOGGERS[:2]:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)


class ExitFlush:
    """The atexit hook: flush for at most ``timeout_s``, then say what was not sent."""

    def __init__(self, provider: TracerProvider, exporter: OTLPSpanExporter, tally: SpanTally, endpoint: str,
                 timeout_s: float) -> None:
        self._provider = provider
        self._exporter = exporter
        self._tally = tally
        self._endpoint = endpoint
        self._timeout_s = timeout_s

    def __call__(self) -> None:
        # From here on the outcome is reported by the one line below, not by the SDK's loggers.
        for name in EXPORTER_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        worker = threading.Thread(target=self._flush_and_shutdown, name="claudescope-exit-flush", daemon=True)
        worker.start()
        worker.join(self._timeout_s)
        if worker.is_alive():
            # Ends the exporter's retry back-off now; a request the collector never answers is
            # abandoned with the daemon thread when the interpreter leaves.
            try:
                self._exporter.shutdown()
            except Exception:  # the app's exit must not fail on telemetry
                _log.debug("exporter shutdown failed", exc_info=True)
        self._report()

    def _flush_and_shutdown(self) -> None:
        try:
            self._provider.force_flush()
            self._provider.shutdown()
        except Exception:  # the app's exit must not fail on telemetry
            _log.debug("exit flush failed", exc_info=True)

    def _report(self) -> None:
        lost = self._tally.undelivered()
        if lost:
            spans = "span" if lost == 1 else "spans"
            _log.warning(
                "claudescope: %d %s could not be sent to %s (collector not reachable or not answering "
                "within %.1f s at exit); they are lost", lost, spans, self._endpoint, self._timeout_s)
