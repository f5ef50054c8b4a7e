"""The patches: one chokepoint per client kind, plus construction and stream close.

Why ``SyncAPIClient.request`` / ``AsyncAPIClient.request``: every resource method of every
client class (Anthropic, Bedrock, Vertex, Foundry, beta, batches, stream(), parse(), the raw
and streaming-response wrappers, tool runners) funnels through it, so patching it once covers
clients built before ``instrument()`` too, and ``with_raw_response`` wrappers cached on a
resource still go through it. Per-attempt facts come from ``_attempt_request`` (once per HTTP
attempt, see ``_attempts``), or, on an SDK without it, from a middleware injected at client
construction (the SDK builds the chain there).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled, unwrap

try:
    # The keys suppress_instrumentation() sets, read exactly as is_instrumentation_enabled() does
    # (tests/instrument/test_fast_paths.py::test_suppress_instrumentation_and_parenting).
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
    from opentelemetry.instrumentation.utils import _SUPPRESS_INSTRUMENTATION_KEY_PLAIN as _SUPPRESS_KEY_PLAIN
except ImportError:  # private names renamed by a later OpenTelemetry: use the public check
    _SUPPRESS_KEY = _SUPPRESS_KEY_PLAIN = None

from claudescope import semconv as sc

from . import _batch, _stream
from ._attempts import async_attempt, middleware_class, sync_attempt
from ._call import CURRENT_CALL, Call, Runtime
from ._safety import FaultSite


@dataclass(frozen=True)
class _Kinds:
    """The SDK classes results are sorted by (resolved at install, never at import)."""

    streams: tuple[type, ...] = ()
    decoders: tuple[type, ...] = ()
    raw_responses: tuple[type, ...] = ()


class Patches:
    """Installs and removes every wrapper for one Runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.applied: list[tuple[Any, str]] = []
        # Raw responses whose body the app has not parsed yet -> their open Call.
        self.pending: weakref.WeakKeyDictionary[Any, Call] = weakref.WeakKeyDictionary()
        self.kinds = _Kinds()
        self.seen: dict[type, int] = {}

    def install(self) -> None:
        """Patch the SDK (imported here, never at module import)."""
        from anthropic import _base_client, _response, _streaming
        from anthropic._decoders import jsonl

        self.kinds = _Kinds((_streaming.Stream, _streaming.AsyncStream), (jsonl.JSONLDecoder, jsonl.AsyncJSONLDecoder),
                            (_response.BaseAPIResponse,))
        attempts: type | None = None
        if hasattr(_base_client.SyncAPIClient, "_attempt_request") and hasattr(
                _base_client.AsyncAPIClient, "_attempt_request"):
            self._wrap(_base_client.SyncAPIClient, "_attempt_request", sync_attempt)
            self._wrap(_base_client.AsyncAPIClient, "_attempt_request", async_attempt)
        else:
            attempts = middleware_class()
        self._wrap(_base_client.SyncAPIClient, "request", self._sync_request)
        self._wrap(_base_client.AsyncAPIClient, "request", self._async_request)
        client_options = self.runtime.faults.site(_CLIENT_OPTIONS_SITE)
        self._wrap(_base_client.SyncAPIClient, "__init__", _init_wrapper(attempts, client_options))
        self._wrap(_base_client.AsyncAPIClient, "__init__", _init_wrapper(attempts, client_options))
        close_wrapper = _close_wrapper(self.runtime.faults.site(_STREAM_CLOSE_SITE))
        self._wrap(_streaming.Stream, "close", close_wrapper)
        self._wrap(_streaming.AsyncStream, "close", close_wrapper)
        self._wrap(_response.APIResponse, "parse", self._sync_parse)
        self._wrap(_response.AsyncAPIResponse, "parse", self._async_parse)

    def uninstall(self) -> None:
        """Remove every wrapper this object installed."""
        while self.applied:
            owner, name = self.applied.pop()
            unwrap(owner, name)

    def _wrap(self, owner: Any, name: str, wrapper: Callable[..., Any]) -> None:
        wrapt.wrap_function_wrapper(owner, name, wrapper)
        self.applied.append((owner, name))

    def kind_of(self, cls: type) -> int:
        """_PLAIN, _STREAM, _DECODER or _RAW for a result class, sorted once per class (the
        common Message result then costs one dict lookup instead of an isinstance chain)."""
        kind = self.seen.get(cls)
        if kind is None:
            kinds = self.kinds
            kind = (_STREAM if issubclass(cls, kinds.streams) else _DECODER if issubclass(cls, kinds.decoders)
                    else _RAW if issubclass(cls, kinds.raw_responses) else _PLAIN)
            if len(self.seen) < _SEEN_MAX:
                self.seen[cls] = kind
        return kind

    def _sync_request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _open(self.runtime, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _close(call, None, exc, False, self)
            raise
        _close(call, result, None, False, self)
        return result

    async def _async_request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _open(self.runtime, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _close(call, None, exc, True, self)
            raise
        _close(call, result, None, True, self)
        return result

    def _sync_parse(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        if self.pending:  # usually empty: the SDK parsing its own response internally
            _parsed(self, instance, result, False)
        return result

    async def _async_parse(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = await wrapped(*args, **kwargs)
        if self.pending:
            _parsed(self, instance, result, True)
        return result


# What a request() returned, as sorted by Patches.kind_of.
_PLAIN, _STREAM, _DECODER, _RAW = 0, 1, 2, 3
_SEEN_MAX = 256
# Fault sites (see _safety); the per-call ones are inline try/excepts, without an extra frame.
_OPEN_SITE = "request start"
_ENTER_SITE = "context attach"
_LEAVE_SITE = "context detach"
_CLOSE_SITE = "request end"
_PARSED_SITE = "raw response parsed"
_ABANDONED_SITE = "raw response abandoned"
_CLIENT_OPTIONS_SITE = "client options"
_STREAM_CLOSE_SITE = "stream close"


def _open(runtime: Runtime, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """Start the call's span and make it current; None when not ours to trace (or on a fault)."""
    try:
        # One context read serves the suppression check, the parent and the new context
        # (is_instrumentation_enabled() and a context-less start_span would each read it again).
        ctx = otel_context.get_current()
        if _SUPPRESS_KEY is None:
            if not is_instrumentation_enabled():
                return None
        elif ctx.get(_SUPPRESS_KEY) or ctx.get(_SUPPRESS_KEY_PLAIN):
            return None
        call = runtime.start(args[1] if len(args) > 1 else kwargs.get("options"), bool(kwargs.get("stream", False)),
                             ctx)
    except Exception:  # noqa: BLE001 - never reach the app
        runtime.faults.site(_OPEN_SITE).fault()
        return None
    if call is not None:
        try:
            call.tokens = (CURRENT_CALL.set(call), otel_context.attach(trace.set_span_in_context(call.span, ctx)))
        except Exception:  # noqa: BLE001 - the span still ends, it just has no children
            runtime.faults.site(_ENTER_SITE).fault()
    return call


def _close(call: Call, result: Any, exc: BaseException | None, is_async: bool, patches: Patches) -> None:
    """request() returned ``result`` or raised ``exc``: restore the context, then finish the
    call now or hand it to whatever ends it later (a stream, a raw response)."""
    tokens = call.tokens
    if tokens is not None:
        call.tokens = None
        try:
            otel_context.detach(tokens[1])
            CURRENT_CALL.reset(tokens[0])
        except Exception:  # noqa: BLE001
            call.runtime.faults.site(_LEAVE_SITE).fault()
    try:
        if exc is not None:
            call.fail(exc)
            call.finish()
        else:
            _returned(call, result, is_async, patches)
    except Exception:  # noqa: BLE001
        call.runtime.faults.site(_CLOSE_SITE).fault()


def _returned(call: Call, result: Any, is_async: bool, patches: Patches) -> None:
    kind = patches.kind_of(type(result))
    if kind == _PLAIN:
        call.result(result)
    elif kind == _STREAM:
        if _stream.attach(result, call, is_async):
            return
    elif kind == _DECODER:
        _batch.attach(result, call, is_async)
    elif not _raw_response(call, result):
        patches.pending[result] = call
        weakref.finalize(result, _abandoned, call)
        return
    call.attrs.setdefault(sc.HTTP_RESPONSE_STATUS_CODE, 200)
    call.finish()


def _raw_response(call: Call, response: Any) -> bool:
    """with_raw_response / with_streaming_response: read facts, never consume the body.

    True when the call is complete; False when the body is unread or a stream, in which case
    the call ends when the app parses the response (or drops it)."""
    call.attrs[sc.CS_RAW_RESPONSE] = True
    http = getattr(response, "http_response", None)
    call.headers(getattr(http, "headers", None))
    status = getattr(http, "status_code", None)
    if isinstance(status, int):
        call.attrs[sc.HTTP_RESPONSE_STATUS_CODE] = status
    retries = getattr(response, "retries_taken", None)
    if not call.attempts and isinstance(retries, int):
        call.attempts = retries + 1
    if getattr(response, "_stream", False) or not getattr(http, "is_stream_consumed", True):
        return False
    call.raw_body(http)
    return True


def _parsed(patches: Patches, response: Any, value: Any, is_async: bool) -> None:
    """The app parsed a raw response we were waiting on: finish from the parsed value."""
    if not patches.pending:  # the common case: the SDK parsing its own response internally
        return
    try:
        call = patches.pending.pop(response, None)
        if call is None or call.finished:
            return
        if isinstance(value, patches.kinds.streams) and _stream.attach(value, call, is_async):
            return
        call.result(value)
        call.finish()
    except Exception:  # noqa: BLE001 - never reach the app
        patches.runtime.faults.site(_PARSED_SITE).fault()


def _abandoned(call: Call) -> None:
    """A raw response dropped unparsed: its call ends incomplete (a weakref.finalize callback)."""
    try:
        if not call.finished:
            call.attrs[sc.CS_USAGE_INCOMPLETE] = True
            call.finish("abandoned")
    except Exception:  # noqa: BLE001
        call.runtime.faults.site(_ABANDONED_SITE).fault()


def _init_wrapper(attempts: type | None, site: FaultSite) -> Callable[..., Any]:
    """Client construction: turn the SDK's own tracing off unless the application set
    ``open_telemetry`` itself (one call, one span); add the fallback attempts middleware if any."""
    adjust = site.guard(_adjust_client_kwargs)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        adjust(kwargs, attempts)
        return wrapped(*args, **kwargs)

    return wrapper


def _adjust_client_kwargs(kwargs: dict[str, Any], attempts: type | None) -> None:
    if attempts is not None:
        middleware = list(kwargs.get("middleware") or ())
        if not any(isinstance(m, attempts) for m in middleware):
            middleware.append(attempts())
        kwargs["middleware"] = middleware
    if kwargs.get("open_telemetry") is None:
        kwargs["open_telemetry"] = False


def _close_wrapper(site: FaultSite) -> Callable[..., Any]:
    """Stream.close / AsyncStream.close: end the stream's call (once), then close as asked."""
    on_close = site.guard(_stream.on_close)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        on_close(instance)
        return wrapped(*args, **kwargs)

    return wrapper
