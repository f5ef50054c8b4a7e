"""Content blocks of the fake API's answers: text, tool_use, extended thinking, web search.

Pure functions of a seeded ``random.Random`` and the request body, producing API JSON (the
caller validates it with the SDK's types).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

__all__ = ["Plan", "build_content", "thinking_budget", "web_search_tool", "words"]

_WORDS = (
    "the model reads your request and answers with a short clear reply about cost cache "
    "latency tokens users features prompts tools batches retries streams summary review "
    "classify extract support context window budget trace span collector dashboard alert"
).split()
_ID_CHARS = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SEARCH_RESULT_TOKENS = 1800  # input tokens one web search adds to the prompt


@dataclass(frozen=True)
class Plan:
    """What the answer contains, decided before its blocks are written."""

    output_tokens: int
    stop: str
    thinking_tokens: int = 0
    searches: int = 0


def words(rng: random.Random, tokens: int) -> str:
    """About ``tokens`` tokens of plausible prose."""
    count = max(1, int(tokens * 0.75))
    return " ".join(rng.choice(_WORDS) for _ in range(count)).capitalize() + "."


def _block_id(rng: random.Random, prefix: str) -> str:
    return prefix + "".join(rng.choice(_ID_CHARS) for _ in range(24))


def thinking_budget(body: dict[str, Any]) -> int:
    """Thinking tokens the request allows (0 without extended thinking)."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return 0
    return int(thinking.get("budget_tokens") or 2048)


def web_search_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request's web search server tool, if it offers one."""
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search"):
            return tool
    return None


def client_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Tools the application runs itself (named, no server tool type)."""
    return [
        t for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("name") and not str(t.get("type", "custom")).startswith(("web_", "code_", "bash_"))
    ]


def _tool_input(schema: Any) -> dict[str, Any]:
    props = schema.get("properties", {}) if isinstance(schema, dict) else {}
    samples = {"string": "example", "integer": 3, "number": 1.5, "boolean": True, "array": [], "object": {}}
    return {name: samples.get(spec.get("type", "string"), "example") for name, spec in props.items()}


def _search_blocks(rng: random.Random, searches: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for n in range(searches):
        use_id = _block_id(rng, "srvtoolu_")
        blocks.append({"type": "server_tool_use", "id": use_id, "name": "web_search", "input": {"query": words(rng, 5)}})
        results = [
            {"type": "web_search_result", "url": f"https://example.com/{n}/{k}", "title": words(rng, 6),
             "encrypted_content": _block_id(rng, "enc_"), "page_age": "2 days ago"}
            for k in range(3)
        ]
        blocks.append({"type": "web_search_tool_result", "tool_use_id": use_id, "content": results})
    return blocks


def _tool_use_block(rng: random.Random, body: dict[str, Any]) -> dict[str, Any]:
    tools = client_tools(body) or [{"name": "lookup", "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    named = (body.get("tool_choice") or {}).get("name")
    tool = next((t for t in tools if t["name"] == named), None) or rng.choice(tools)
    return {"type": "tool_use", "id": _block_id(rng, "toolu_"), "name": tool["name"], "input": _tool_input(tool.get("input_schema"))}


def build_content(rng: random.Random, body: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    """The answer's content blocks, in the API's order: thinking, searches, text, tool_use."""
    blocks: list[dict[str, Any]] = []
    if plan.thinking_tokens:
        blocks.append({"type": "thinking", "thinking": words(rng, min(plan.thinking_tokens, 400)),
                       "signature": _block_id(rng, "sig_")})
    blocks += _search_blocks(rng, plan.searches)
    visible = max(1, plan.output_tokens - plan.thinking_tokens)
    if plan.stop == "tool_use":
        blocks.append({"type": "text", "text": words(rng, min(visible, 12))})
        blocks.append(_tool_use_block(rng, body))
    else:
        blocks.append({"type": "text", "text": words(rng, visible)})
    return blocks
