"""One Claude call in flight: its span, the facts gathered so far, and how it ends (once)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from claudescope import semconv as sc

from . import _context, _extract, _prefix
from ._content import ContentPolicy
from ._metrics import CallMetrics
from ._safety import Faults

_current_scope = _context.current
_perf = time.perf_counter
# Fault sites (see _safety): each optional enrichment fails alone, losing only its attributes.
ATTRIBUTION_SITE = "attribution attributes"
PREFIX_SITE = "prefix attributes"
CONTENT_REQUEST_SITE = "request content"
CONTENT_RESPONSE_SITE = "response content"
HEADERS_SITE = "header attributes"
EVENTS_SITE = "attempt events"
# The call whose request() is running here; the per-attempt hook reports to it.
CURRENT_CALL: ContextVar["Call | None"] = ContextVar("claudescope_call", default=None)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything one instrument() needs at call time, built once and passed down."""

    tracer: Tracer
    metrics: CallMetrics
    content: ContentPolicy
    faults: Faults = field(default_factory=Faults)

    def start(self, options: Any, stream: bool, context: Context | None = None) -> "Call | None":
        """A Call for these request options (its span a child of ``context``, default the
        current one), or None when they are not a Claude API call."""
        operation = _extract.operation_of(options)
        if operation is None:
            return None
        body = getattr(options, "json_data", None)
        attrs = _extract.request_attributes(body, operation, stream)
        # Optional enrichers are guarded one by one: a fault loses that enrichment, not the span.
        scope = _current_scope()
        if scope or _prefix.is_mapping(body) and _prefix.is_mapping(body.get("metadata")):
            self.enrich(ATTRIBUTION_SITE, attrs, _extract.attribution_attributes, scope, body)
        if operation == "chat" or operation == "count_tokens":
            try:
                attrs.update(_prefix.prefix_attributes(body))
            except Exception:  # noqa: BLE001 - the FaultSite contract inline: this one runs on every call
                self.faults.site(PREFIX_SITE).fault()
            if self.content.enabled:
                self.enrich(CONTENT_REQUEST_SITE, attrs, self.content.request_attributes, body)
        elif operation.startswith("batch_"):
            batch_id = _batch_id(getattr(options, "url", ""))
            if batch_id:
                attrs[sc.CS_BATCH_ID] = batch_id
        model = attrs.get(sc.GEN_AI_REQUEST_MODEL)
        name = f"{operation} {model}" if model else operation
        # Request attributes go in at creation (samplers see them); finish() adds only the rest.
        span = self.tracer.start_span(name, context=context, kind=SpanKind.CLIENT, attributes=attrs)
        return Call(self, span, attrs, operation)

    def enrich(self, site: str, attrs: dict[str, Any], fn: Callable[..., dict[str, Any]], *args: Any) -> None:
        """Merge ``fn(*args)`` into attrs; a fault in fn (reported to ``site``) loses only the
        attributes it would add."""
        try:
            attrs.update(fn(*args))
        except Exception:  # noqa: BLE001 - the FaultSite contract, inline
            self.faults.site(site).fault()


def _batch_id(url: Any) -> str | None:
    parts = str(url).split("?", 1)[0].strip("/").split("/")
    if "batches" in parts:
        index = parts.index("batches") + 1
        if index < len(parts) and parts[index].startswith("msgbatch"):
            return parts[index]
    return None


class Call:
    """The state of one call; ``finish`` ends its span exactly once and records metrics."""

    __slots__ = ("runtime", "span", "attrs", "operation", "usage", "started", "attempts", "first_chunk", "finished",
                 "error", "last_headers", "tried", "at_start", "tokens")

    def __init__(self, runtime: Runtime, span: trace.Span, attrs: dict[str, Any], operation: str) -> None:
        self.runtime = runtime
        self.span = span
        self.attrs = attrs
        self.operation = operation
        # The span got attrs' first at_start items at creation; request-side keys are never
        # rewritten afterwards except the batch id (re-sent at finish).
        self.at_start = len(attrs)
        self.usage = _extract.UsageTotals()
        self.started = _perf()
        self.attempts = 0
        self.first_chunk: float | None = None
        self.finished = False
        self.error: str | None = None
        self.last_headers: Any = None
        # (number, status, headers, error type, seconds, ended at ns) per HTTP attempt, in order.
        self.tried: list[tuple[int, int | None, Any, str | None, float, int]] = []
        # (CURRENT_CALL token, OTel context token) while request() runs.
        self.tokens: tuple[Any, Any] | None = None

    # --- facts --------------------------------------------------------------------
    def attempt(self, number: int, status: int | None, headers: Any, error: str | None, took: float) -> None:
        """Note one HTTP attempt; its span event is built at finish (a list append here)."""
        if number >= self.attempts:
            self.attempts = number + 1
        if status is not None:
            self.attrs[sc.HTTP_RESPONSE_STATUS_CODE] = status
        if headers is not None:
            self.last_headers = headers  # parsed once, at finish: only the last response counts
        self.tried.append((number, status, headers, error, took, time.time_ns()))

    def _attempt_events(self, last_request_id: Any) -> None:
        """One claudescope.attempt span event per HTTP attempt."""
        last = len(self.tried) - 1
        add_event = self.span.add_event
        for index, (number, status, headers, error, took, ended) in enumerate(self.tried):
            event: dict[str, Any] = {sc.CS_ATTEMPT_NUMBER: number, sc.CS_ATTEMPT_DURATION_MS: took * 1000.0}
            if status is not None:
                event[sc.CS_ATTEMPT_STATUS] = status
            if error:
                event[sc.CS_ATTEMPT_ERROR_TYPE] = error
            if headers is not None:
                # The last response's request id is already known from the header scan.
                request_id = last_request_id if index == last and last_request_id else headers.get("request-id")
                if request_id:
                    event[sc.CS_ATTEMPT_REQUEST_ID] = request_id
                if error or (status or 0) >= 400:
                    retry_after = _extract.retry_after_seconds(headers)
                    if retry_after is not None:
                        event[sc.CS_ATTEMPT_RETRY_AFTER] = retry_after
            # Stamped when the attempt ended, so backoff between attempts stays visible.
            add_event(sc.CS_ATTEMPT_EVENT, event, timestamp=ended)

    def headers(self, headers: Any) -> None:
        """Request id and rate-limit headroom of the latest response (read at finish)."""
        if headers is not None:
            self.last_headers = headers

    def message(self, message: Any) -> None:
        """A Message (or message_start's message): id, model, stop reason, usage."""
        _extract.message_into(self.attrs, message)
        self.usage.merge(getattr(message, "usage", None))

    def chunk(self) -> None:
        """A stream chunk arrived: the first one fixes time-to-first-chunk."""
        if self.first_chunk is None:
            self.first_chunk = _perf()

    def result(self, value: Any) -> None:
        """Whatever the SDK returned for a non-streaming call."""
        if hasattr(value, "usage") or hasattr(value, "stop_reason"):
            self.message(value)
            runtime = self.runtime
            if runtime.content.enabled:
                runtime.enrich(CONTENT_RESPONSE_SITE, self.attrs, runtime.content.response_attributes, value)
        elif self.operation == "count_tokens":
            count = getattr(value, "input_tokens", None)
            if isinstance(count, int):
                self.usage.input = count
        if self.operation.startswith("batch_"):
            batch_id = getattr(value, "id", None)
            if isinstance(batch_id, str) and batch_id.startswith("msgbatch"):
                self.attrs[sc.CS_BATCH_ID] = batch_id

    def raw_body(self, http_response: Any) -> None:
        """Parse an already-read raw response body (with_raw_response) without touching the SDK object."""
        try:
            content = http_response.content
        except Exception:  # noqa: BLE001 - an unread streaming body stays unread
            self.attrs[sc.CS_USAGE_INCOMPLETE] = True
            return
        document = json.loads(content)
        if isinstance(document, Mapping):
            self.result(_namespace(document))

    def fail(self, exc: BaseException) -> None:
        """The call raised: record the error type and the final response's facts."""
        self.error = _extract.error_type(exc)
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            self.attrs[sc.HTTP_RESPONSE_STATUS_CODE] = status
        response = getattr(exc, "response", None)
        if response is not None:
            self.headers(getattr(response, "headers", None))
        request_id = getattr(exc, "request_id", None)
        if isinstance(request_id, str):
            self.attrs[sc.ANTHROPIC_REQUEST_ID] = request_id

    # --- the end ------------------------------------------------------------------
    def finish(self, end_reason: str | None = None) -> None:
        """End the span (idempotent) with every attribute gathered, and record metrics."""
        if self.finished:
            return
        self.finished = True
        ended = _perf()
        attrs = self.attrs
        headers = self.last_headers
        if headers is not None:
            try:
                attrs.update(_extract.header_attributes(headers))
            except Exception:  # noqa: BLE001 - a fault loses the header facts only
                self.runtime.faults.site(HEADERS_SITE).fault()
        tried = self.tried
        if tried:
            try:
                self._attempt_events(attrs.get(sc.ANTHROPIC_REQUEST_ID) if tried[-1][2] is headers else None)
            except Exception:  # noqa: BLE001 - a fault loses the events, not the span
                self.runtime.faults.site(EVENTS_SITE).fault()
        self.usage.into(attrs)
        if self.attempts:
            attrs[sc.HTTP_REQUEST_RESEND_COUNT] = self.attempts - 1
        if end_reason:
            attrs[sc.CS_STREAM_END] = end_reason
        ttfc = None if self.first_chunk is None else self.first_chunk - self.started
        if ttfc is not None:
            attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        span = self.span
        if self.error:
            attrs[sc.ERROR_TYPE] = self.error
            span.set_status(Status(StatusCode.ERROR, self.error))
        # Only what the span did not get at creation (dicts keep insertion order).
        added = dict(itertools.islice(attrs.items(), self.at_start, None)) if len(attrs) > self.at_start else {}
        if sc.CS_BATCH_ID in attrs:
            added[sc.CS_BATCH_ID] = attrs[sc.CS_BATCH_ID]
        if added:
            span.set_attributes(added)
        span.end()
        self.runtime.metrics.record(attrs, ended - self.started, ttfc)


def _namespace(value: Any) -> Any:
    """Dicts as attribute objects, so raw JSON reads like the SDK's models."""
    if isinstance(value, Mapping):
        return SimpleNamespace(**{str(k): _namespace(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_namespace(v) for v in value]
    return value
