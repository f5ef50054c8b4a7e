"""Span attributes -> (every attribute, the alias-table fields, the attributes-JSON entries).

The hottest part of ingest. Attributes arrive as serialized ``KeyValue`` bytes
(``otlp.decode_traces_lazy``); each distinct small one is decoded once and remembered by its
bytes, since most repeat from span to span (provider, model, feature, user...). Which attribute
feeds which ``calls`` field through the alias table, and which are kept in the ``attributes``
JSON under what name, is worked out once per span shape (producers send the same names in the
same order) and applied by position. Every cache is bounded, whatever senders send.
"""

from __future__ import annotations

from typing import Any

from claudescope import semconv as sc
from claudescope.collector import aliases as al
from claudescope.collector import otlp
from claudescope.config import Limits
from claudescope.semconv import CS_EXTRA_PREFIX

TRUNCATED_MARK = sc.CS_TRUNCATED_ATTRIBUTES
DROPPED_MARK = sc.CS_DROPPED_ATTRIBUTES
# calls field -> the attribute names that carry it, most preferred first (the alias table).
_FIELDS: dict[str, tuple[str, ...]] = {
    "provider": al.PROVIDER, "operation": al.OPERATION, "request_model": al.REQUEST_MODEL,
    "response_model": al.RESPONSE_MODEL, "stream": al.STREAM, "error_type": al.ERROR_TYPE,
    "http_status": al.HTTP_STATUS, "retries": al.RETRIES, "stop_reason": al.STOP_REASON,
    "finish_reasons": al.FINISH_REASONS, "max_tokens": al.MAX_TOKENS, "uncached_input": al.UNCACHED_INPUT,
    "input_total": al.INPUT_TOTAL, "cache_read": al.CACHE_READ, "cache_write": al.CACHE_WRITE,
    "cache_write_5m": al.CACHE_WRITE_5M, "cache_write_1h": al.CACHE_WRITE_1H, "output": al.OUTPUT,
    "web_search": al.WEB_SEARCH, "service_tier": al.SERVICE_TIER, "inference_geo": al.INFERENCE_GEO,
    "speed": al.SPEED, "user_id": al.USER_ID, "feature": al.FEATURE, "prompt_version": al.PROMPT_VERSION,
    "response_id": al.RESPONSE_ID, "request_id": al.REQUEST_ID, "ttft_s": al.TTFT_S, "usage_raw": al.USAGE_RAW,
    "invocation_parameters": (al.INVOCATION_PARAMETERS,),
}
# Attributes stored in a column, so not repeated in the attributes JSON.
_CONSUMED = frozenset(name for names in _FIELDS.values() for name in names)
# Fields with one alias are a single lookup; the others try their aliases in preference order.
_SINGLE = tuple((f, names[0]) for f, names in _FIELDS.items() if len(names) == 1)
_MULTI = tuple((f, names) for f, names in _FIELDS.items() if len(names) > 1)
_MAX_KEY_CACHE = 4096  # attribute names come from senders: bound the per-name cache
_MAX_DECODED = 50_000  # distinct small attributes remembered, each at most _MAX_DECODED_BYTES:
_MAX_DECODED_BYTES = 256  # ~20 MB in all, whatever senders send
# Span shapes are remembered only for spans with at most this many attributes and name characters.
_MAX_PLANNED_ATTRS = 128
_MAX_PLANNED_NAME_CHARS = 8192
# Attributes whose value differs on every span: remembering them would only evict the rest.
_UNIQUE_VALUED = frozenset((*al.RESPONSE_ID, *al.REQUEST_ID))
_SCALAR_KINDS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


class AttributeReader:
    """Reads span attributes for one normaliser (its caches are per process, not shared)."""

    def __init__(self, limits: Limits) -> None:
        self._max_value = limits.max_attribute_value_bytes
        self._max_attrs = limits.max_attributes_per_span
        # attribute name -> its name in the attributes JSON (None: not stored), per content rule
        self._rest_names: dict[bool, dict[str, str | None]] = {True: {}, False: {}}
        # serialized KeyValue -> (key, value, False): most attributes repeat across spans
        self._decoded: dict[bytes, tuple[str, Any, bool]] = {}
        # (attribute names in order, drop content) -> _plan(): per span shape
        self._plans: dict[tuple[tuple[str, ...], bool], _Plan] = {}

    def read(self, span: Any, drop_content: bool, counts: list[int]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """(every attribute by name, alias-table fields, attributes-JSON entries) of ``span``;
        adds the values truncated and attributes dropped to ``counts[0]`` and ``counts[1]``."""
        attrs = self._attributes(span, counts)
        picked, rest = self._split(attrs, drop_content)
        return attrs, picked, rest

    def _attributes(self, span: Any, counts: list[int]) -> dict[str, Any]:
        """Every attribute of the span, by name (oversize values truncated)."""
        items = span.attributes
        count = len(items)
        dropped = 0
        if count > self._max_attrs:
            dropped = count - self._max_attrs
            counts[1] += dropped
            items = items[: self._max_attrs]
        attrs: dict[str, Any] = {}
        cache = self._decoded
        oversize = False
        for blob in items:
            known = cache.get(blob)
            if known is None:
                known = self._decode_attribute(blob)
            key, value, big = known
            attrs[key] = value
            if big:
                oversize = True
        if oversize:
            self._truncate(attrs, counts)
        if dropped:
            attrs[DROPPED_MARK] = dropped
        return attrs

    def _split(self, attrs: dict[str, Any], drop_content: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the alias-table fields, the attributes JSON's entries) of one span.

        Spans of one producer carry the same attribute names in the same order, so which
        attribute feeds which field (and which are stored, under what name) is worked out once
        per such shape and then applied by position.
        """
        values = list(attrs.values())
        if None in values or len(values) > _MAX_PLANNED_ATTRS or sum(map(len, attrs)) > _MAX_PLANNED_NAME_CHARS:
            # An empty AnyValue or an outsized span (rare): the per-name rules decide.
            return _pick(attrs), _rest(attrs, drop_content, self._rest_names[drop_content])
        shape = (tuple(attrs), drop_content)
        plan = self._plans.get(shape)
        if plan is None:
            if len(self._plans) >= _MAX_KEY_CACHE:
                self._plans.clear()
            plan = self._plans[shape] = _plan(shape[0], drop_content, self._rest_names[drop_content])
        picks, stored = plan
        return {f: values[i] for f, i in picks}, {name: values[i] for i, name in stored}

    def _decode_attribute(self, blob: bytes) -> tuple[str, Any, bool]:
        """(key, value, may exceed the value limit) of one serialized KeyValue, cached by its
        bytes when it is a small scalar (the common, repeating case)."""
        kv = otlp.decode_attribute(blob)
        value = kv.value
        kind = value.WhichOneof("value")
        if kind in _SCALAR_KINDS:
            plain = getattr(value, kind)
            # Only a string longer than a quarter of the value limit can exceed it in UTF-8 bytes.
            big = kind == "string_value" and len(plain) > self._max_value // 4
            known = (kv.key, plain, big)
            if len(blob) <= _MAX_DECODED_BYTES and kv.key not in _UNIQUE_VALUED:
                if len(self._decoded) >= _MAX_DECODED:
                    self._decoded.clear()
                self._decoded[blob] = known
            return known
        plain = _value(value)
        return kv.key, plain, plain.__class__ is str and len(plain) > self._max_value // 4

    def _truncate(self, attrs: dict[str, Any], counts: list[int]) -> None:
        limit = self._max_value
        truncated = []
        for key, value in attrs.items():
            if value.__class__ is str and len(value) > limit // 4 and len(value.encode()) > limit:
                attrs[key] = value.encode()[:limit].decode("utf-8", "ignore")
                truncated.append(key)
        if truncated:
            counts[0] += len(truncated)
            attrs[TRUNCATED_MARK] = truncated


def _value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind in _SCALAR_KINDS:
        return getattr(v, kind)
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return None


def _pick(attrs: dict[str, Any]) -> dict[str, Any]:
    """Each alias-table field from its most preferred alias present with a value."""
    get = attrs.get
    picked = {}
    for field_name, name in _SINGLE:
        value = get(name)
        if value is not None:
            picked[field_name] = value
    for field_name, names in _MULTI:
        for name in names:
            value = get(name)
            if value is not None:
                picked[field_name] = value
                break
    return picked


def _rest_name(key: str, drop_content: bool) -> str | None:
    """The name ``key`` is stored under in the attributes JSON, or None when it is not stored."""
    if key in _CONSUMED:
        return None
    lowered = key.lower()
    if any(marker in lowered for marker in al.SECRET_MARKERS):
        return None
    if drop_content and (key in al.CONTENT_KEYS or key.startswith(al.CONTENT_PREFIXES)):
        return None
    # SPEC §2: extra attribution keys land in the JSON under their own names.
    if key.startswith(CS_EXTRA_PREFIX):
        return key[len(CS_EXTRA_PREFIX):]
    return key


def _rest(attrs: dict[str, Any], drop_content: bool, names: dict[str, str | None]) -> dict[str, Any]:
    """The attributes not mapped to a column (secrets and default-on content dropped), by the
    name they are stored under; ``names`` caches :func:`_rest_name` (senders repeat names)."""
    rest = {}
    for key, value in attrs.items():
        name = _cached_rest_name(key, drop_content, names)
        if name is not None:
            rest[name] = value
    return rest


def _cached_rest_name(key: str, drop_content: bool, names: dict[str, str | None]) -> str | None:
    try:
        return names[key]
    except KeyError:
        pass
    name = _rest_name(key, drop_content)
    if len(key) <= _MAX_DECODED_BYTES:  # a sender's outsized names are not worth keeping
        if len(names) >= _MAX_KEY_CACHE:
            names.clear()
        names[key] = name
    return name


_Plan = tuple[tuple[tuple[str, int], ...], tuple[tuple[int, str], ...]]


def _plan(keys: tuple[str, ...], drop_content: bool, names: dict[str, str | None]) -> _Plan:
    """For attribute names ``keys`` (all with values): (field, position) of each alias-table
    field's most preferred alias, and (position, stored name) of each attribute to store."""
    position = {key: i for i, key in enumerate(keys)}
    picks = []
    for field_name, aliases in _FIELDS.items():
        for alias in aliases:
            if alias in position:
                picks.append((field_name, position[alias]))
                break
    stored = tuple((i, name) for i, key in enumerate(keys) if (name := _cached_rest_name(key, drop_content, names)) is not None)
    return tuple(picks), stored
