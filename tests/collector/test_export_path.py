"""OTLP/HTTP and OTLP/gRPC share one export path: the same body gets the same answer and rows.

gRPC handlers receive the serialized request (no deserializer registered), so a body is parsed
once, by the collector's own decoder: a body that is not OTLP gets the HTTP path's 400 reason as
INVALID_ARGUMENT, and a partial success says the same thing on both transports.
"""

from __future__ import annotations

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from claudescope.collector.grpc_server import start_grpc
from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import call_span, encode_spans, post_spans

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
NOT_OTLP = b"\x0a\xff\xff\xff\xff\x0f"


def _grpc_export(port: int, body: bytes) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(TRACE_EXPORT, request_serializer=None,
                                   response_deserializer=ExportTraceServiceResponse.FromString)
        return call(body, timeout=60)


def _mixed_batch() -> list[dict]:
    good = [call_span(input_tokens=100 + i, output_tokens=10) for i in range(3)]
    return [*good, call_span(input_tokens=100, output_tokens=10**14)]  # not a real call: rejected alone


def test_both_transports_answer_one_body_alike(inproc_factory) -> None:
    running = inproc_factory()
    port = free_port()
    server = start_grpc(running.c, "127.0.0.1", port)
    try:
        r = httpx.post(running.url + "/v1/traces", content=NOT_OTLP, headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 400
        with pytest.raises(grpc.RpcError) as refused:
            _grpc_export(port, NOT_OTLP)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "undecodable protobuf" in (refused.value.details() or "")

        http_answer = post_spans(running.url, _mixed_batch())
        assert http_answer.status_code == 200
        via_http = ExportTraceServiceResponse.FromString(http_answer.content).partial_success
        via_grpc = _grpc_export(port, encode_spans(_mixed_batch())).partial_success
        assert (via_grpc.rejected_spans, via_grpc.error_message) == (via_http.rejected_spans, via_http.error_message) == (
            1, via_http.error_message)
        assert "output_tokens" in via_grpc.error_message
        assert running.count() == 6  # three good calls from each transport, nothing else
    finally:
        server.stop(0)
