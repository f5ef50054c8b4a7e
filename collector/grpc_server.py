"""OTLP/gRPC trace receiver feeding the same normalise -> group-commit pipeline as HTTP."""

from __future__ import annotations

import errno
import hmac
import logging
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from claudescope.collector import otlp, otlp_logs
from claudescope.collector.decode import LOGS, TRACES, WorkersUnavailable
from claudescope.collector.writer import QueueFull, WriterStopped

if TYPE_CHECKING:
    from claudescope.collector.app import Collector

log = logging.getLogger(__name__)
_COMMIT_WAIT_S = 60.0


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """``opentelemetry.proto.collector.trace.v1.TraceService/Export``."""

    def __init__(self, collector: Collector, signal: str = TRACES) -> None:
        self._c = collector
        self._signal = signal
        token = collector.config.token
        self._expected = f"Bearer {token}" if token else None

    def Export(self, request: Any, context: grpc.ServicerContext) -> ExportTraceServiceResponse:  # noqa: N802 (gRPC name)
        """Store the request's call spans; answers once they are durable."""
        self.authorize(context)
        c = self._c
        try:
            # Re-encoding is cheap next to normalising; the workers take bytes either way.
            batch = c.count(c.ingest.run(request.SerializeToString(), otlp.PROTOBUF, None, self._signal))
        except otlp.BadRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, exc.message)
        except WorkersUnavailable as exc:
            c.metrics.count_request("unavailable")
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        if batch.table is not None:
            try:
                c.writer.submit(batch.table).result(_COMMIT_WAIT_S)
            except QueueFull as exc:
                c.metrics.count_request("throttled")
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            except (WriterStopped, futures.TimeoutError) as exc:
                c.metrics.count_request("unavailable")
                context.abort(grpc.StatusCode.UNAVAILABLE, str(exc) or "commit timed out")
        response = otlp_logs.export_response(batch.rejected, batch.rejection_message(), self._signal)
        c.metrics.count_request("grpc_partial" if batch.rejected else "grpc_ok")
        return response

    def authorize(self, context: grpc.ServicerContext) -> None:
        """Abort UNAUTHENTICATED without the bearer token (when one is set)."""
        if self._expected is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(str(given), self._expected):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


class LogsService(logs_service_pb2_grpc.LogsServiceServicer):
    """``opentelemetry.proto.collector.logs.v1.LogsService/Export``: Claude Code's events."""

    def __init__(self, collector: Collector) -> None:
        self._export = TraceService(collector, LOGS)

    def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 (gRPC name)
        """Store the request's call events; answers once they are durable."""
        return self._export.Export(request, context)


class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
    """``MetricsService/Export``: accepted and dropped (SPEC §3), so Claude Code's exporter works."""

    def __init__(self, collector: Collector) -> None:
        self._auth = TraceService(collector)

    def Export(self, request: Any, context: grpc.ServicerContext) -> ExportMetricsServiceResponse:  # noqa: N802
        """Accept the metrics (they are never calls)."""
        self._auth.authorize(context)
        return ExportMetricsServiceResponse()


def start_grpc(collector: Collector, host: str, port: int, *, workers: int = 8) -> grpc.Server:
    """Start the gRPC server (64 MiB messages, per the OTLP recommendation); returns it."""
    limit = collector.config.limits.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        # grpcio sets SO_REUSEPORT by default, which lets a second collector share a busy port
        # and split the traffic between two stores: a busy port must refuse instead.
        options=[
            ("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(collector), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(LogsService(collector), server)
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(collector), server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio raises on a failed bind where older versions returned 0
        bound = 0
    if not bound:
        raise OSError(errno.EADDRINUSE, f"cannot listen for OTLP/gRPC on {host}:{port}: port in use")
    server.start()
    return server
