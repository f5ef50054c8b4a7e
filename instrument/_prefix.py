"""Prompt-cache insight without content: a stable fingerprint of the cacheable prefix.

The prefix is what Anthropic caches, in its order: tools, then system, then messages, up to
and including the block that carries the last ``cache_control`` breakpoint (a top-level
``cache_control`` puts the breakpoint at the end of the last message). Without any
breakpoint the prefix is tools + system, so calls that share instructions still group
together and show what caching them would save. Only a hash and a size estimate leave the
process, never the text.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from typing import Any

from claudescope import semconv as sc

# A rough, model-independent estimate: Claude tokenizers average about 4 characters a token
# on English prose and code. Good enough to rank prefixes by size, not to price them.
_CHARS_PER_TOKEN = 4


def prefix_attributes(body: Any) -> Mapping[str, Any] | tuple[tuple[str, Any], ...]:
    """claudescope.cache.* attributes for a messages request body (a mapping or key-value
    pairs, both fit ``dict.update``); empty when there is no prefix."""
    if not is_mapping(body):
        return {}
    system = body.get("system")
    if type(system) is str and not body.get("tools"):
        # The common shape (a plain-string system prompt, no tools) repeats call after call:
        # unless the messages carry a breakpoint, the prefix is that prompt, hashed once.
        messages = body.get("messages")
        if type(messages) is not list or not (_last_breakpoint_index(messages) is not None
                                              or messages and is_mapping(body.get("cache_control"))):
            return _system_only(system) if system else ()
    return _general(body)


def _general(body: Mapping[str, Any]) -> dict[str, Any]:
    parts: list[Any] = []
    last_ttl: str | None = None
    found = False
    for section in ("tools", "system"):
        value = body.get(section)
        if value:
            parts.append([section, value])
            ttl = _last_breakpoint_ttl(value)
            if ttl is not None:
                found, last_ttl = True, ttl
    base = list(parts)
    messages = body.get("messages")
    top_level = body.get("cache_control")
    if isinstance(messages, list):
        cut = _last_breakpoint_index(messages)
        if cut is not None:
            found, last_ttl = True, _ttl(_last_breakpoint_ttl(messages[cut]) or "5m")
            parts.append(["messages", messages[: cut + 1]])
        elif is_mapping(top_level) and messages:
            found, last_ttl = True, _ttl(top_level.get("ttl"))
            parts.append(["messages", messages])
    if not found:
        parts = base
    if not parts:
        return {}
    return _digest(parts, found, last_ttl)


@functools.lru_cache(maxsize=64)
def _system_only(system: str) -> tuple[tuple[str, Any], ...]:
    return tuple(_digest([["system", system]], False, None).items())


def _digest(parts: list[Any], found: bool, last_ttl: str | None) -> dict[str, Any]:
    hasher = hashlib.sha256()
    chars = _feed(hasher, parts)
    attrs: dict[str, Any] = {
        sc.CS_PREFIX_HASH: hasher.hexdigest()[:32],
        sc.CS_PREFIX_TOKENS: max(1, chars // _CHARS_PER_TOKEN),
        sc.CS_PREFIX_HAS_BREAKPOINT: found,
    }
    if found and last_ttl:
        attrs[sc.CS_CACHE_TTL] = last_ttl
    return attrs


def _feed(hasher: Any, value: Any) -> int:
    """Hash a canonical, unambiguous encoding of value (dict keys sorted; every item tagged and
    length-prefixed) without building a JSON string: several times faster on long prompts.
    Returns the number of characters of text seen, for the size estimate."""
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        hasher.update(b"s%d:" % len(data))
        hasher.update(data)
        return len(value)
    if isinstance(value, Mapping):
        hasher.update(b"{%d:" % len(value))
        total = 0
        for key in sorted(value, key=str):
            total += _feed(hasher, str(key)) + _feed(hasher, value[key])
        return total
    if isinstance(value, (list, tuple)):
        hasher.update(b"[%d:" % len(value))
        return sum(_feed(hasher, item) for item in value)
    text = repr(value) if value is None or isinstance(value, (bool, int, float)) else str(value)
    hasher.update(b"v%d:" % len(text))
    hasher.update(text.encode("utf-8", "surrogatepass"))
    return len(text)


# Concrete types first: an ABC isinstance() check costs several times a plain one.
_SCALARS = (str, int, float, bool, type(None), bytes)


def is_mapping(value: Any) -> bool:
    """isinstance(value, Mapping), decided once per type (SDK bodies carry ``Omit`` sentinels,
    whose ABC check would otherwise run on every call)."""
    cls = type(value)
    return cls is dict or _is_mapping_type(cls)


@functools.lru_cache(maxsize=256)
def _is_mapping_type(cls: type) -> bool:
    return issubclass(cls, Mapping)


def _ttl(value: Any) -> str:
    return value if isinstance(value, str) and value else "5m"


def _last_breakpoint_index(messages: list[Any]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if _last_breakpoint_ttl(messages[index]) is not None:
            return index
    return None


def _last_breakpoint_ttl(value: Any) -> str | None:
    """TTL of the last cache_control found anywhere inside value, or None if there is none."""
    found: str | None = None
    if is_mapping(value):
        control = value.get("cache_control")
        if is_mapping(control):
            found = _ttl(control.get("ttl"))
        for key, item in value.items():
            if key != "cache_control" and not isinstance(item, _SCALARS):
                found = _last_breakpoint_ttl(item) or found
    elif isinstance(value, list):
        for item in value:
            found = _last_breakpoint_ttl(item) or found
    return found
