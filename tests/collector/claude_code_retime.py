"""The Claude Code corpus' protobuf bodies moved in time: every OTLP timestamp shifted alike.

The corpus was recorded at a fixed moment; dashboards and alert rules look at windows ending now,
so tests that need the calls "recent" shift the real bodies, keeping every other byte's meaning.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.collector.test_claude_code_ingest import bodies

_TYPES: dict[str, type[Message]] = {
    "/v1/logs": ExportLogsServiceRequest, "/v1/metrics": ExportMetricsServiceRequest, "/v1/traces": ExportTraceServiceRequest,
}
_TIME_FIELDS = ("time_unix_nano", "observed_time_unix_nano", "start_time_unix_nano", "end_time_unix_nano")


def _shift(message: Message, delta_ns: int) -> None:
    for field, value in message.ListFields():
        if field.name in _TIME_FIELDS and value:
            setattr(message, field.name, value + delta_ns)
        elif field.message_type is not None:
            items = value if _repeated(field) else [value]
            for item in items:
                if isinstance(item, Message):
                    _shift(item, delta_ns)


def _repeated(field: object) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 5.28; ``label`` before
    return bool(is_repeated) if is_repeated is not None else field.label == field.LABEL_REPEATED  # type: ignore[attr-defined]


def latest_ns(mode: str) -> int:
    """The latest log record time of one protobuf mode."""
    times = []
    for path, _, raw in bodies(mode):
        if path == "/v1/logs":
            request = ExportLogsServiceRequest.FromString(raw)
            times += [r.time_unix_nano for rl in request.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    return max(times)


def retimed(mode: str, end: datetime | None = None) -> list[tuple[str, str, bytes]]:
    """One protobuf mode's bodies with its last event moved to ``end`` (default: now, UTC)."""
    end = end or datetime.now(UTC)
    delta = int(end.timestamp() * 1e9) - latest_ns(mode)
    out = []
    for path, content_type, raw in bodies(mode):
        assert content_type == "application/x-protobuf", "only protobuf modes are retimed"
        message = _TYPES[path].FromString(raw)
        _shift(message, delta)
        out.append((path, content_type, message.SerializeToString()))
    return out
