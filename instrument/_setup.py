"""``configure()`` and ``flush()``: an OTLP/HTTP pipeline only where the app has none."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

DEFAULT_ENDPOINT = "http://127.0.0.1:4318"


def configure(
    endpoint: str = DEFAULT_ENDPOINT,
    service_name: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    timeout_s: float = 10.0,
) -> trace.TracerProvider:
    """Send spans to a claudescope collector, unless the application already set up tracing.

    When no TracerProvider is registered yet, creates one (resource ``service.name`` from
    ``service_name``, else OTEL_SERVICE_NAME as the OTel SDK reads it) with a
    BatchSpanProcessor exporting OTLP/HTTP protobuf to ``endpoint + "/v1/traces"``, registers
    it globally and returns it; its spans are flushed at interpreter exit. When the
    application already has a provider, returns that one untouched. Export happens on a
    background thread: a collector that is down or slow never delays a Claude call.

    Args:
        endpoint: the collector's base URL (OTLP/HTTP port).
        service_name: resource ``service.name``.
        headers: extra export headers, e.g. ``{"Authorization": "Bearer <CLAUDESCOPE_TOKEN>"}``.
        timeout_s: export timeout per batch.
    """
    current = trace.get_tracer_provider()
    if not isinstance(current, trace.ProxyTracerProvider):
        return current
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    provider = TracerProvider(resource=resource)  # shutdown_on_exit=True flushes at exit
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", headers=headers, timeout=timeout_s)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    # Another thread may have won the race to register; report the one actually in use.
    return trace.get_tracer_provider()


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
