"""OTLP spans -> ``calls`` rows (columnar), priced at ingest.

This is the ingest hot loop, so it works on the parsed protobuf directly: one pass over each
span's attributes into a dict, then the alias table (``aliases``) picks each field. Spans that
are not Claude calls are skipped; spans that cannot be a call are rejected with a reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


from claudescope.collector import aliases as al
from claudescope.collector import otlp
from claudescope.collector.coerce import as_bool as _bool
from claudescope.collector.coerce import as_count as _count
from claudescope.collector.coerce import as_int32 as _int32
from claudescope.collector.coerce import as_num as _num
from claudescope.collector.coerce import as_str as _str
from claudescope.collector.columns import SPANS_ARROW_SCHEMA
from claudescope.config import Limits
from claudescope.pricing import PriceTable, Usage
from claudescope.semconv import CS_EXTRA_PREFIX

_MIN_NS = 946_684_800 * 10**9  # 2000-01-01
_MAX_NS = 4_102_444_800 * 10**9  # 2100-01-01
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_ZERO = Decimal("0E-9")
_STATUS_ERROR = 2
TRUNCATED_MARK = "claudescope.truncated_attributes"
DROPPED_MARK = "claudescope.dropped_attributes"
_COLUMNS = SPANS_ARROW_SCHEMA.names
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
# attribute name -> [(field, preference)]: one pass over a span's attributes fills every field
# (the ingest hot loop; a name can feed several fields, e.g. llm.model_name).
_ALIAS_POS: dict[str, list[tuple[str, int]]] = {}
for _field_name, _names in _FIELDS.items():
    for _pref, _name in enumerate(_names):
        _ALIAS_POS.setdefault(_name, []).append((_field_name, _pref))
_CONSUMED = frozenset(_ALIAS_POS)
# Fields with one alias are a single lookup; the others try their aliases in preference order.
_SINGLE = tuple((f, names[0]) for f, names in _FIELDS.items() if len(names) == 1)
_MULTI = tuple((f, names) for f, names in _FIELDS.items() if len(names) > 1)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
_MAX_KEY_CACHE = 4096  # attribute names come from senders: bound the per-name cache
_MAX_DECODED = 50_000  # distinct small attributes remembered (~10 MB at most)
# Attributes whose value differs on every span: remembering them would only evict the rest.
_UNIQUE_VALUED = frozenset((*al.RESPONSE_ID, *al.REQUEST_ID))


_ROW_ORDER = (
    "trace_id", "span_id", "start_time", "end_time", "duration_ms", "ttft_ms", "service_name", "operation",
    "request_model", "response_model", "stream", "status", "error_type", "http_status", "retries", "stop_reason",
    "max_tokens", "input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
    "output_tokens", "web_search_requests", "service_tier", "inference_geo", "speed", "user_id", "feature",
    "prompt_version", "cost_usd", "cost_input_usd", "cost_output_usd", "cost_cache_read_usd",
    "cost_cache_write_usd", "cost_other_usd", "price_version", "response_id", "request_id", "source",
    "attributes", "parent_span_id", "source_rank", "superseded", "ingested_at",
)
if tuple(_COLUMNS) != _ROW_ORDER:  # schema.py changed: update _row to match
    raise ImportError(f"normalize._row is out of date with the calls schema: {_COLUMNS}")


@dataclass(slots=True)
class Batch:
    """The outcome of normalising one export request."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    ignored: int = 0
    unpriced: int = 0
    truncated_values: int = 0
    dropped_attributes: int = 0

    def rejection_message(self) -> str:
        """English summary for OTLP partial_success (empty when nothing was rejected)."""
        return "; ".join(f"{n} span(s) rejected: {reason}" for reason, n in sorted(self.rejected.items()))


class Normalizer:
    """Turns parsed export requests into priced call rows."""

    def __init__(self, prices: PriceTable, limits: Limits) -> None:
        self._prices = prices
        self._max_value = limits.max_attribute_value_bytes
        self._max_attrs = limits.max_attributes_per_span
        # attribute name -> its name in the attributes JSON (None: not stored), per content rule
        self._rest_names: dict[bool, dict[str, str | None]] = {True: {}, False: {}}
        # serialized KeyValue -> (key, value, False): most attributes repeat across spans
        self._decoded: dict[bytes, tuple[str, Any, bool]] = {}
        # (attribute names in order, drop content) -> _plan(): per span shape
        self._plans: dict[tuple[tuple[str, ...], bool], _Plan] = {}

    def normalize(self, request: Any, *, now: datetime | None = None) -> Batch:
        """Normalise every span of a request from ``otlp.decode_traces_lazy``."""
        batch = Batch()
        ingested = now or datetime.now(UTC)
        for rs in request.resource_spans:
            service = None
            for kv in rs.resource.attributes:
                if kv.key == "service.name":
                    service = kv.value.string_value or None
            for ss in rs.scope_spans:
                source, rank = al.source_of(ss.scope.name)
                for span in ss.spans:
                    self._one(span, source, rank, service, ingested, batch)
        return batch

    def _one(self, span: Any, source: str, rank: int, service: str | None, ingested: datetime, batch: Batch) -> None:
        attrs = self._attributes(span, batch)
        picked, rest = self._split(attrs, source in al.CONTENT_BY_DEFAULT)
        operation = _operation(span.name, source, attrs, picked)
        if operation is None:
            batch.ignored += 1
            return
        reason = _invalid(span)
        if reason:
            batch.rejected[reason] += 1
            return
        batch.rows.append(self._row(span, picked, rest, operation, source, rank, service, ingested, batch))

    def _attributes(self, span: Any, batch: Batch) -> dict[str, Any]:
        """Every attribute of the span, by name (oversize values truncated)."""
        items = span.attributes
        count = len(items)
        dropped = 0
        if count > self._max_attrs:
            dropped = count - self._max_attrs
            batch.dropped_attributes += dropped
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
            self._truncate(attrs, batch)
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
        if None in values:  # an empty AnyValue: the per-name rules decide (rare)
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
            if not big and kv.key not in _UNIQUE_VALUED:
                if len(self._decoded) >= _MAX_DECODED:
                    self._decoded.clear()
                self._decoded[blob] = known
            return known
        plain = _value(value)
        return kv.key, plain, plain.__class__ is str and len(plain) > self._max_value // 4

    def _truncate(self, attrs: dict[str, Any], batch: Batch) -> None:
        limit = self._max_value
        truncated = []
        for key, value in attrs.items():
            if value.__class__ is str and len(value) > limit // 4 and len(value.encode()) > limit:
                attrs[key] = value.encode()[:limit].decode("utf-8", "ignore")
                truncated.append(key)
        if truncated:
            batch.truncated_values += len(truncated)
            attrs[TRUNCATED_MARK] = truncated

    def _row(
        self, span: Any, p: dict[str, Any], rest: dict[str, Any], operation: str, source: str, rank: int,
        service: str | None, ingested: datetime, batch: Batch,
    ) -> tuple[Any, ...]:
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        error_type = _error_type(p.get("error_type"))
        failed = span.status.code == _STATUS_ERROR or error_type is not None
        if failed and error_type is None:
            error_type = "error"
        usage = _usage(p, source)
        request_model = _str(p.get("request_model"))
        response_model = _str(p.get("response_model"))
        cost, version = self._cost(operation, failed, response_model or request_model, usage, batch)
        ttft = _num(p.get("ttft_s"))
        # Order is SPANS_ARROW_SCHEMA's (checked at import below).
        return (
            span.trace_id.hex(), span.span_id.hex(), start // 1000, end // 1000, (end - start) / 1e6,
            ttft * 1000.0 if ttft is not None else None, service, operation, request_model, response_model,
            _bool(p.get("stream")), "error" if failed else "ok", error_type, _int32(p.get("http_status")),
            _int32(p.get("retries")) or 0, _stop_reason(p), _max_tokens(p),
            usage.input_tokens, usage.cache_read_tokens, usage.cache_write_5m_tokens, usage.cache_write_1h_tokens,
            usage.output_tokens, usage.web_search_requests, usage.service_tier, usage.inference_geo, usage.speed,
            _str(p.get("user_id")), _str(p.get("feature")), _str(p.get("prompt_version")),
            *cost, version, _str(p.get("response_id")), _str(p.get("request_id")), source,
            _JSON.encode(rest) if rest else None,
            span.parent_span_id.hex() or None, rank, False, ingested,
        )

    def _cost(self, operation: str, failed: bool, model: str | None, usage: Usage, batch: Batch) -> tuple[tuple[Any, ...], str | None]:
        if failed or operation in _UNBILLED_OPERATIONS:
            # Nothing is billed for a failed call, a token count or batch bookkeeping (SPEC §4):
            # zero, not unknown. The batch's results are priced one by one (batch_result).
            parts = (_ZERO,) * 6
            version = self._prices.version
        else:
            cost = self._prices.price(model, usage)
            if cost is None:
                batch.unpriced += 1
                parts, version = (None,) * 6, None
            else:
                parts = (cost.total_usd, cost.input_usd, cost.output_usd, cost.cache_read_usd, cost.cache_write_usd, cost.other_usd)
                version = cost.price_version
        return parts, version


_UNBILLED_OPERATIONS = frozenset((
    "count_tokens", "batch_create", "batch_retrieve", "batch_list", "batch_results", "batch_cancel", "batch_delete",
))
_SCALAR_KINDS = frozenset(("string_value", "int_value", "double_value", "bool_value"))


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


def _operation(span_name: str, source: str, attrs: dict[str, Any], p: dict[str, Any]) -> str | None:
    """The call's operation, or None when the span is not a Claude API call."""
    if source == al.ANTHROPIC_SDK[0]:
        return al.SDK_SPAN_OPERATIONS.get(span_name)
    provider = p.get("provider")
    operation = p.get("operation")
    if source == al.OPENINFERENCE[0] and attrs.get("openinference.span.kind") == "LLM":
        operation = operation or "chat"
    if operation is None and provider is None:
        return None
    if isinstance(provider, str) and provider.lower() not in ("anthropic", "aws.bedrock", "gcp.vertex_ai", "claude"):
        model = p.get("request_model") or ""
        if "claude" not in str(model).lower():
            return None
    if source != al.CLAUDESCOPE[0] and span_name.endswith("count_tokens"):
        return "count_tokens"
    return str(operation) if operation else "chat"


def _invalid(span: Any) -> str | None:
    """Why this span cannot be a call, or None."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or trace_id == _ZERO_TRACE:
        return "invalid trace_id (must be 16 non-zero bytes)"
    if len(span_id) != 8 or span_id == _ZERO_SPAN:
        return "invalid span_id (must be 8 non-zero bytes)"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if not (_MIN_NS <= start < _MAX_NS and _MIN_NS <= end < _MAX_NS):
        return "timestamp outside 2000-2100"
    if end < start:
        return "end time before start time"
    return None


def _usage(p: dict[str, Any], source: str) -> Usage:
    raw = _raw_usage(p) if "usage_raw" in p else None
    cache_read = _count(raw.get("cache_read_input_tokens")) if raw else _count(p.get("cache_read"))
    write_total = _count(raw.get("cache_creation_input_tokens")) if raw else _count(p.get("cache_write"))
    w5m, w1h = p.get("cache_write_5m"), p.get("cache_write_1h")
    split = raw.get("cache_creation") if raw else None
    if isinstance(split, dict):
        w5m, w1h = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
    if w5m is None and w1h is None:
        w5m_n, w1h_n = write_total, 0  # no TTL split reported: the default 5-minute cache
    else:
        w1h_n = _count(w1h)
        w5m_n = _count(w5m) if w5m is not None else max(write_total - w1h_n, 0)
    uncached = p.get("uncached_input")
    if raw and "input_tokens" in raw:
        uncached = raw["input_tokens"]
    if uncached is None:
        total = _count(p.get("input_total"))
        uncached = total if source in al.INPUT_EXCLUDES_CACHE else max(total - cache_read - max(write_total, w5m_n + w1h_n), 0)
    output = raw.get("output_tokens") if raw and "output_tokens" in raw else p.get("output")
    return Usage(
        input_tokens=_count(uncached),
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=w5m_n,
        cache_write_1h_tokens=w1h_n,
        output_tokens=_count(output),
        web_search_requests=_count(p.get("web_search")) or _raw_web_search(raw),
        service_tier=_str(p.get("service_tier")) or _str((raw or {}).get("service_tier")),
        inference_geo=_str(p.get("inference_geo")) or _str((raw or {}).get("inference_geo")),
        speed=_str(p.get("speed")) or _str((raw or {}).get("speed")),
    )


def _raw_web_search(raw: dict[str, Any] | None) -> int:
    tools = raw.get("server_tool_use") if raw else None
    return _count(tools.get("web_search_requests")) if isinstance(tools, dict) else 0


def _raw_usage(p: dict[str, Any]) -> dict[str, Any] | None:
    raw = p.get("usage_raw")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) else None


def _stop_reason(p: dict[str, Any]) -> str | None:
    raw = p.get("stop_reason")
    if raw is not None:
        return _str(raw)
    finish = p.get("finish_reasons")
    if isinstance(finish, str) and finish.startswith("["):
        finish = _json_or_none(finish)  # Logfire sends the list as a JSON string
    if isinstance(finish, list):
        finish = finish[0] if finish else None
    if finish is None:
        return None
    finish = str(finish)
    return al.FINISH_REASON_TO_STOP.get(finish, finish)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _max_tokens(p: dict[str, Any]) -> int | None:
    value = _int32(p.get("max_tokens"))
    if value is None:
        params = p.get("invocation_parameters")  # OpenInference: request parameters as JSON
        if isinstance(params, str):
            parsed = _json_or_none(params)
            if isinstance(parsed, dict):
                value = _int32(parsed.get("max_tokens"))
    return value


def _error_type(value: Any) -> str | None:
    if value is None or value == "":
        return None
    name = str(value).rsplit(".", 1)[-1]
    return al.EXCEPTION_TO_ERROR_TYPE.get(name, name)


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
        if len(names) >= _MAX_KEY_CACHE:
            names.clear()
        name = names[key] = _rest_name(key, drop_content)
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
