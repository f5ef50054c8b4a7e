"""OTLP spans -> ``calls`` rows (columnar), priced at ingest.

The ingest hot loop: ``attributes`` reads each span's attributes and picks the alias-table
fields, this module turns them into the row (usage, status, cost). Spans that are not Claude
calls are skipped; spans that cannot be a call are rejected with a reason.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any


from claudescope import semconv as sc
from claudescope.collector import aliases as al
from claudescope.collector import claude_code as cc
from claudescope.collector import estimates
from claudescope.collector import producers as pr
from claudescope.collector.attributes import AttributeReader
from claudescope.collector.coerce import as_bool as _bool
from claudescope.collector.coerce import as_count as _count
from claudescope.collector.coerce import as_int32 as _int32
from claudescope.collector.coerce import as_num as _num
from claudescope.collector.coerce import as_str as _str
from claudescope.collector.columns import SPANS_ARROW_SCHEMA
from claudescope.config import ClaudeCodeConfig, Limits
from claudescope.pricing import MAX_CALL_COUNT, PriceTable, Usage, count_problem

_MIN_NS = 946_684_800 * 10**9  # 2000-01-01
_MAX_NS = 4_102_444_800 * 10**9  # 2100-01-01
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_STATUS_ERROR = 2
_COLUMNS = SPANS_ARROW_SCHEMA.names
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


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


class Normalizer:
    """Turns parsed export requests into priced call rows."""

    def __init__(self, prices: PriceTable, limits: Limits, claude_code: ClaudeCodeConfig = ClaudeCodeConfig()) -> None:
        self._prices = prices
        self._limits = limits
        self._claude_code = claude_code
        self._attributes = AttributeReader(limits)

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
                producer = pr.producer_of(ss.scope.name)
                for span in ss.spans:
                    self._one(span, producer, service, ingested, batch)
        return batch

    def normalize_logs(self, request: Any, *, now: datetime | None = None) -> Batch:
        """Normalise the call events of an ``ExportLogsServiceRequest`` (Claude Code's)."""
        return cc.normalize_logs(
            request, self._prices, self._limits, now or datetime.now(UTC), Batch(), feature=self._claude_code.feature,
        )

    def _one(self, span: Any, producer: pr.Producer, service: str | None, ingested: datetime, batch: Batch) -> None:
        counts = [0, 0]
        source = producer.source
        attrs, picked, rest = self._attributes.read(span, producer.content_by_default, counts)
        if counts[0] or counts[1]:
            batch.truncated_values += counts[0]
            batch.dropped_attributes += counts[1]
        operation = _operation(span.name, producer, attrs, picked)
        if operation is None:
            batch.ignored += 1
            return
        if source == cc.SOURCE:
            cc.span_picks(picked, rest, feature=self._claude_code.feature)
        if producer.split == pr.SPLIT_OUTPUT_VALUE:
            _split_from_output_value(producer, attrs, picked)
        usage = _invalid(span) or _usage(picked, producer)
        if isinstance(usage, str):  # why it cannot be a call (ids, times, a count no call has)
            batch.rejected[usage] += 1
            return
        if operation == "count_tokens" and usage.prompt_tokens:
            usage = _counted_apart(usage, rest)
        if (usage.cache_write_5m_tokens or usage.cache_write_1h_tokens) and not _split_given(picked):
            rest[estimates.CACHE_SPLIT_ESTIMATED] = True
        batch.rows.append(self._row(span, picked, rest, operation, producer, service, ingested, usage, batch))

    def _row(
        self, span: Any, p: dict[str, Any], rest: dict[str, Any], operation: str, producer: pr.Producer,
        service: str | None, ingested: datetime, usage: Usage, batch: Batch,
    ) -> tuple[Any, ...]:
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        error_type = _error_type(p.get("error_type"))
        failed = span.status.code == _STATUS_ERROR or error_type is not None
        if failed and error_type is None:
            error_type = "error"
        request_model = _str(p.get("request_model"))
        response_model = _str(p.get("response_model"))
        model = response_model or request_model
        # Priced by the prices in force at its start; for a model whose price never changed, any
        # date gives the same price, so the start time is not built (once per span).
        at = _EPOCH + timedelta(microseconds=start // 1000) if self._prices.dated(model) else None
        # The one billing rule: NULL when unpriced or unstorable, zero when unbilled.
        cost = self._prices.bill(operation, failed=failed, model=model, usage=usage, at=at)
        if cost[0] is None:
            batch.unpriced += 1
        if rest.get(estimates.CACHE_SPLIT_ESTIMATED):  # priced at 5m: the row gives its bounds
            estimates.mark(rest, self._prices, operation, failed, model, usage, at=at)
        ttft = _num(p.get("ttft_s"))
        params = _parameters(p) if "invocation_parameters" in p else None
        stream = _bool(p.get("stream"))
        retries = _int32(p.get("retries"))
        # Order is SPANS_ARROW_SCHEMA's (checked at import below).
        return (
            span.trace_id.hex(), span.span_id.hex(), start // 1000, end // 1000, (end - start) / 1e6,
            ttft * 1000.0 if ttft is not None else None, service, operation, request_model, response_model,
            stream if stream is not None else pr.stream_of(producer, None, params), "error" if failed else "ok",
            error_type, _int32(p.get("http_status")), retries if retries is not None else pr.retries_of(producer, None),
            _stop_reason(p, producer), _max_tokens(p, params),
            usage.input_tokens, usage.cache_read_tokens, usage.cache_write_5m_tokens, usage.cache_write_1h_tokens,
            usage.output_tokens, usage.web_search_requests, usage.service_tier, usage.inference_geo, usage.speed,
            _str(p.get("user_id")), _str(p.get("feature")), _str(p.get("prompt_version")),
            *cost, *_ids(p), producer.source,
            _JSON.encode(rest) if rest else None,
            span.parent_span_id.hex() or None, producer.rank, False, ingested,
        )


# GenAI operations that wrap calls (an agent's turn, a tool) but are not API calls themselves.
_AGENT_OPERATIONS = frozenset(("invoke_agent", "create_agent", "execute_tool"))


def _operation(span_name: str, producer: pr.Producer, attrs: dict[str, Any], p: dict[str, Any]) -> str | None:
    """The call's operation, or None when the span is not a Claude API call."""
    source = producer.source
    if producer.span_names_are_operations:
        return al.SDK_SPAN_OPERATIONS.get(span_name)
    if source == cc.SOURCE:  # interaction, tool and hook spans are never calls (SPEC §4)
        return "chat" if span_name == cc.LLM_REQUEST_SPAN else None
    provider = p.get("provider")
    operation = p.get("operation")
    if producer.split == pr.SPLIT_OUTPUT_VALUE and attrs.get(sc.OPENINFERENCE_SPAN_KIND) == "LLM":
        operation = operation or "chat"
    if operation is None and provider is None:
        return None
    if operation in _AGENT_OPERATIONS:
        return None
    if isinstance(provider, str) and provider.lower() not in ("anthropic", "aws.bedrock", "gcp.vertex_ai", "claude"):
        model = p.get("request_model") or ""
        if "claude" not in str(model).lower():
            return None
    if source != al.CLAUDESCOPE[0] and span_name.endswith("count_tokens"):
        return "count_tokens"
    return str(operation) if operation else "chat"


def _ids(p: dict[str, Any]) -> tuple[str | None, str | None]:
    """(response_id, request_id): a ``req_`` id sent as the response id (Claude Code's spans)
    is a request id (SPEC §4)."""
    response_id, request_id = _str(p.get("response_id")), _str(p.get("request_id"))
    if response_id is not None and response_id.startswith("req_"):
        return None, request_id or response_id
    return response_id, request_id


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


COUNTED_INPUT_TOKENS = sc.CS_COUNTED_INPUT_TOKENS


def _counted_apart(usage: Usage, rest: dict[str, Any]) -> Usage:
    """A count_tokens answer's count, moved from the billed-token columns to ``attributes``.

    Nothing is billed for a count (SPEC §4): ``SUM(input_tokens)`` must stay what was billed.
    """
    rest[COUNTED_INPUT_TOKENS] = usage.prompt_tokens
    return replace(usage, input_tokens=0, cache_read_tokens=0, cache_write_5m_tokens=0, cache_write_1h_tokens=0)


# The counts a span's usage is read from, in the order their range is checked: the first one no
# real call has names the span's rejection reason.
_CHECKED_COUNTS = (
    "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "cache_write_5m_tokens", "input_tokens",
    "input_tokens", "output_tokens", "web_search_requests",
)


def _usage(p: dict[str, Any], producer: pr.Producer) -> Usage | str:
    """The call's usage, or the reason a count makes it no real call.

    Every count is read leniently and then range-checked once, together (the hot path: one
    check per span, not one per count); derived counts come from in-range counts only then.
    """
    raw = _raw_usage(p) if "usage_raw" in p else None
    cache_read = _count(raw.get("cache_read_input_tokens") if raw else p.get("cache_read"))
    write_total = _count(raw.get("cache_creation_input_tokens") if raw else p.get("cache_write"))
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
    total = 0
    if uncached is None:
        total = _count(p.get("input_total"))
        uncached = max(total - cache_read - max(write_total, w5m_n + w1h_n), 0) if producer.input_is_total else total
    uncached = _count(uncached)
    output = _count(raw.get("output_tokens") if raw and "output_tokens" in raw else p.get("output"))
    web = _count(p.get("web_search")) or (_raw_web_search(raw) if raw else 0)
    counts = (cache_read, write_total, w1h_n, w5m_n, total, uncached, output, web)
    if min(counts) < 0 or max(counts) > MAX_CALL_COUNT:
        return next(filter(None, map(count_problem, _CHECKED_COUNTS, counts)))
    return Usage(
        input_tokens=uncached,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=w5m_n,
        cache_write_1h_tokens=w1h_n,
        output_tokens=output,
        web_search_requests=web,
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


def _stop_reason(p: dict[str, Any], producer: pr.Producer) -> str | None:
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
    return producer.stop_reason(finish)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _parameters(p: dict[str, Any]) -> dict[str, Any] | None:
    """OpenInference's request parameters (``llm.invocation_parameters``, JSON), or None."""
    params = p.get("invocation_parameters")
    parsed = _json_or_none(params) if isinstance(params, str) else None
    return parsed if isinstance(parsed, dict) else None


def _max_tokens(p: dict[str, Any], params: dict[str, Any] | None) -> int | None:
    value = _int32(p.get("max_tokens"))
    if value is None and params is not None:
        value = _int32(params.get("max_tokens"))
    return value


def _split_from_output_value(producer: pr.Producer, attrs: dict[str, Any], p: dict[str, Any]) -> None:
    """OpenInference: the 5m/1h split (and the message id) from ``output.value``, read only when
    writes were reported and their split is otherwise unknown."""
    if _split_given(p) or not _count(p.get("cache_write")):
        return
    found = pr.split_from_output_value(producer, attrs)
    if found is not None:
        p["cache_write_5m"], p["cache_write_1h"], msg_id = found
        if msg_id is not None:
            p.setdefault("response_id", msg_id)


def _split_given(p: dict[str, Any]) -> bool:
    """Whether the picked facts say how cache writes split between 5m and 1h."""
    if "cache_write_5m" in p or "cache_write_1h" in p:
        return True
    raw = _raw_usage(p) if "usage_raw" in p else None
    return bool(raw) and isinstance(raw.get("cache_creation"), dict)


def _error_type(value: Any) -> str | None:
    if value is None or value == "":
        return None
    name = str(value).rsplit(".", 1)[-1]
    return al.EXCEPTION_TO_ERROR_TYPE.get(name, name)


