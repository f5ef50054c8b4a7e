"""OTLP logs wire formats -> ``ExportLogsServiceRequest``, with the same limits and answers as traces.

Log bodies (Claude Code's events) are small and few next to trace bodies, so they are parsed
eagerly; decompression, the JSON id rewrite, the AnyValue check and every ``BadRequest`` answer
are the traces decoder's own (:mod:`claudescope.collector.otlp`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from claudescope.collector import otlp


def decode_logs(body: bytes, kind: str) -> ExportLogsServiceRequest:
    """Parse an already-decompressed OTLP logs body of ``kind`` (``otlp.PROTOBUF`` or ``otlp.JSON``).

    Raises:
        otlp.BadRequest: 400 for an undecodable body (invalid UTF-8, too deep, not OTLP).
    """
    request = ExportLogsServiceRequest()
    otlp.parse_message(request, body, kind)
    return request


def count_records(request: ExportLogsServiceRequest) -> int:
    """Log records in one request (the ingest metrics count them as received)."""
    return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)


def export_response(rejected: Counter[str], message: str, signal: str) -> Any:
    """The OTLP answer to one export request of ``signal`` ("traces" or "logs"), with its
    ``partial_success`` when something was rejected."""
    if signal == "logs":
        logs = ExportLogsServiceResponse()
        if rejected:
            logs.partial_success.rejected_log_records = sum(rejected.values())
            logs.partial_success.error_message = message[:4000]
        return logs
    traces = ExportTraceServiceResponse()
    if rejected:
        traces.partial_success.rejected_spans = sum(rejected.values())
        traces.partial_success.error_message = message[:4000]
    return traces
