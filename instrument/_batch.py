"""Message Batch results: each succeeded result becomes its own priced ``batch_result`` span.

The results decoder's iterator is wrapped like a stream's; each line that carries a
succeeded message gives a short CLIENT span, child of the ``batch_results`` call, with
``service_tier=batch`` (what the batch discount is priced from) and the ``custom_id``.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind

from claudescope import semconv as sc

from . import _extract
from ._call import Call, Runtime

# Fault sites (see _safety).
_RESULT_SITE = "batch result"
_ATTACH_SITE = "batch results attach"
# Attribution keys a batch_result span inherits from its batch_results call.
_ATTRIBUTION_PREFIXES = (sc.CS_USER_ID, sc.CS_FEATURE, sc.CS_PROMPT_VERSION, sc.CS_EXTRA_PREFIX, sc.USER_ID)


class BatchResultsIterator:
    """Wraps a (sync) JSONLDecoder iterator."""

    __slots__ = ("inner", "emit")

    def __init__(self, inner: Any, emit: "_Emitter") -> None:
        self.inner = inner
        self.emit = emit

    def __iter__(self) -> "BatchResultsIterator":
        return self

    def __next__(self) -> Any:
        item = self.inner.__next__()
        self.emit.result(item)
        return item


class AsyncBatchResultsIterator:
    """Wraps an AsyncJSONLDecoder iterator."""

    __slots__ = ("inner", "emit")

    def __init__(self, inner: Any, emit: "_Emitter") -> None:
        self.inner = inner
        self.emit = emit

    def __aiter__(self) -> "AsyncBatchResultsIterator":
        return self

    async def __anext__(self) -> Any:
        item = await self.inner.__anext__()
        self.emit.result(item)
        return item


class _Emitter:
    __slots__ = ("runtime", "parent", "batch_id", "base")

    def __init__(self, call: Call) -> None:
        self.runtime: Runtime = call.runtime
        self.parent = trace.set_span_in_context(call.span)
        self.batch_id = call.attrs.get(sc.CS_BATCH_ID)
        self.base = {k: v for k, v in call.attrs.items() if k.startswith(_ATTRIBUTION_PREFIXES)}

    def result(self, item: Any) -> None:
        """A decoded results line: a span for a succeeded one; faults never escape."""
        try:
            self._result(item)
        except Exception:  # noqa: BLE001 - never reach the app
            self.runtime.faults.site(_RESULT_SITE).fault()

    def _result(self, item: Any) -> None:
        outcome = getattr(item, "result", None)
        if getattr(outcome, "type", None) != "succeeded":
            return
        message = getattr(outcome, "message", None)
        if message is None:
            return
        usage = _extract.UsageTotals()
        usage.merge(getattr(message, "usage", None))
        attrs: dict[str, Any] = {
            **self.base,
            sc.GEN_AI_PROVIDER_NAME: "anthropic",
            sc.GEN_AI_OPERATION_NAME: "chat",
            sc.CS_OPERATION: "batch_result",
            sc.ANTHROPIC_RESPONSE_SERVICE_TIER: "batch",
            **_extract.message_attributes(message),
            **usage.attributes(),
        }
        attrs[sc.ANTHROPIC_RESPONSE_SERVICE_TIER] = "batch"
        model = attrs.get(sc.GEN_AI_RESPONSE_MODEL)
        if model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = model
        custom_id = getattr(item, "custom_id", None)
        if isinstance(custom_id, str):
            attrs[sc.CS_BATCH_CUSTOM_ID] = custom_id
        if self.batch_id:
            attrs[sc.CS_BATCH_ID] = self.batch_id
        span = self.runtime.tracer.start_span(f"chat {model}" if model else "chat", context=self.parent,
                                              kind=SpanKind.CLIENT, attributes=attrs)
        span.end()
        self.runtime.metrics.record(attrs, 0.0, None)


def attach(decoder: Any, call: Call, is_async: bool) -> bool:
    """Wrap a results decoder's iterator; False when it is not one (or on a fault)."""
    try:
        if not hasattr(type(decoder), "_iterator"):
            return False
        inner = decoder._iterator
        emitter = _Emitter(call)
        wrapper = AsyncBatchResultsIterator(inner, emitter) if is_async else BatchResultsIterator(inner, emitter)
        decoder.__dict__["_iterator"] = wrapper
        return True
    except Exception:  # noqa: BLE001 - never reach the app
        call.runtime.faults.site(_ATTACH_SITE).fault()
        return False
