"""The fake API's model of Claude: token counts, prompt caching, output and stop reasons.

Everything here is a pure function of the request body, the seed and the cache state, so the
same request under the same seed gets the same answer. Only the prompt cache is stateful, as
Anthropic's is: the first request carrying a ``cache_control`` breakpoint writes its prefix,
and later requests with the same prefix (and model) within the TTL read it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from claudescope.fakeapi.content import (
    SEARCH_RESULT_TOKENS,
    Plan,
    build_content,
    client_tools,
    thinking_budget,
    web_search_tool,
)

__all__ = [
    "MODEL_ALIASES",
    "PromptCache",
    "Simulated",
    "UsageOverride",
    "context_window",
    "count_input_tokens",
    "resolve_model",
    "simulate",
]

# Only the 4.5 generation has dated snapshot ids behind undated aliases.
MODEL_ALIASES: dict[str, str] = {
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1500  # a typical ~1000x1000 image
MIN_CACHE_TOKENS = 1024  # Anthropic does not cache shorter prefixes
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_GENERATION = re.compile(r"claude-(?:opus|sonnet|haiku|fable|mythos)-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")
DEFAULT_OUTPUT_MEDIAN = 220.0  # tokens; output lengths are log-normal around it



def resolve_model(model: str) -> str:
    """The model id the API answers with: dated snapshot for 4.5 aliases, else as sent."""
    return MODEL_ALIASES.get(model, model)


def context_window(model: str) -> int:
    """Prompt token limit: 1M from the 4.6 generation on, 200K before (and for unknown ids)."""
    found = _GENERATION.search(model)
    if found is None:
        return 200_000
    version = (int(found.group(1)), int(found.group(2) or 0))
    return 1_000_000 if version >= (4, 6) else 200_000


def _tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _block_tokens(block: Any) -> int:
    if isinstance(block, str):
        return _tokens(block)
    if not isinstance(block, dict):
        return _tokens(json.dumps(block, default=str))
    kind = block.get("type")
    if kind == "text":
        return _tokens(str(block.get("text", "")))
    if kind in ("image", "document"):
        return IMAGE_TOKENS
    body = {k: v for k, v in block.items() if k != "cache_control"}
    return _tokens(json.dumps(body, sort_keys=True, default=str))


@dataclass(frozen=True)
class _Segment:
    """One cacheable unit of the prompt, in Anthropic's prefix order (tools, system, messages)."""

    key: str
    tokens: int
    ttl: str | None  # set when this block carries a cache_control breakpoint


def _ttl_of(block: Any) -> str | None:
    if not isinstance(block, dict):
        return None
    cc = block.get("cache_control")
    if not isinstance(cc, dict):
        return None
    return "1h" if cc.get("ttl") == "1h" else "5m"


def _segments(body: dict[str, Any]) -> list[_Segment]:
    blocks: list[Any] = list(body.get("tools") or [])
    system = body.get("system")
    if isinstance(system, str):
        blocks.append({"type": "text", "text": system})
    elif isinstance(system, list):
        blocks.extend(system)
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else message
        role = message.get("role", "") if isinstance(message, dict) else ""
        items = content if isinstance(content, list) else [{"type": "text", "text": str(content or "")}]
        for item in items:
            blocks.append({"role": role, **item} if isinstance(item, dict) else {"role": role, "text": str(item)})
    segments = [
        _Segment(json.dumps(b, sort_keys=True, default=str), _block_tokens(b) + 3, _ttl_of(b)) for b in blocks
    ]
    top = body.get("cache_control")
    if isinstance(top, dict) and segments:
        # Top-level cache_control puts the breakpoint on the last cacheable block.
        last = segments[-1]
        segments[-1] = _Segment(last.key, last.tokens, "1h" if top.get("ttl") == "1h" else "5m")
    return segments


def count_input_tokens(body: dict[str, Any]) -> int:
    """Total prompt tokens (what count_tokens answers): ~4 characters per token, plus framing."""
    return max(1, sum(s.tokens for s in _segments(body)))


class PromptCache:
    """Prefix hash -> (expiry, ttl) with Anthropic's semantics: reads refresh the TTL."""

    def __init__(self, clock: Callable[[], float], min_tokens: int = MIN_CACHE_TOKENS) -> None:
        self._clock = clock
        self._min_tokens = min_tokens
        self._entries: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def apply(self, model: str, segments: list[_Segment], now: float | None = None) -> tuple[int, int, int, int]:
        """Return (uncached input, cache read, write 5m, write 1h) and update the cache.

        ``now`` (seconds) overrides the clock for this request, e.g. a simulated time.
        """
        total = sum(s.tokens for s in segments)
        points = self._breakpoints(model, segments)
        if not points:
            return total, 0, 0, 0
        now = self._clock() if now is None else now
        with self._lock:
            read_upto, read_tokens = 0, 0
            for index, digest, prefix_tokens, _ttl in points:
                entry = self._entries.get(digest)
                if entry and entry[0] > now:
                    read_upto, read_tokens = index + 1, prefix_tokens
            writes = {"5m": 0, "1h": 0}
            covered = read_tokens
            for index, digest, prefix_tokens, ttl in points:
                if index + 1 > read_upto:
                    writes[ttl] += prefix_tokens - covered
                    covered = prefix_tokens
                entry = self._entries.get(digest)
                keep = TTL_SECONDS[entry[1]] if entry else 0.0
                self._entries[digest] = (now + max(TTL_SECONDS[ttl], keep), ttl if not entry else entry[1])
        return total - covered, read_tokens, writes["5m"], writes["1h"]

    def _breakpoints(self, model: str, segments: list[_Segment]) -> list[tuple[int, str, int, str]]:
        digest = hashlib.sha256(model.encode())
        points: list[tuple[int, str, int, str]] = []
        running = 0
        for index, seg in enumerate(segments):
            digest.update(seg.key.encode())
            running += seg.tokens
            if seg.ttl and running >= self._min_tokens:
                points.append((index, digest.copy().hexdigest(), running, seg.ttl))
        return points[-4:]  # the API honours at most four breakpoints


@dataclass(frozen=True)
class UsageOverride:
    """The exact usage asked for by an ``x-fake-usage`` header."""

    input: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    output: int | None = None
    web_search: int | None = None
    web_fetch: int | None = None

    @classmethod
    def parse(cls, header: str) -> UsageOverride:
        """Parse ``input=120,cache_read=3000,...``; raises ValueError on a bad item."""
        values: dict[str, int] = {}
        for item in filter(None, (p.strip() for p in header.split(","))):
            key, sep, raw = item.partition("=")
            if not sep or key.strip() not in cls.__dataclass_fields__:
                raise ValueError(f"bad x-fake-usage item {item!r}")
            values[key.strip()] = int(raw)
        return cls(**values)


@dataclass
class Simulated:
    """One simulated answer: content blocks (API JSON), usage (API JSON) and stop."""

    model: str
    content: list[dict[str, Any]]
    usage: dict[str, Any]
    stop_reason: str
    stop_sequence: str | None = None
    output_tokens: int = 0


def _rng(seed: int, body: dict[str, Any]) -> random.Random:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    return random.Random(seed * 1_000_003 + int.from_bytes(digest[:8], "big"))


def _wants_tool(rng: random.Random, body: dict[str, Any]) -> bool:
    choice = (body.get("tool_choice") or {}).get("type", "auto")
    if not client_tools(body) or choice == "none":
        return False
    return choice in ("any", "tool") or rng.random() < 0.4


def _thinking_tokens(rng: random.Random, body: dict[str, Any]) -> int:
    budget = thinking_budget(body)
    return min(budget, max(16, int(rng.lognormvariate(math.log(600), 0.7)))) if budget else 0


def _searches(rng: random.Random, body: dict[str, Any]) -> int:
    tool = web_search_tool(body)
    if tool is None:
        return 0
    return min(int(tool.get("max_uses") or 5), rng.choice((0, 1, 1, 2, 3)))


def _output_plan(rng: random.Random, body: dict[str, Any], median: float) -> tuple[int, str, str | None]:
    max_tokens = int(body.get("max_tokens") or 1024)
    wanted = max(1, int(rng.lognormvariate(math.log(max(1.0, median)), 0.9)))
    if wanted >= max_tokens:
        return max_tokens, "max_tokens", None
    stops = body.get("stop_sequences") or []
    if stops and rng.random() < 0.15:
        return wanted, "stop_sequence", str(rng.choice(stops))
    return wanted, "end_turn", None


def _stop_for_length(tokens: int, max_tokens: int, stop: str, stop_seq: str | None) -> tuple[str, str | None]:
    """Keep the stop reason consistent with an imposed output length."""
    if 0 < max_tokens <= tokens:
        return "max_tokens", None
    return ("end_turn", None) if stop == "max_tokens" else (stop, stop_seq)


def simulate(
    body: dict[str, Any],
    *,
    seed: int,
    cache: PromptCache,
    override: UsageOverride | None = None,
    stop_override: str | None = None,
    model_override: str | None = None,
    service_tier: str = "standard",
    inference_geo: str | None = None,
    speed: str | None = None,
    output_median: float | None = None,
    now: float | None = None,
) -> Simulated:
    """Answer one Messages request (validated by the caller) the way Claude would."""
    rng = _rng(seed, body)
    model = model_override or resolve_model(str(body["model"]))
    uncached, read, w5, w1h = cache.apply(model, _segments(body), now)
    out_tokens, stop, stop_seq = _output_plan(rng, body, output_median or DEFAULT_OUTPUT_MEDIAN)
    if stop == "end_turn" and _wants_tool(rng, body):
        stop = "tool_use"
    thinking, searches = _thinking_tokens(rng, body), _searches(rng, body)
    max_tokens = int(body.get("max_tokens") or 0)
    if thinking:  # thinking counts as output, within the same max_tokens
        out_tokens = min(max_tokens, out_tokens + thinking) if max_tokens else out_tokens + thinking
        stop, stop_seq = _stop_for_length(out_tokens, max_tokens, stop, stop_seq)
    uncached += searches * SEARCH_RESULT_TOKENS
    if override is not None:
        uncached, read, w5, w1h = override.input, override.cache_read, override.cache_write_5m, override.cache_write_1h
        searches = override.web_search if override.web_search is not None else searches
        if override.output is not None:
            out_tokens = override.output
            stop, stop_seq = _stop_for_length(out_tokens, max_tokens, stop, stop_seq)
    if stop_override:
        stop = stop_override
        stop_seq = str((body.get("stop_sequences") or ["###"])[0]) if stop == "stop_sequence" else None
    thinking = min(thinking, out_tokens)
    usage: dict[str, Any] = {
        "input_tokens": uncached,
        "output_tokens": out_tokens,
        "cache_creation_input_tokens": w5 + w1h,
        "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1h},
        "server_tool_use": _server_tool_use(body, override, searches),
        "output_tokens_details": {"thinking_tokens": thinking} if thinking_budget(body) else None,
        "service_tier": service_tier,
        "inference_geo": inference_geo or "global",
        "speed": speed or "standard",
    }
    content = build_content(rng, body, Plan(out_tokens, stop, thinking, searches))
    return Simulated(model, content, usage, stop, stop_seq, out_tokens)


def _server_tool_use(body: dict[str, Any], override: UsageOverride | None, searches: int) -> dict[str, int] | None:
    asked = override is not None and (override.web_search is not None or override.web_fetch is not None)
    if not asked and web_search_tool(body) is None:
        return None
    fetches = override.web_fetch if override is not None and override.web_fetch is not None else 0
    return {"web_search_requests": searches, "web_fetch_requests": fetches}
