"""claudescope.instrument: every Claude call in a Python app as one exact, priced-ready span.

Usage::

    import claudescope.instrument as cs
    cs.instrument()                                   # patch the anthropic SDK
    cs.configure(endpoint="http://127.0.0.1:4318")    # only where the app has no TracerProvider
    with cs.attributes(user_id="u-42", feature="support_chat", prompt_version="v2.1"):
        client.messages.create(...)

What is covered: ``Anthropic`` / ``AsyncAnthropic`` and every platform client (Bedrock, Vertex,
Foundry, ...) for messages.create (plain and stream=True), messages.stream(), parse(),
count_tokens(), beta.messages.*, with_raw_response / with_streaming_response, and Message
Batches (each succeeded result of ``batches.results()`` becomes its own ``batch_result`` span
with service tier ``batch`` and its ``custom_id``).

One call, one span. The SDK 2.x traces itself by default (scope ``com.anthropic.sdk.python``).
Clients constructed while claudescope is instrumented get ``open_telemetry=False`` unless the
application passed ``open_telemetry`` itself; a client that keeps the SDK's tracing (built
before ``instrument()``, or with an explicit option) makes the SDK's span a child of ours with
the same ``gen_ai.response.id``, which the collector uses to keep one row per call.

Retries stay inside the one span: ``http.request.resend_count`` plus one
``claudescope.attempt`` event per HTTP attempt, recorded by a wrapper around the SDK's
per-attempt step (``_attempt_request``), for every client; on an SDK without it, by a
middleware (``anthropic.Middleware``) added to clients built after ``instrument()``.

Streams keep their identity (the SDK's own ``Stream`` / ``MessageStream`` objects are returned);
the span ends exactly once, when the stream is read to the end, fails, is closed, or is
dropped and garbage-collected (``claudescope.stream.end``); a stream cut before
``message_delta`` is marked ``claudescope.usage.incomplete``. A ``with_streaming_response``
answer ends its span when the app calls ``parse()`` (or, unparsed, when it is dropped).

Privacy: message content is recorded only when ``capture_content=True`` or
OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT asks for it; request headers (API keys,
``authorization``) are never read into spans. Instrumentation faults are swallowed (logged at
DEBUG on the ``claudescope.instrument`` logger); SDK exceptions pass through unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from claudescope.semconv import INSTRUMENTATION_SCOPE

from ._content import DEFAULT_MAX_BYTES, ContentPolicy, parse_capture_env
from ._context import attributes
from ._setup import DEFAULT_ENDPOINT, configure, warn_if_auto_instrumentation_exports_nothing
from ._setup import flush as _flush

__all__ = [
    "ClaudescopeInstrumentor",
    "attributes",
    "configure",
    "flush",
    "instrument",
    "uninstrument",
    "DEFAULT_ENDPOINT",
]
__version__ = "0.1.0"
CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


class ClaudescopeInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """OpenTelemetry instrumentor for the anthropic SDK (entry point ``claudescope``).

    ``opentelemetry-instrument`` loads it; OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=claudescope
    turns it off there. Keyword arguments of ``instrument()`` are those of the module-level
    :func:`instrument`.
    """

    _patches: Any = None
    _tracer_provider: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 2.0",)

    def _instrument(self, **kwargs: Any) -> None:
        from ._call import Runtime
        from ._metrics import CallMetrics
        from ._patch import Patches
        from ._safety import Faults

        if "tracer_provider" not in kwargs:  # the zero-argument call of opentelemetry-instrument
            warn_if_auto_instrumentation_exports_nothing()
        tracer_provider = kwargs.get("tracer_provider")
        capture = kwargs.get("capture_content")
        if capture is None:
            # The documented OTel switch, read once here at instrument() time.
            capture = parse_capture_env(os.environ.get(CAPTURE_ENV))
        runtime = Runtime(
            tracer=trace.get_tracer(INSTRUMENTATION_SCOPE, __version__, tracer_provider),
            metrics=CallMetrics(metrics.get_meter(INSTRUMENTATION_SCOPE, __version__, kwargs.get("meter_provider"))),
            content=ContentPolicy(
                enabled=bool(capture),
                max_bytes=int(kwargs.get("content_max_bytes") or DEFAULT_MAX_BYTES),
                redact=kwargs.get("redact"),
            ),
            faults=Faults(strict=bool(kwargs.get("strict"))),
        )
        patches = Patches(runtime)
        patches.install()
        self._patches = patches
        self._tracer_provider = tracer_provider

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._patches is not None:
            self._patches.uninstall()
            self._patches = None


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool | None = None,
    content_max_bytes: int = DEFAULT_MAX_BYTES,
    redact: Callable[[str], str] | None = None,
    strict: bool = False,
) -> None:
    """Patch the anthropic SDK (idempotent: a second call while instrumented does nothing).

    Args:
        tracer_provider: where spans go; default the global one (see :func:`configure`).
        meter_provider: where metrics go; default the global one.
        capture_content: record prompts and completions; None reads
            OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (true / SPAN_ONLY / ...).
        content_max_bytes: cap per captured attribute (UTF-8 bytes), marked when cut.
        redact: applied to every captured text before it is recorded.
        strict: re-raise instrumentation faults instead of swallowing them (for tests only:
            by default a fault never reaches the application).
    """
    ClaudescopeInstrumentor().instrument(
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
        capture_content=capture_content,
        content_max_bytes=content_max_bytes,
        redact=redact,
        strict=strict,
    )


def uninstrument() -> None:
    """Remove every patch (a fallback attempts middleware left on a client is then a no-op)."""
    ClaudescopeInstrumentor().uninstrument()


def flush(timeout_millis: int = 30_000) -> bool:
    """Export every finished span now (the instrumented provider and the global one)."""
    return _flush(ClaudescopeInstrumentor()._tracer_provider, timeout_millis=timeout_millis)
