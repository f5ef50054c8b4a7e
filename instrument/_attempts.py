"""Per-attempt observation: one record per HTTP attempt of an instrumented call.

The SDK's retry loop calls ``_attempt_request`` once per HTTP attempt (with ``retries_taken``)
and gets back the raw response even for 4xx/5xx, or a typed connection/timeout error. A plain
wrapper there reports each attempt (status, error type, retry-after, duration, request id) to
the Call that ``request()`` opened, so one call stays one span and backoff is separable from
server latency. It also covers clients built before ``instrument()``. The public middleware
hook does the same job, but the SDK's middleware path re-copies the options and wraps and
re-parses every response (~45 us per call measured), so it is only the fallback for an SDK
without ``_attempt_request``. Outside an instrumented call both are a pass-through.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from typing import Any

from ._call import CURRENT_CALL, Call
from ._extract import envelope_spend_limit, error_type

_perf = time.perf_counter
_REPORT_SITE = "attempt report"  # fault site (see _safety)


def _report(call: Call, number: Any, http: Any, exc: BaseException | None, began: float) -> None:
    """One attempt ended: ``http`` is the httpx response, or None when ``exc`` was raised."""
    took = _perf() - began
    try:
        if type(number) is not int and not isinstance(number, int):
            number = 0
        if exc is not None:
            call.attempt(number, getattr(exc, "status_code", None), None, error_type(exc), took)
            return
        status = getattr(http, "status_code", None)
        error = _body_error_type(http, status) if isinstance(status, int) and status >= 400 else None
        call.attempt(number, status, getattr(http, "headers", None), error, took)
    except Exception:  # noqa: BLE001 - inline: this runs once per HTTP attempt
        call.runtime.faults.site(_REPORT_SITE).fault()


def _body_error_type(http: Any, status: Any) -> str | None:
    """The error envelope's type, only when the body is already read (never reads it)."""
    try:
        document = json.loads(http.content)
    except Exception:  # noqa: BLE001 - unread or not JSON: fall back to the status code
        return str(status)
    error = document.get("error") if isinstance(document, Mapping) else None
    kind = envelope_spend_limit(error) or (error.get("type") if isinstance(error, Mapping) else None)
    return kind if isinstance(kind, str) else None


def sync_attempt(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """wrapt wrapper of ``SyncAPIClient._attempt_request`` (returns ``(response, options)``)."""
    call = CURRENT_CALL.get()
    if call is None:
        return wrapped(*args, **kwargs)
    began = _perf()
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as exc:
        _report(call, kwargs.get("retries_taken", 0), None, exc, began)
        raise
    _report(call, kwargs.get("retries_taken", 0), result[0], None, began)
    return result


async def async_attempt(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """wrapt wrapper of ``AsyncAPIClient._attempt_request``."""
    call = CURRENT_CALL.get()
    if call is None:
        return await wrapped(*args, **kwargs)
    began = _perf()
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as exc:
        _report(call, kwargs.get("retries_taken", 0), None, exc, began)
        raise
    _report(call, kwargs.get("retries_taken", 0), result[0], None, began)
    return result


@functools.cache
def middleware_class() -> type:
    """The fallback middleware class, built on first use so that importing us never imports
    anthropic. Cached so that clients built under an earlier instrument() are recognised."""
    import anthropic

    def _http(response: Any) -> Any:
        return getattr(response, "http_response", None)

    class ClaudescopeAttempts(anthropic.Middleware):
        """Reports every HTTP attempt of an instrumented call."""

        def handle(self, request: Any, call_next: Any) -> Any:
            call = CURRENT_CALL.get()
            if call is None:
                return call_next(request)
            began = _perf()
            try:
                response = call_next(request)
            except BaseException as exc:
                _report(call, getattr(request, "retries_taken", 0), None, exc, began)
                raise
            _report(call, getattr(request, "retries_taken", 0), _http(response), None, began)
            return response

        async def handle_async(self, request: Any, call_next: Any) -> Any:
            call = CURRENT_CALL.get()
            if call is None:
                return await call_next(request)
            began = _perf()
            try:
                response = await call_next(request)
            except BaseException as exc:
                _report(call, getattr(request, "retries_taken", 0), None, exc, began)
                raise
            _report(call, getattr(request, "retries_taken", 0), _http(response), None, began)
            return response

    return ClaudescopeAttempts
