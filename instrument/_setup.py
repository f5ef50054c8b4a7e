"""``configure()`` and ``flush()``: an OTLP/HTTP pipeline only where the app has none."""

from __future__ import annotations

import atexit
import logging
import sys
from importlib.metadata import entry_points

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
_AUTO_INSTRUMENTATION = "opentelemetry.instrumentation.auto_instrumentation"
_log = logging.getLogger("claudescope.instrument")


def configure(
    endpoint: str = DEFAULT_ENDPOINT,
    service_name: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
    exit_timeout_s: float = 1.0,
) -> trace.TracerProvider:
    """Send spans to a claudescope collector, unless the application already set up tracing.

    When no TracerProvider is registered yet, creates one (resource ``service.name`` from
    ``service_name``, else OTEL_SERVICE_NAME as the OTel SDK reads it) with a
    BatchSpanProcessor exporting OTLP/HTTP protobuf to ``endpoint + "/v1/traces"``, registers
    it globally and returns it; its spans are flushed at interpreter exit, waiting at most
    ``exit_timeout_s`` for the collector; spans it could not deliver are then reported in one
    warning line (logger ``claudescope.instrument``) naming the endpoint and their number.
    When the application already has a provider, returns that one untouched. Export happens
    on a background thread: a collector that is down or slow never delays a Claude call, and
    while the app runs the exporter retries a slow collector for up to ``timeout_s`` per batch.

    Args:
        endpoint: the collector's base URL (OTLP/HTTP port).
        service_name: resource ``service.name``.
        headers: extra export headers, e.g. ``{"Authorization": "Bearer <CLAUDESCOPE_TOKEN>"}``.
        timeout_s: export timeout per batch, retries included.
        exit_timeout_s: how long interpreter exit may wait for the last spans to be sent.
    """
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    from ._exit import EndCounter, ExitFlush, SpanTally, TallyingExporter, quiet_retries

    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    # The SDK's own exit hook waits out the exporter's retries (10 s and more when the
    # collector is down); ExitFlush bounds that wait instead.
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    traces_url = endpoint.rstrip("/") + "/v1/traces"
    tally = SpanTally()
    exporter = TallyingExporter(tally, endpoint=traces_url, headers=headers, timeout=timeout_s)
    provider.add_span_processor(EndCounter(tally))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Another thread may have won the race to register; report the one actually in use.
    in_use = trace.get_tracer_provider()
    if in_use is provider:
        quiet_retries()
        atexit.register(ExitFlush(provider, exporter, tally, traces_url, exit_timeout_s))
    return in_use


def flush(*providers: object, timeout_millis: int = 30_000) -> bool:
    """Force-flush the given providers and the global one; True when all flushed in time."""
    seen: list[object] = []
    ok = True
    for provider in (*providers, trace.get_tracer_provider()):
        if provider is None or any(provider is s for s in seen):
            continue
        seen.append(provider)
        force = getattr(provider, "force_flush", None)
        if callable(force):
            ok = bool(force(timeout_millis)) and ok
    return ok


def warn_if_auto_instrumentation_exports_nothing() -> None:
    """One warning line when ``opentelemetry-instrument`` runs without a distro/configurator.

    ``opentelemetry-instrument`` sets up the SDK (provider, exporter) only through an
    ``opentelemetry_configurator`` entry point, which ``opentelemetry-distro`` provides; it
    configures before it loads instrumentors, so by now a provider would be in place. Without
    one, every span is silently dropped unless the application sets up tracing itself.
    """
    if _AUTO_INSTRUMENTATION not in sys.modules:
        return  # instrument() called by the application, not by opentelemetry-instrument
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return
    if any(True for _ in entry_points(group="opentelemetry_configurator")):
        return
    _log.warning(
        "claudescope: opentelemetry-instrument found no OpenTelemetry configurator (pip install "
        "opentelemetry-distro), so no exporter is set up and spans are dropped unless the app configures "
        "tracing itself; `claudescope run -- python app.py` needs no distro")
