"""The SSE event sequence of a streamed Messages answer, built with the SDK's event types.

message_start (full usage but a placeholder ``output_tokens=1``), then per content block
content_block_start / content_block_delta... / content_block_stop (a ``ping`` after the first
start, as the API does), message_delta (stop reason, cumulative usage), message_stop.
Deltas by block: text_delta for text; input_json_delta for tool_use and server_tool_use;
thinking_delta then signature_delta for thinking; tool results arrive whole in their start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)

__all__ = ["FakeConnectionCut", "quiet_cuts", "sse", "stream_events"]

MAX_DELTAS_PER_BLOCK = 10
# message_delta carries these cumulative usage fields; the rest exist only in message_start.
_DELTA_USAGE_FIELDS = (
    "input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "server_tool_use",
    "output_tokens_details",
)


class FakeConnectionCut(ConnectionAbortedError):
    """Raised on purpose mid-body so the server drops the connection (``x-fake-script: cut``)."""


class _QuietCuts(logging.Filter):
    """Keeps uvicorn from logging the deliberate cuts as application errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _is_cut(record.exc_info[1] if record.exc_info else None)


def _is_cut(exc: BaseException | None) -> bool:
    if isinstance(exc, FakeConnectionCut):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(_is_cut(e) for e in exc.exceptions)
    return False


def quiet_cuts() -> None:
    """Install (once) the filter that silences deliberate cuts in uvicorn's error log."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietCuts) for f in logger.filters):
        logger.addFilter(_QuietCuts())


def sse(event: dict[str, Any]) -> bytes:
    """One server-sent event, named after its ``type``."""
    return f"event: {event['type']}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def _dump(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    return model.model_validate(data).model_dump(mode="json", exclude_none=True)


def _chunks(text: str, parts: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """content_block_start, its deltas and content_block_stop for one final content block."""
    kind = block["type"]
    if kind in ("tool_use", "server_tool_use"):
        start_block = {**block, "input": {}}
        deltas = [
            {"type": "input_json_delta", "partial_json": part}
            for part in _chunks(json.dumps(block["input"]), MAX_DELTAS_PER_BLOCK // 2)
        ]
    elif kind == "thinking":
        start_block = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": part} for part in _chunks(block["thinking"], MAX_DELTAS_PER_BLOCK)]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start_block = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": part} for part in _chunks(block.get("text", ""), MAX_DELTAS_PER_BLOCK)]
    else:  # results (web_search_tool_result, ...) arrive whole in their start event
        start_block, deltas = block, []
    events = [_dump(RawContentBlockStartEvent, {"type": "content_block_start", "index": index, "content_block": start_block})]
    events += [_dump(RawContentBlockDeltaEvent, {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(_dump(RawContentBlockStopEvent, {"type": "content_block_stop", "index": index}))
    return events


def _start_event(message: dict[str, Any]) -> dict[str, Any]:
    initial = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    initial["usage"] = {**message["usage"], "output_tokens": 1, "server_tool_use": None, "output_tokens_details": None}
    event = RawMessageStartEvent.model_validate({"type": "message_start", "message": initial})
    return event.model_dump(mode="json")


def _delta_event(message: dict[str, Any]) -> dict[str, Any]:
    usage = {k: message["usage"].get(k) for k in _DELTA_USAGE_FIELDS}
    data = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]},
        "usage": usage,
    }
    return RawMessageDeltaEvent.model_validate(data).model_dump(mode="json")


def _error_event(request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": request_id}


async def stream_events(
    message: dict[str, Any], action: str, request_id: str, ttft: float, total: float,
    on_complete: Callable[[], None] | None = None,
) -> AsyncIterator[bytes]:
    """Yield the SSE bytes of ``message``; ``action`` may be ``sse-error`` or ``cut``.

    ``on_complete`` runs once the whole answer is sent but for ``message_stop`` (so it has run
    by the time the client sees the stream end); never for a stream that fails part-way.
    """
    await asyncio.sleep(ttft)
    yield sse(_start_event(message))
    body: list[dict[str, Any]] = []
    for index, block in enumerate(message["content"]):
        events = _block_events(index, block)
        body += events[:1] + ([{"type": "ping"}] if index == 0 else []) + events[1:]
    # The rest of the latency is spread over the text deltas, so the stream ends at ``total``.
    deltas = sum(1 for event in body if event["type"] == "content_block_delta")
    pause = max(0.0, total - ttft) / max(1, deltas)
    for position, event in enumerate(body):
        if position >= 3 and action in ("sse-error", "cut"):
            break
        yield sse(event)
        if event["type"] == "content_block_delta" and pause:
            await asyncio.sleep(pause)
    if action == "sse-error":
        yield sse(_error_event(request_id))
        return
    if action == "cut":
        # Raising after the body started makes the server drop the connection mid-stream.
        raise FakeConnectionCut("x-fake-script: cut")
    yield sse(_delta_event(message))
    if on_complete is not None:
        on_complete()
    yield sse(RawMessageStopEvent(type="message_stop").model_dump(mode="json"))
