"""Claude Code's telemetry -> ``calls`` rows (docs/claude-code.md).

Claude Code reports each API request as a ``claude_code.api_request`` log event (scope
``com.anthropic.claude_code.events``) carrying the usage with the 5m/1h cache-write split, the
``req_`` id and attribution, but no span. Each such event becomes one row, priced by
claudescope's own table; a final ``api_error`` becomes a failed row. Every other event is
accepted and not stored.

A log record has no span id of its own, so the row's key is derived: the trace is the record's
trace when it has one (beta traces on: the ``claude_code.interaction`` trace) else one per
session, and the span id is a hash of the request id (of the record itself when it has none),
so a resend stores no duplicate. With beta traces on, the ``claude_code.llm_request`` span of the
same request is matched on ``request_id`` by the writer's stacking index and superseded by the
event's row, which is the one that knows the 5m/1h split (``SOURCE_RANK_EVENTS`` wins).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from claudescope import semconv as sc
from claudescope.collector import aliases as al
from claudescope.collector.attributes import DROPPED_MARK, TRUNCATED_MARK, _value
from claudescope.collector.coerce import as_count, as_num, as_str
from claudescope.config import CLAUDE_CODE_FEATURE_KEYS, Limits
from claudescope.pricing import PriceTable, Usage, count_problem

if TYPE_CHECKING:  # normalize imports this module for span_picks
    from claudescope.collector.normalize import Batch

EVENTS_SCOPE = sc.CLAUDE_CODE_EVENTS_SCOPE
SOURCE, SOURCE_RANK_EVENTS = al.CLAUDE_CODE_EVENTS  # the event row knows the 5m/1h split: preferred
LLM_REQUEST_SPAN = "claude_code.llm_request"
API_REQUEST = "claude_code.api_request"
API_ERROR = "claude_code.api_error"
# Estimated values are named here (docs/claude-code.md): a span without the TTL split.
CACHE_SPLIT_ESTIMATED = sc.CS_CACHE_SPLIT_ESTIMATED

# Attributes stored in a column (so not repeated in ``attributes``).
_CONSUMED = frozenset((
    "event.name", "model", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens",
    "cache_creation_5m_tokens", "cache_creation_1h_tokens", "duration_ms", "ttft_ms", "request_id", "speed",
    "user.email", "status_code", "attempt",
))
_SECRET_MARKERS = ("authorization", "api_key", "api-key", "apikey", "password", "secret", "token=")
_CONTENT_KEYS = frozenset(("prompt", "prompt_text", "response", "user_prompt"))
_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error",
}
_STATUS_IN_TEXT = re.compile(r"\b([45]\d\d)\b")
_MIN_NS = 946_684_800 * 10**9  # 2000-01-01
_MAX_NS = 4_102_444_800 * 10**9  # 2100-01-01
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)
# Claude Code names the standard speed "normal"; Anthropic's usage (and the price table) "standard".
_SPEEDS = {"normal": "standard"}


def normalize_logs(
    request: Any, prices: PriceTable, limits: Limits, ingested: datetime, batch: Batch, *, feature: str = "query_source",
) -> Batch:
    """Add to ``batch`` the rows for the Claude Code call events of one ``ExportLogsServiceRequest``.

    ``feature`` (``[claude_code] feature``) names what fills the ``feature`` column: ``query_source``,
    ``agent`` (``agent.name``) or ``skill`` (``skill.name``), falling back to ``query_source``.
    """
    for rl in request.resource_logs:
        service = next((kv.value.string_value for kv in rl.resource.attributes if kv.key == "service.name"), None) or None
        for sl in rl.scope_logs:
            if sl.scope.name != EVENTS_SCOPE:
                batch.ignored += len(sl.log_records)
                continue
            for record in sl.log_records:
                name = record.body.string_value
                if name not in (API_REQUEST, API_ERROR):
                    batch.ignored += 1
                    continue
                attrs = _attributes(record, limits, batch)
                row = _row(record, name, attrs, service, prices, ingested, batch, feature)
                if isinstance(row, str):
                    batch.rejected[row] += 1
                else:
                    batch.rows.append(row)
    return batch


def span_picks(picked: dict[str, Any], rest: dict[str, Any], *, feature: str = "query_source") -> None:
    """Fill a ``claude_code.llm_request`` span's fields from Claude Code's own attribute names.

    Its ``gen_ai.response.id`` is the ``req_`` id (moved to ``request_id`` by the normaliser); its
    input is a total with no 5m/1h split, so every write is taken as 5m and the row says so.
    """
    if "request_id" in rest:
        picked.setdefault("request_id", rest.pop("request_id"))
    ttft_ms = as_num(rest.pop("ttft_ms", None))
    if ttft_ms is not None and "ttft_s" not in picked:
        picked["ttft_s"] = ttft_ms / 1000.0
    attempt = as_count(rest.pop("attempt", None))
    if attempt:
        picked.setdefault("retries", attempt - 1)
    user = rest.get(sc.USER_EMAIL) or rest.get(sc.USER_ID)
    if user is not None:
        picked.setdefault("user_id", user)
    chosen = feature_of(rest, feature) or as_str(rest.get("query_source_safe"))
    if chosen is not None:
        picked.setdefault("feature", chosen)
    speed = as_str(rest.pop("speed", None))
    if speed is not None:
        picked.setdefault("speed", _SPEEDS.get(speed, speed))
    if "cache_write_5m" not in picked and "cache_write_1h" not in picked and as_count(picked.get("cache_write")):
        rest[CACHE_SPLIT_ESTIMATED] = True


def feature_of(a: dict[str, Any], feature: str) -> str | None:
    """The ``feature`` of a Claude Code call: the configured attribute, else ``query_source``."""
    return as_str(a.get(CLAUDE_CODE_FEATURE_KEYS.get(feature, "query_source"))) or as_str(a.get("query_source"))


def _attributes(record: Any, limits: Limits, batch: Batch) -> dict[str, Any]:
    items = list(record.attributes)
    attrs: dict[str, Any] = {}
    if len(items) > limits.max_attributes_per_span:
        batch.dropped_attributes += len(items) - limits.max_attributes_per_span
        attrs[DROPPED_MARK] = len(items) - limits.max_attributes_per_span
        items = items[: limits.max_attributes_per_span]
    truncated = []
    for kv in items:
        value = _value(kv.value)
        if isinstance(value, str) and len(value.encode()) > limits.max_attribute_value_bytes:
            value = value.encode()[: limits.max_attribute_value_bytes].decode("utf-8", "ignore")
            truncated.append(kv.key)
        attrs[kv.key] = value
    if truncated:
        batch.truncated_values += len(truncated)
        attrs[TRUNCATED_MARK] = truncated
    return attrs


def _row(
    record: Any, name: str, a: dict[str, Any], service: str | None, prices: PriceTable, ingested: datetime, batch: Batch,
    feature: str,
) -> tuple[Any, ...] | str:
    end = record.time_unix_nano or record.observed_time_unix_nano
    if not _MIN_NS <= end < _MAX_NS:
        return "timestamp outside 2000-2100"
    duration_ms = as_num(a.get("duration_ms")) or 0.0
    start = max(end - int(duration_ms * 1e6), _MIN_NS)
    failed = name == API_ERROR
    usage = _usage(a) if not failed else Usage()
    if isinstance(usage, str):
        return usage
    model = as_str(a.get("model"))
    at = datetime.fromtimestamp(start // 1000 / 1e6, UTC)  # priced by the prices in force at its start
    *cost, version = prices.bill("chat", failed=failed, model=model, usage=usage, at=at)
    if cost[0] is None:
        batch.unpriced += 1
    request_id = as_str(a.get("request_id"))
    trace_id, span_id = _key(record, a, request_id)
    status = as_count(a.get("status_code")) or _status_in_text(a.get("error"))
    attempt = as_count(a.get("attempt"))
    ttft = as_num(a.get("ttft_ms"))
    return (
        trace_id, span_id, start // 1000, end // 1000, duration_ms, ttft, service, "chat", model, model, None,
        "error" if failed else "ok", _ERROR_TYPES.get(status or 0, "error") if failed else None,
        status if failed else 200, max(attempt - 1, 0) if attempt else 0, None, None,
        usage.input_tokens, usage.cache_read_tokens, usage.cache_write_5m_tokens, usage.cache_write_1h_tokens,
        usage.output_tokens, usage.web_search_requests, usage.service_tier, usage.inference_geo, usage.speed,
        as_str(a.get(sc.USER_EMAIL)) or as_str(a.get(sc.USER_ID)), feature_of(a, feature), None,
        *cost, version, None, request_id, SOURCE, _JSON.encode(_rest(a)),
        record.span_id.hex() if len(record.span_id) == 8 and any(record.span_id) else None,
        SOURCE_RANK_EVENTS, False, ingested,
    )


def _usage(a: dict[str, Any]) -> Usage | str:
    counts = {}
    for column, key in (
        ("input_tokens", "input_tokens"), ("cache_read_tokens", "cache_read_tokens"), ("output_tokens", "output_tokens"),
        ("cache_write_tokens", "cache_creation_tokens"), ("cache_write_5m_tokens", "cache_creation_5m_tokens"),
        ("cache_write_1h_tokens", "cache_creation_1h_tokens"),
    ):
        n = as_count(a.get(key))
        problem = count_problem(column, n)
        if problem:
            return problem
        counts[column] = n
    w5m, w1h = counts["cache_write_5m_tokens"], counts["cache_write_1h_tokens"]
    if "cache_creation_5m_tokens" not in a and "cache_creation_1h_tokens" not in a:
        w5m = counts["cache_write_tokens"]  # an older Claude Code without the split: taken as 5m
        a[CACHE_SPLIT_ESTIMATED] = bool(w5m)
    speed = as_str(a.get("speed"))
    return Usage(
        input_tokens=counts["input_tokens"], cache_read_tokens=counts["cache_read_tokens"],
        cache_write_5m_tokens=w5m, cache_write_1h_tokens=w1h, output_tokens=counts["output_tokens"],
        speed=_SPEEDS.get(speed, speed) if speed else None,
    )


def _key(record: Any, a: dict[str, Any], request_id: str | None) -> tuple[str, str]:
    """(trace_id, span_id) of the row: stable across resends, one per API request."""
    trace = record.trace_id
    if len(trace) != 16 or not any(trace):
        session = as_str(a.get(sc.SESSION_ID)) or request_id or ""
        trace = hashlib.sha256(f"claude-code:session:{session}".encode()).digest()[:16]
    if request_id:
        seed = f"claude-code:request:{request_id}".encode()
    else:
        seed = b"claude-code:record:" + record.SerializeToString(deterministic=True)
    return trace.hex(), hashlib.sha256(seed).digest()[:8].hex()


def _status_in_text(error: Any) -> int | None:
    match = _STATUS_IN_TEXT.search(error) if isinstance(error, str) else None
    return int(match.group(1)) if match else None


def _rest(a: dict[str, Any]) -> dict[str, Any]:
    """What stays in ``attributes``: Claude Code's own cost, session, organization, terminal..."""
    rest = {}
    for key, value in a.items():
        lowered = key.lower()
        if key in _CONSUMED or key in _CONTENT_KEYS or any(m in lowered for m in _SECRET_MARKERS):
            continue
        rest[key] = value
    for key in ("speed", "attempt", "status_code"):  # Claude Code's raw values, beside the columns
        if key in a:
            rest[f"claude_code.{key}"] = a[key]
    return rest
