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

from claudescope import semconv as sc

from . import _batch, _stream
from ._attempts import async_attempt, middleware_class, sync_attempt
from ._call import CURRENT_CALL, Call, Runtime
from ._safety import guard


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
        self._wrap(_base_client.SyncAPIClient, "__init__", _init_wrapper(attempts))
        self._wrap(_base_client.AsyncAPIClient, "__init__", _init_wrapper(attempts))
        self._wrap(_streaming.Stream, "close", _close_wrapper)
        self._wrap(_streaming.AsyncStream, "close", _close_wrapper)
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

    def _sync_request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _begin(self.runtime, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        tokens = _enter(call)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _leave(tokens)
            _failed(call, exc)
            raise
        _leave(tokens)
        _returned(call, result, False, self)
        return result

    async def _async_request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = _begin(self.runtime, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        tokens = _enter(call)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _leave(tokens)
            _failed(call, exc)
            raise
        _leave(tokens)
        _returned(call, result, True, self)
        return result

    def _sync_parse(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = wrapped(*args, **kwargs)
        _parsed(self, instance, result, False)
        return result

    async def _async_parse(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = await wrapped(*args, **kwargs)
        _parsed(self, instance, result, True)
        return result


@guard()
def _begin(runtime: Runtime, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    if not is_instrumentation_enabled():
        return None
    options = args[1] if len(args) > 1 else kwargs.get("options")
    return runtime.start(options, bool(kwargs.get("stream", False)))


@guard()
def _enter(call: Call) -> tuple[Any, Any]:
    return CURRENT_CALL.set(call), otel_context.attach(trace.set_span_in_context(call.span))


@guard()
def _leave(tokens: tuple[Any, Any] | None) -> None:
    if tokens is not None:
        otel_context.detach(tokens[1])
        CURRENT_CALL.reset(tokens[0])


@guard()
def _failed(call: Call, exc: BaseException) -> None:
    call.fail(exc)
    call.finish()


@guard()
def _returned(call: Call, result: Any, is_async: bool, patches: Patches) -> None:
    kinds = patches.kinds
    if isinstance(result, kinds.streams):
        if _stream.attach(result, call, is_async):
            return
    elif isinstance(result, kinds.decoders):
        _batch.attach(result, call, is_async)
    elif isinstance(result, kinds.raw_responses):
        if not _raw_response(call, result):
            patches.pending[result] = call
            weakref.finalize(result, _abandoned, call)
            return
    else:
        call.result(result)
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


@guard()
def _parsed(patches: Patches, response: Any, value: Any, is_async: bool) -> None:
    """The app parsed a raw response we were waiting on: finish from the parsed value."""
    if not patches.pending:  # the common case: the SDK parsing its own response internally
        return
    call = patches.pending.pop(response, None)
    if call is None or call.finished:
        return
    if isinstance(value, patches.kinds.streams) and _stream.attach(value, call, is_async):
        return
    call.result(value)
    call.finish()


@guard()
def _abandoned(call: Call) -> None:
    if not call.finished:
        call.attrs[sc.CS_USAGE_INCOMPLETE] = True
        call.finish("abandoned")


def _init_wrapper(attempts: type | None) -> Callable[..., Any]:
    """Client construction: turn the SDK's own tracing off unless the application set
    ``open_telemetry`` itself (one call, one span); add the fallback attempts middleware if any."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        _adjust_client_kwargs(kwargs, attempts)
        return wrapped(*args, **kwargs)

    return wrapper


@guard()
def _adjust_client_kwargs(kwargs: dict[str, Any], attempts: type | None) -> None:
    if attempts is not None:
        middleware = list(kwargs.get("middleware") or ())
        if not any(isinstance(m, attempts) for m in middleware):
            middleware.append(attempts())
        kwargs["middleware"] = middleware
    if kwargs.get("open_telemetry") is None:
        kwargs["open_telemetry"] = False


_on_close = guard()(_stream.on_close)


def _close_wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    _on_close(instance)
    return wrapped(*args, **kwargs)
