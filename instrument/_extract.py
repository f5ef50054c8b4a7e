"""Turn SDK requests, responses, usage, headers and errors into span attributes.

Duck-typed on purpose: the SDK's models are read through ``getattr`` so that beta models,
platform clients and future fields all work, and a surprising object yields fewer
attributes rather than an exception (callers also run these at a ``FaultSite``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from claudescope import semconv as sc

# (path suffix, method) -> claudescope.operation; checked in order, longest first.
_BATCH_OPS = {"results": "batch_results", "cancel": "batch_cancel"}
_SPAN_NAME_OPS = dict(sc.SDK_SPAN_OPERATIONS)  # a plain dict: looked up on every call


def operation_of(options: Any) -> str | None:
    """claudescope.operation for a FinalRequestOptions, or None when it is not a Claude call."""
    name = getattr(options, "span_name", None)
    if isinstance(name, str):
        if name in _SPAN_NAME_OPS:
            return _SPAN_NAME_OPS[name]
        if ".batches." in name:
            return "batch_" + name.rsplit(".", 1)[1]
    url = str(getattr(options, "url", "") or "")
    method = str(getattr(options, "method", "") or "").lower()
    path = url.split("?", 1)[0].rstrip("/")
    if path.endswith("/messages/count_tokens"):
        return "count_tokens"
    if path.endswith("/messages"):
        return "chat" if method == "post" else None
    if "/messages/batches" in path:
        tail = path.rsplit("/", 1)[1]
        if tail in _BATCH_OPS:
            return _BATCH_OPS[tail]
        if path.endswith("/messages/batches"):
            return "batch_create" if method == "post" else "batch_list"
        return "batch_delete" if method == "delete" else "batch_retrieve"
    return None


def request_attributes(body: Any, operation: str, stream: bool) -> dict[str, Any]:
    """Span attributes known before the request is sent."""
    attrs: dict[str, Any] = {
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.CS_OPERATION: operation,
    }
    if operation == "chat" or operation == "count_tokens":
        attrs[sc.GEN_AI_REQUEST_STREAM] = bool(stream)
    if type(body) is not dict and not isinstance(body, Mapping):
        return attrs
    model = body.get("model")
    if isinstance(model, str):
        attrs[sc.GEN_AI_REQUEST_MODEL] = model
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is int or isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    tier = body.get("service_tier")
    if isinstance(tier, str):
        attrs[sc.ANTHROPIC_REQUEST_SERVICE_TIER] = tier
    return attrs


def metadata_user_id(body: Any) -> str | None:
    """The request's ``metadata.user_id``, if any."""
    if isinstance(body, Mapping):
        meta = body.get("metadata")
        if isinstance(meta, Mapping) and isinstance(meta.get("user_id"), str):
            return meta["user_id"]
    return None


def attribution_attributes(scope: Mapping[str, str], body: Any) -> dict[str, Any]:
    """claudescope.user_id / feature / prompt_version / attr.* from the scope and the request."""
    attrs: dict[str, Any] = {}
    user_id = scope.get("user_id") or metadata_user_id(body)
    if user_id:
        attrs[sc.CS_USER_ID] = user_id
        attrs[sc.USER_ID] = user_id
    for key, value in scope.items():
        if key == "feature":
            attrs[sc.CS_FEATURE] = value
        elif key == "prompt_version":
            attrs[sc.CS_PROMPT_VERSION] = value
            attrs[sc.GEN_AI_PROMPT_VERSION] = value
        elif key != "user_id":
            attrs[sc.CS_EXTRA_PREFIX + key] = value
    return attrs


class UsageTotals:
    """Anthropic usage of one call; stream events overwrite fields (cumulative, never added)."""

    __slots__ = ("input", "output", "cache_read", "cache_write", "cache_5m", "cache_1h", "web_search", "web_fetch",
                 "thinking", "service_tier", "inference_geo", "speed")

    def __init__(self) -> None:
        self.input: int | None = None
        self.output: int | None = None
        self.cache_read: int | None = None
        self.cache_write: int | None = None
        self.cache_5m: int | None = None
        self.cache_1h: int | None = None
        self.web_search: int | None = None
        self.web_fetch: int | None = None
        self.thinking: int | None = None
        self.service_tier: str | None = None
        self.inference_geo: str | None = None
        self.speed: str | None = None

    def merge(self, usage: Any) -> None:
        """Overwrite every field the given usage object reports (non-null)."""
        if usage is None:
            return
        # Spelled out rather than looped: this runs on every call's hot path.
        value = getattr(usage, "input_tokens", None)
        if type(value) is int:
            self.input = value
        value = getattr(usage, "output_tokens", None)
        if type(value) is int:
            self.output = value
        value = getattr(usage, "cache_read_input_tokens", None)
        if type(value) is int:
            self.cache_read = value
        value = getattr(usage, "cache_creation_input_tokens", None)
        if type(value) is int:
            self.cache_write = value
        split = getattr(usage, "cache_creation", None)
        if split is not None:
            self.cache_5m = _int(getattr(split, "ephemeral_5m_input_tokens", None))
            self.cache_1h = _int(getattr(split, "ephemeral_1h_input_tokens", None))
        tools = getattr(usage, "server_tool_use", None)
        if tools is not None:
            self.web_search = _int(getattr(tools, "web_search_requests", None))
            self.web_fetch = _int(getattr(tools, "web_fetch_requests", None))
        details = getattr(usage, "output_tokens_details", None)
        if details is not None:
            self.thinking = _int(getattr(details, "thinking_tokens", None))
        value = getattr(usage, "service_tier", None)
        if isinstance(value, str):
            self.service_tier = value
        value = getattr(usage, "inference_geo", None)
        if isinstance(value, str):
            self.inference_geo = value
        value = getattr(usage, "speed", None)
        if isinstance(value, str):
            self.speed = value

    def into(self, attrs: dict[str, Any]) -> None:
        """Write the span attributes into attrs; gen_ai.usage.input_tokens is uncached + cache
        read + cache write. Written in place: it runs at the end of every call."""
        if self.service_tier is not None:
            attrs[sc.ANTHROPIC_RESPONSE_SERVICE_TIER] = self.service_tier
        if self.inference_geo is not None:
            attrs[sc.CS_INFERENCE_GEO] = self.inference_geo
        if self.speed is not None:
            attrs[sc.CS_SPEED] = self.speed
        if self.input is not None:
            attrs[sc.CS_UNCACHED_INPUT_TOKENS] = self.input
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = self.total_input()
        if self.output is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = self.output
        if self.cache_read is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read
        if self.cache_write is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = self.cache_write
        if self.cache_5m is not None:
            attrs[sc.ANTHROPIC_CACHE_WRITE_5M] = self.cache_5m
        if self.cache_1h is not None:
            attrs[sc.ANTHROPIC_CACHE_WRITE_1H] = self.cache_1h
        if self.web_search is not None:
            attrs[sc.CS_WEB_SEARCH_REQUESTS] = self.web_search
        if self.web_fetch is not None:
            attrs[sc.CS_WEB_FETCH_REQUESTS] = self.web_fetch
        if self.thinking is not None:
            attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.thinking

    def attributes(self) -> dict[str, Any]:
        """The span attributes as a new dict."""
        attrs: dict[str, Any] = {}
        self.into(attrs)
        return attrs

    def total_input(self) -> int:
        """Uncached + cache read + cache write (the GenAI convention's input_tokens)."""
        return (self.input or 0) + (self.cache_read or 0) + (self.cache_write or 0)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def message_attributes(message: Any) -> dict[str, Any]:
    """Response id / model / stop reason of a Message (or message_start's message)."""
    attrs: dict[str, Any] = {}
    message_into(attrs, message)
    return attrs


def message_into(attrs: dict[str, Any], message: Any) -> None:
    """message_attributes written straight into attrs (the per-call path)."""
    msg_id = getattr(message, "id", None)
    if isinstance(msg_id, str):
        attrs[sc.GEN_AI_RESPONSE_ID] = msg_id
    model = getattr(message, "model", None)
    if isinstance(model, str):
        attrs[sc.GEN_AI_RESPONSE_MODEL] = model
    stop_reason = getattr(message, "stop_reason", None)
    if isinstance(stop_reason, str):
        attrs[sc.ANTHROPIC_STOP_REASON] = stop_reason
        attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (stop_reason,)
    request_id = getattr(message, "_request_id", None)
    if isinstance(request_id, str):
        attrs[sc.ANTHROPIC_REQUEST_ID] = request_id


def stop_attributes(stop_reason: Any) -> dict[str, Any]:
    """anthropic.message.stop_reason plus gen_ai.response.finish_reasons."""
    if not isinstance(stop_reason, str):
        return {}
    return {sc.ANTHROPIC_STOP_REASON: stop_reason, sc.GEN_AI_RESPONSE_FINISH_REASONS: (stop_reason,)}


_RATELIMIT_HEADER = b"anthropic-ratelimit-"
_RATELIMIT_FIELDS = ("limit", "remaining", "reset")


def header_attributes(headers: Any) -> dict[str, Any]:
    """request id and anthropic-ratelimit-* headers (never any other header)."""
    attrs: dict[str, Any] = {}
    if headers is None:
        return attrs
    # httpx2's raw byte pairs are several times cheaper to scan than decoded items() or get().
    raw = getattr(headers, "raw", None)
    pairs = raw if isinstance(raw, list) else [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    for name, value in pairs:
        target = _header_key(name)
        if target is None:
            continue
        key, is_text = target
        if is_text:
            if value:
                attrs[key] = value.decode("latin-1")
            continue
        try:
            attrs[key] = int(value)  # int() parses ASCII digits straight from bytes
        except ValueError:
            pass  # a malformed number: that header is skipped
    return attrs


@functools.lru_cache(maxsize=256)
def _header_key(name: bytes) -> tuple[str, bool] | None:
    """request-id -> (anthropic.request.id, True); anthropic-ratelimit-<kind>-<field> ->
    (claudescope.ratelimit.<kind>.<field>, is reset); any other header -> None."""
    lower = name.lower()
    if lower == b"request-id":
        return sc.ANTHROPIC_REQUEST_ID, True
    if lower == b"anthropic-workspace-id":  # which workspace a spend limit stopped
        return sc.ANTHROPIC_WORKSPACE_ID, True
    if not lower.startswith(_RATELIMIT_HEADER):
        return None
    kind, _, fld = lower[len(_RATELIMIT_HEADER):].decode("latin-1").rpartition("-")
    if not kind or fld not in _RATELIMIT_FIELDS:
        return None
    return f"{sc.CS_RATELIMIT_PREFIX}{kind.replace('-', '_')}.{fld}", fld == "reset"


def error_type(exc: BaseException) -> str:
    """Anthropic's error type, ``timeout`` / ``connection_error``, or the exception class name."""
    name = type(exc).__name__
    lineage = {cls.__name__ for cls in type(exc).__mro__}
    if "APITimeoutError" in lineage or isinstance(exc, TimeoutError):
        return "timeout"
    if "APIConnectionError" in lineage:
        return "connection_error"
    body = getattr(exc, "body", None)
    err = body.get("error") if isinstance(body, Mapping) else None
    spend = envelope_spend_limit(err)
    if spend is not None:
        return spend
    kind = getattr(exc, "type", None)
    if isinstance(kind, str) and kind:
        return kind
    if isinstance(err, Mapping) and isinstance(err.get("type"), str):
        return err["type"]
    status = getattr(exc, "status_code", None)
    return str(status) if isinstance(status, int) else name


def envelope_spend_limit(error: Any) -> str | None:
    """The spend-limit error of an error envelope's ``error`` object, if it is one.

    The API answers a spend cap with a 429 of type ``rate_limit_error`` whose
    ``details.error_code`` names the cap; it is kept as the error type, because unlike a
    rate limit no retry or backoff gets past it.
    """
    if not isinstance(error, Mapping):
        return None
    details = error.get("details")
    code = details.get("error_code") if isinstance(details, Mapping) else None
    for candidate in (code, error.get("type")):
        if candidate in sc.SPEND_LIMIT_ERROR_TYPES:
            return str(candidate)
    return None


def retry_after_seconds(headers: Any) -> float | None:
    """retry-after-ms / retry-after as seconds (numeric forms only)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw:
            try:
                return float(raw) * scale
            except ValueError:
                continue
    return None
