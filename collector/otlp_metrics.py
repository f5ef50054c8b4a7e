"""OTLP metrics -> Claude Code's cost and token data points, kept as a cross-check (never calls).

``claude_code.cost.usage`` (USD) and ``claude_code.token.usage`` (``type`` = input / output /
cacheRead / cacheCreation) are Sums, delta by default; both temporalities are stored with the
point's temporality, and ``claude_code_metric_sums`` (migration 0005) sums delta points and takes
the last value of each cumulative series. Every other metric is accepted and dropped. Decoding
and every ``BadRequest`` answer are the traces decoder's own (:mod:`claudescope.collector.otlp`).
"""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from claudescope import semconv as sc
from claudescope.collector import otlp
from claudescope.collector.attributes import _value
from claudescope.collector.store import Store
from claudescope.collector.store.metric_points import insert_metric_points

COST_METRIC = "claude_code.cost.usage"
TOKEN_METRIC = "claude_code.token.usage"
_TOKEN_TYPES = frozenset(("input", "output", "cacheRead", "cacheCreation"))
_MIN_NS = 946_684_800 * 10**9  # 2000-01-01
_MAX_NS = 4_102_444_800 * 10**9  # 2100-01-01
_MAX_VALUE = Decimal(10) ** 28  # what DECIMAL(38,9) holds


def decode_metrics(body: bytes, kind: str) -> ExportMetricsServiceRequest:
    """Parse an already-decompressed OTLP metrics body of ``kind`` (raises ``otlp.BadRequest``)."""
    request = ExportMetricsServiceRequest()
    otlp.parse_message(request, body, kind)
    return request


def metric_points(body: bytes, kind: str, encoding: str | None, max_bytes: int) -> list[tuple[Any, ...]]:
    """The Claude Code cost/token points of one metrics body, as ``claude_code_metric_points`` rows."""
    request = decode_metrics(otlp.decompress(body, encoding, max_bytes), kind)
    rows = []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name in (COST_METRIC, TOKEN_METRIC) and metric.WhichOneof("data") == "sum":
                    rows.extend(_rows(metric))
    return rows


def _rows(metric: Any) -> list[tuple[Any, ...]]:
    cumulative = metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    rows = []
    for point in metric.sum.data_points:
        attrs = {kv.key: _value(kv.value) for kv in point.attributes}
        name = "cost" if metric.name == COST_METRIC else attrs.get("type")
        value = _number(point)
        if name not in _TOKEN_TYPES | {"cost"} or value is None or not _MIN_NS <= point.time_unix_nano < _MAX_NS:
            continue  # a point that cannot be compared with anything is dropped, like every other metric
        start_ns = point.start_time_unix_nano if _MIN_NS <= point.start_time_unix_nano < _MAX_NS else point.time_unix_nano
        rows.append((
            _series(metric.name, attrs), name, _text(attrs.get(sc.SESSION_ID)), _text(attrs.get("model")),
            _text(attrs.get(sc.USER_EMAIL)) or _text(attrs.get(sc.USER_ID)), cumulative,
            _time(start_ns), _time(point.time_unix_nano), value, start_ns, point.time_unix_nano,
        ))
    return rows


def _number(point: Any) -> Decimal | None:
    if point.WhichOneof("value") == "as_int":
        raw = Decimal(point.as_int)
    elif math.isfinite(point.as_double):
        raw = Decimal(repr(point.as_double))  # the shortest decimal that is this double: 0.05308, not 0.0530799...
    else:
        return None
    return raw.quantize(Decimal("1e-9")) if abs(raw) < _MAX_VALUE else None


def _series(name: str, attrs: dict[str, Any]) -> str:
    identity = name + "\0" + "\0".join(f"{k}={attrs[k]!r}" for k in sorted(attrs))
    return hashlib.sha256(identity.encode()).hexdigest()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns // 1000 / 1e6, UTC)


def store_points(store: Store, body: bytes, kind: str, encoding: str | None, max_bytes: int) -> int:
    """Decode one metrics body and durably keep its Claude Code cost/token points; how many it had."""
    rows = metric_points(body, kind, encoding, max_bytes)
    if rows:
        insert_metric_points(store, rows)
    return len(rows)
