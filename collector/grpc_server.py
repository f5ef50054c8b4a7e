"""OTLP/gRPC trace receiver feeding the same normalise -> group-commit pipeline as HTTP."""

from __future__ import annotations

import hmac
import logging
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from claudescope.collector import otlp
from claudescope.collector.decode import WorkersUnavailable
from claudescope.collector.writer import QueueFull, WriterStopped

if TYPE_CHECKING:
    from claudescope.collector.app import Collector

log = logging.getLogger(__name__)
_COMMIT_WAIT_S = 60.0


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """``opentelemetry.proto.collector.trace.v1.TraceService/Export``."""

    def __init__(self, collector: Collector) -> None:
        self._c = collector
        token = collector.config.token
        self._expected = f"Bearer {token}" if token else None

    def Export(self, request: Any, context: grpc.ServicerContext) -> ExportTraceServiceResponse:  # noqa: N802 (gRPC name)
        """Store the request's call spans; answers once they are durable."""
        if self._expected is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(str(given), self._expected):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        c = self._c
        try:
            # Re-encoding is cheap next to normalising; the workers take bytes either way.
            batch = c.count(c.ingest.run(request.SerializeToString(), otlp.PROTOBUF, None))
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
        response = ExportTraceServiceResponse()
        if batch.rejected:
            response.partial_success.rejected_spans = sum(batch.rejected.values())
            response.partial_success.error_message = batch.rejection_message()[:4000]
        c.metrics.count_request("grpc_partial" if batch.rejected else "grpc_ok")
        return response


def start_grpc(collector: Collector, host: str, port: int, *, workers: int = 8) -> grpc.Server:
    """Start the gRPC server (64 MiB messages, per the OTLP recommendation); returns it."""
    limit = collector.config.limits.max_body_bytes
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"),
        options=[("grpc.max_receive_message_length", limit), ("grpc.max_send_message_length", 4 * 1024 * 1024)],
    )
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(collector), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise OSError(f"cannot bind OTLP/gRPC on {host}:{port}")
    server.start()
    return server
