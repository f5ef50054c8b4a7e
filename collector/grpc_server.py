"""OTLP/gRPC receiver (traces, logs, metrics) on the transport-neutral export path (``export.py``)."""

from __future__ import annotations

import errno
import hmac
import logging
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from claudescope.collector import export, otlp, otlp_metrics
from claudescope.collector.decode import LOGS, TRACES
from claudescope.collector.store import StoreError

if TYPE_CHECKING:
    from claudescope.collector.app import Collector

log = logging.getLogger(__name__)


_TRACES_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
_METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
# HTTP-style outcome -> gRPC status (the OTLP spec's mapping: retryable ones are UNAVAILABLE).
_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
          415: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.UNAVAILABLE, 503: grpc.StatusCode.UNAVAILABLE}


class ExportService:
    """One OTLP ``Export`` method over gRPC, fed the request's raw bytes.

    The handlers are registered without a request deserializer, so grpcio hands over the
    serialized body and it is parsed once, by the same decoder as OTLP/HTTP protobuf.
    """

    def __init__(self, collector: Collector, signal: str) -> None:
        self._c = collector
        self._signal = signal
        token = collector.config.token
        self._expected = f"Bearer {token}" if token else None

    def export(self, body: bytes, context: grpc.ServicerContext) -> Any:
        """Store the request's calls; answers once they are durable."""
        self.authorize(context)
        outcome = export.export_blocking(self._c, body, otlp.PROTOBUF, None, self._signal)
        if outcome.status != 200:
            context.abort(_CODES.get(outcome.status, grpc.StatusCode.INTERNAL), outcome.message)
        return outcome.response

    def accept(self, body: bytes, context: grpc.ServicerContext) -> ExportMetricsServiceResponse:
        """Keep a metrics export's Claude Code cost/token points as a cross-check (SPEC §3: never calls)."""
        self.authorize(context)
        try:
            otlp_metrics.store_points(self._c.store, body, otlp.PROTOBUF, None, self._c.config.limits.max_body_bytes)
        except otlp.BadRequest as exc:
            context.abort(_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT), exc.message)
        except StoreError as exc:
            context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return ExportMetricsServiceResponse()

    def authorize(self, context: grpc.ServicerContext) -> None:
        """Abort UNAUTHENTICATED without the bearer token (when one is set)."""
        if self._expected is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(str(given), self._expected):
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")


def _raw_export(service: str, method: Callable[[bytes, grpc.ServicerContext], Any]) -> grpc.GenericRpcHandler:
    handler = grpc.unary_unary_rpc_method_handler(method, request_deserializer=None,
                                                  response_serializer=lambda message: message.SerializeToString())
    return grpc.method_handlers_generic_handler(service, {"Export": handler})


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
    server.add_generic_rpc_handlers((
        _raw_export(_TRACES_SERVICE, ExportService(collector, TRACES).export),
        _raw_export(_LOGS_SERVICE, ExportService(collector, LOGS).export),
        _raw_export(_METRICS_SERVICE, ExportService(collector, TRACES).accept),
    ))
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError:  # grpcio raises on a failed bind where older versions returned 0
        bound = 0
    if not bound:
        raise OSError(errno.EADDRINUSE, f"cannot listen for OTLP/gRPC on {host}:{port}: port in use")
    server.start()
    return server
