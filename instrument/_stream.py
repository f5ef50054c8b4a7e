"""Stream observation: the SDK's own Stream keeps its identity, only its iterator is wrapped.

``Stream._iterator`` is where every consumer (plain iteration, ``MessageStream``, the
``text_stream`` helpers) pulls events from, so a wrapper there sees each event once. The
wrapper ends the call's span exactly once: when the stream is exhausted (``read``), fails
mid-way (``failed``), is closed (``closed``, via the patched ``close``) or is dropped and
garbage-collected (``abandoned``). It never references the Stream, so dropping the Stream
still frees it.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from claudescope import semconv as sc

from ._call import CONTENT_RESPONSE_SITE, Call
from ._extract import stop_attributes

# Fault sites (see _safety).
_EVENT_SITE = "stream event"
_END_SITE = "stream end"
_ATTACH_SITE = "stream attach"


class _Observer:
    """Reads usage and stop reason off raw stream events into the Call."""

    __slots__ = ("call", "delta_seen", "texts")

    def __init__(self, call: Call) -> None:
        self.call = call
        self.delta_seen = False
        self.texts: list[str] | None = [] if call.runtime.content.enabled else None

    def event(self, event: Any) -> None:
        """Usage, stop reason, first-chunk time and (opted in) text from one event."""
        call = self.call
        if call.first_chunk is None:
            call.chunk()
        kind = getattr(event, "type", None)
        if kind == "message_start":
            call.message(event.message)
        elif kind == "message_delta":
            self.delta_seen = True
            # Cumulative totals: overwrite, never add.
            call.usage.merge(getattr(event, "usage", None))
            call.attrs.update(_stop(getattr(event, "delta", None)))
        elif kind == "content_block_delta" and self.texts is not None:
            text = getattr(getattr(event, "delta", None), "text", None)
            if isinstance(text, str):
                self.texts.append(text)

    def end(self, reason: str, exc: BaseException | None = None) -> None:
        """End the call's span (once) the way the stream ended; faults never escape."""
        call = self.call
        try:
            if call.finished:
                return
            if exc is not None:
                call.fail(exc)
            if not self.delta_seen:
                call.attrs[sc.CS_USAGE_INCOMPLETE] = True
            if self.texts:
                reply = SimpleNamespace(content=[{"type": "text", "text": "".join(self.texts)}],
                                        stop_reason=call.attrs.get(sc.ANTHROPIC_STOP_REASON))
                runtime = call.runtime
                runtime.enrich(CONTENT_RESPONSE_SITE, call.attrs, runtime.content.response_attributes, reply)
            call.finish(reason)
        except Exception:  # noqa: BLE001 - never reach the app
            call.runtime.faults.site(_END_SITE).fault()

    def observe(self, event: Any) -> None:
        """Per event, so kept lean: a content_block_delta (nearly every event of a stream)
        costs one type check unless content is captured; faults never escape."""
        try:
            if getattr(event, "type", None) != "content_block_delta" or self.texts is not None \
                    or self.call.first_chunk is None:
                self.event(event)
        except Exception:  # noqa: BLE001 - inline: this runs per event
            self.call.runtime.faults.site(_EVENT_SITE).fault()

    def close(self) -> None:
        self.end("closed")

    def __del__(self) -> None:
        # A stream the app dropped without reading to the end still ends its span, once.
        if not self.call.finished:
            self.end("abandoned")


def _stop(delta: Any) -> dict[str, Any]:
    return stop_attributes(getattr(delta, "stop_reason", None))


class TracedIterator(_Observer):
    """Wraps a sync Stream's event iterator."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any, call: Call) -> None:
        super().__init__(call)
        self.inner = inner

    def __iter__(self) -> "TracedIterator":
        return self

    def __next__(self) -> Any:
        try:
            item = self.inner.__next__()
        except StopIteration:
            self.end("read")
            raise
        except BaseException as exc:
            self.end("failed", exc)
            raise
        self.observe(item)
        return item


class AsyncTracedIterator(_Observer):
    """Wraps an AsyncStream's event iterator."""

    __slots__ = ("inner",)

    def __init__(self, inner: Any, call: Call) -> None:
        super().__init__(call)
        self.inner = inner

    def __aiter__(self) -> "AsyncTracedIterator":
        return self

    async def __anext__(self) -> Any:
        try:
            item = await self.inner.__anext__()
        except StopAsyncIteration:
            self.end("read")
            raise
        except BaseException as exc:
            self.end("failed", exc)
            raise
        self.observe(item)
        return item


def attach(stream: Any, call: Call, is_async: bool) -> bool:
    """Put a traced iterator in front of the stream's own; False when the object is not a
    Stream (or on a fault: the caller then ends the call at once)."""
    try:
        if not hasattr(type(stream), "_iterator"):
            return False
        inner = stream._iterator  # builds the SDK's generator (on a copy of the stream)
        wrapper = AsyncTracedIterator(inner, call) if is_async else TracedIterator(inner, call)
        stream.__dict__["_iterator"] = wrapper
        response = getattr(stream, "response", None)
        if response is not None:
            call.headers(getattr(response, "headers", None))
            status = getattr(response, "status_code", None)
            if isinstance(status, int):
                call.attrs[sc.HTTP_RESPONSE_STATUS_CODE] = status
        return True
    except Exception:  # noqa: BLE001 - never reach the app
        call.runtime.faults.site(_ATTACH_SITE).fault()
        return False


def on_close(stream: Any) -> None:
    """Called by the patched Stream.close / AsyncStream.close."""
    wrapper = getattr(stream, "__dict__", {}).get("_iterator")
    if isinstance(wrapper, (TracedIterator, AsyncTracedIterator)):
        wrapper.close()
