"""Decoding in worker processes (``ingest_workers``) stores exactly what in-process decoding does,
answers bad input the same way, and survives a worker that dies."""

from __future__ import annotations

import gzip
import multiprocessing
import os
import signal
import time

import grpc
import httpx
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from claudescope.fakeapi.server import free_port
from claudescope.collector.decode import resolve_workers
from claudescope.collector.grpc_server import start_grpc
from tests.fixtures_collector import call_span, encode_spans, post_spans

COLUMNS = ("trace_id, span_id, start_time, duration_ms, request_model, input_tokens, cache_read_tokens, "
           "cache_write_1h_tokens, output_tokens, cost_usd, cost_cache_write_usd, feature, user_id, attributes")


def _spans() -> list[dict]:
    return [
        call_span(model="claude-sonnet-4-5", input_tokens=1200, output_tokens=300, cache_read_tokens=4000,
                  feature="chat", user_id="u-1", attributes={"claudescope.attr.tenant": "acme"}),
        call_span(model="claude-opus-4-1", input_tokens=10, output_tokens=1, cache_write_1h_tokens=2048,
                  stop_reason="max_tokens"),
        call_span(model="claude-unknown-9", input_tokens=5, output_tokens=5),
    ]


def test_workers_store_the_same_rows_as_in_process(inproc_factory) -> None:
    local, pooled = inproc_factory(), inproc_factory(ingest_workers=1)
    spans = _spans()
    for target in (local, pooled):
        r = post_spans(target.url, spans)
        assert r.status_code == 200, r.text
    query = f"SELECT {COLUMNS} FROM calls ORDER BY span_id"
    rows = pooled.query(query)
    assert len(rows) == 3
    assert rows == local.query(query)
    # Decimals stay exact and the unpriced model stays NULL through the Arrow IPC hop.
    assert sorted(r["cost_usd"] is None for r in rows) == [False, False, True]


def test_bad_input_is_answered_by_the_worker_path(inproc_factory) -> None:
    pooled = inproc_factory(ingest_workers=1)
    headers = {"Content-Type": "application/x-protobuf"}
    r = httpx.post(pooled.url + "/v1/traces", content=b"\x0a\xff\xff\xff\xff\x0f", headers=headers)
    assert r.status_code == 400
    assert "undecodable protobuf" in Status.FromString(r.content).message
    bomb = gzip.compress(b"\0" * (pooled.c.config.limits.max_body_bytes + 1))
    r = httpx.post(pooled.url + "/v1/traces", content=bomb, headers={**headers, "Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert post_spans(pooled.url, _spans()).status_code == 200  # still serving
    assert pooled.count() == 3


def test_a_dead_worker_costs_a_retry_not_the_collector(inproc_factory) -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    pooled = inproc_factory(ingest_workers=1)
    assert post_spans(pooled.url, _spans()[:1]).status_code == 200
    workers = [p.pid for p in multiprocessing.active_children() if p.pid not in before and p.name.startswith("SpawnProcess")]
    assert workers, "expected a spawned ingest worker"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # let the pool notice
    answers = [post_spans(pooled.url, [call_span()]) for _ in range(3)]
    statuses = [r.status_code for r in answers]
    assert statuses[-1] == 200, statuses
    for r in answers:
        if r.status_code != 200:
            assert r.status_code == 503 and r.headers["Retry-After"]
    stored = pooled.count()
    assert stored == 1 + statuses.count(200)  # every 200 stored, nothing else


def test_grpc_through_workers(inproc_factory) -> None:
    pooled = inproc_factory(ingest_workers=1)
    port = free_port()
    server = start_grpc(pooled.c, "127.0.0.1", port)
    try:
        request = ExportTraceServiceRequest.FromString(encode_spans(_spans()))
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(request, timeout=60)
    finally:
        server.stop(grace=1).wait()
    assert pooled.count() == 3


def test_auto_worker_count_leaves_a_core_for_the_collector() -> None:
    assert resolve_workers(0) == 0 and resolve_workers(3) == 3
    assert [resolve_workers(-1, cores) for cores in (1, 2, 3, 4, 16)] == [0, 0, 2, 3, 8]
