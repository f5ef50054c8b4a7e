"""Opt-in message content capture in the GenAI semantic-convention JSON shape.

Off unless ``capture_content=True`` or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
asks for it. Each attribute is capped at ``max_bytes`` (cut on a character boundary and
flagged), and every text part goes through the user's ``redact`` hook first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claudescope import semconv as sc

DEFAULT_MAX_BYTES = 64 * 1024
_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"}
_STOP_TO_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call"}


def parse_capture_env(value: str | None) -> bool:
    """Whether OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT asks for content."""
    return value is not None and value.strip().lower() in _TRUE


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """Whether and how message content is recorded."""

    enabled: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    redact: Callable[[str], str] | None = None

    def request_attributes(self, body: Any) -> dict[str, Any]:
        """gen_ai.system_instructions and gen_ai.input.messages for a request body."""
        if not self.enabled or not isinstance(body, Mapping):
            return {}
        attrs: dict[str, Any] = {}
        system = body.get("system")
        if system:
            parts = [_part({"type": "text", "text": system})] if isinstance(system, str) else [_part(b) for b in system]
            attrs.update(self._encode(sc.GEN_AI_SYSTEM_INSTRUCTIONS, parts))
        messages = body.get("messages")
        if isinstance(messages, list):
            attrs.update(self._encode(sc.GEN_AI_INPUT_MESSAGES, [_message(m) for m in messages]))
        return attrs

    def response_attributes(self, message: Any) -> dict[str, Any]:
        """gen_ai.output.messages for a response Message."""
        if not self.enabled:
            return {}
        blocks = getattr(message, "content", None) or []
        stop = getattr(message, "stop_reason", None)
        output = {
            "role": "assistant",
            "parts": [_part(_dump(b)) for b in blocks],
            "finish_reason": _STOP_TO_FINISH.get(stop, stop or ""),
        }
        return self._encode(sc.GEN_AI_OUTPUT_MESSAGES, [output])

    def _encode(self, name: str, value: list[Any]) -> dict[str, Any]:
        if self.redact is not None:
            value = _redact(value, self.redact)
        text = json.dumps(value, ensure_ascii=False, default=str)
        raw = text.encode("utf-8")
        if len(raw) <= self.max_bytes:
            return {name: text}
        cut = raw[: self.max_bytes].decode("utf-8", errors="ignore")
        return {name: cut, sc.CS_CAPTURE_TRUNCATED: True}


def _dump(block: Any) -> Any:
    dump = getattr(block, "model_dump", None)
    return dump(mode="json", exclude_none=True) if callable(dump) else block


def _message(message: Any) -> dict[str, Any]:
    if not isinstance(message, Mapping):
        return {"role": "user", "parts": [{"type": "text", "content": str(message)}]}
    content = message.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    return {"role": str(message.get("role", "user")), "parts": [_part(b) for b in blocks]}


def _part(block: Any) -> dict[str, Any]:
    """One content block in the convention's part shape."""
    if not isinstance(block, Mapping):
        return {"type": "text", "content": str(block)}
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "content": block.get("text", "")}
    if kind == "thinking":
        return {"type": "reasoning", "content": block.get("thinking", "")}
    if kind in ("tool_use", "server_tool_use"):
        return {"type": "tool_call", "id": block.get("id"), "name": block.get("name"), "arguments": block.get("input")}
    if kind == "tool_result":
        return {"type": "tool_call_response", "id": block.get("tool_use_id"), "response": block.get("content")}
    return {"type": str(kind or "unknown")}


def _redact(value: Any, hook: Callable[[str], str]) -> Any:
    """Apply hook to every text content/arguments string; the structure is kept."""
    if isinstance(value, list):
        return [_redact(v, hook) for v in value]
    if isinstance(value, dict):
        return {k: (hook(v) if k == "content" and isinstance(v, str) else _redact(v, hook)) for k, v in value.items()}
    return value
