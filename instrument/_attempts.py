"""Per-attempt observation through the SDK's public middleware hook.

The SDK runs client middleware inside its retry loop, once per HTTP attempt, and hands it the
response even for 4xx/5xx. Ours reports each attempt (status, error type, retry-after,
duration, request id) to the Call that ``request()`` opened, so one call stays one span and
backoff is separable from server latency. Outside an instrumented call it is a pass-through.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from typing import Any

from ._call import CURRENT_CALL, Call
from ._extract import error_type
from ._safety import guard


@guard()
def _report(call: Call, request: Any, response: Any, exc: BaseException | None, began: float) -> None:
    number = getattr(request, "retries_taken", 0)
    if exc is not None:
        call.attempt(number, getattr(exc, "status_code", None), None, error_type(exc), began)
        return
    status = getattr(response, "status_code", None)
    error = _body_error_type(response) if isinstance(status, int) and status >= 400 else None
    call.attempt(number, status, getattr(response, "headers", None), error, began)


def _body_error_type(response: Any) -> str | None:
    """The error envelope's type, only when the body is already read (never reads it)."""
    http = getattr(response, "http_response", None)
    try:
        document = json.loads(http.content)
    except Exception:  # noqa: BLE001 - unread or not JSON: fall back to the status code
        return str(getattr(response, "status_code", "")) or None
    error = document.get("error") if isinstance(document, Mapping) else None
    kind = error.get("type") if isinstance(error, Mapping) else None
    return kind if isinstance(kind, str) else None


@functools.cache
def middleware_class() -> type:
    """The middleware class, built on first use so that importing us never imports anthropic.

    Cached so that clients built under an earlier instrument() are recognised (never doubled)."""
    import anthropic

    class ClaudescopeAttempts(anthropic.Middleware):
        """Reports every HTTP attempt of an instrumented call."""

        def handle(self, request: Any, call_next: Any) -> Any:
            call = CURRENT_CALL.get()
            if call is None:
                return call_next(request)
            began = time.perf_counter()
            try:
                response = call_next(request)
            except BaseException as exc:
                _report(call, request, None, exc, began)
                raise
            _report(call, request, response, None, began)
            return response

        async def handle_async(self, request: Any, call_next: Any) -> Any:
            call = CURRENT_CALL.get()
            if call is None:
                return await call_next(request)
            began = time.perf_counter()
            try:
                response = await call_next(request)
            except BaseException as exc:
                _report(call, request, None, exc, began)
                raise
            _report(call, request, response, None, began)
            return response

    return ClaudescopeAttempts
