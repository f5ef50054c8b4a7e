"""An in-process stand-in for the fake Anthropic API (same x-fake-* control headers).

Used through ``httpx2.MockTransport`` by the benchmark and by tests that need no sockets.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

_counter = iter(range(1, 10**9))


def _usage(header: str | None) -> dict[str, int]:
    values = {"input": 10, "output": 5, "cache_read": 0, "cache_write_5m": 0, "cache_write_1h": 0,
              "web_search": 0, "web_fetch": 0}
    for item in (header or "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            values[key.strip()] = int(value)
    return values


def _usage_body(u: dict[str, int], headers: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "input_tokens": u["input"], "output_tokens": u["output"],
        "cache_read_input_tokens": u["cache_read"],
        "cache_creation_input_tokens": u["cache_write_5m"] + u["cache_write_1h"],
        "cache_creation": {"ephemeral_5m_input_tokens": u["cache_write_5m"],
                           "ephemeral_1h_input_tokens": u["cache_write_1h"]},
        "server_tool_use": {"web_search_requests": u["web_search"], "web_fetch_requests": u["web_fetch"]},
        "service_tier": headers.get("x-fake-service-tier", "standard"),
    }
    if headers.get("x-fake-inference-geo"):
        body["inference_geo"] = headers["x-fake-inference-geo"]
    if headers.get("x-fake-speed"):
        body["speed"] = headers["x-fake-speed"]
    return body


_ERRORS = {429: "rate_limit_error", 529: "overloaded_error", 500: "api_error", 400: "invalid_request_error",
           404: "not_found_error"}
RATELIMIT = {"anthropic-ratelimit-tokens-remaining": "9000", "anthropic-ratelimit-tokens-limit": "10000",
             "anthropic-ratelimit-tokens-reset": "2026-11-22T03:00:00Z",
             "anthropic-ratelimit-requests-remaining": "49"}


def handler(request: httpx2.Request) -> httpx2.Response:
    """Answer like the fake API: messages, count_tokens, SSE, errors per attempt."""
    n = next(_counter)
    headers = request.headers
    attempt = int(headers.get("x-stainless-retry-count", "0"))
    script = [s.strip() for s in headers.get("x-fake-script", "ok").split(",")]
    step = script[min(attempt, len(script) - 1)]
    common = {"request-id": f"req_{n:06d}", **RATELIMIT}
    if step.isdigit():
        status = int(step)
        extra = {"retry-after": headers["x-fake-retry-after"]} if headers.get("x-fake-retry-after") else {}
        if status in (429, 529, 500) and "retry-after" not in extra:
            extra["retry-after-ms"] = "1"
        return httpx2.Response(status, json={"type": "error", "error": {"type": _ERRORS.get(status, "api_error"),
                                                                          "message": "scripted"}},
                               headers={**common, **extra})
    body = json.loads(request.content or b"{}")
    path = request.url.path
    if path.endswith("/count_tokens"):
        return httpx2.Response(200, json={"input_tokens": _usage(headers.get("x-fake-usage"))["input"]}, headers=common)
    model = headers.get("x-fake-model", body.get("model", "claude-sonnet-4-5"))
    u = _usage(headers.get("x-fake-usage"))
    message = {"id": f"msg_{n:06d}", "type": "message", "role": "assistant", "model": model,
               "content": [{"type": "text", "text": "Hello there"}],
               "stop_reason": headers.get("x-fake-stop", "end_turn"), "stop_sequence": None,
               "usage": _usage_body(u, headers)}
    if body.get("stream"):
        return httpx2.Response(200, content=_sse(message, u, step), headers={**common, "content-type": "text/event-stream"})
    return httpx2.Response(200, json=message, headers=common)


def _sse(message: dict[str, Any], u: dict[str, int], step: str) -> bytes:
    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": "Hello"}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": " there"}})]
    if step == "sse-error":
        events.append(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}))
    elif step != "cut":
        events += [("content_block_stop", {"type": "content_block_stop", "index": 0}),
                   ("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                      "usage": {"output_tokens": u["output"], "input_tokens": u["input"],
                                                "cache_read_input_tokens": u["cache_read"],
                                                "cache_creation_input_tokens": u["cache_write_5m"] + u["cache_write_1h"],
                                                "server_tool_use": {"web_search_requests": u["web_search"],
                                                                    "web_fetch_requests": u["web_fetch"]}}}),
                   ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()
