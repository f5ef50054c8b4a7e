"""The collector's HTTP surface (SPEC §3): OTLP/HTTP ingest, query API, health and metrics."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from claudescope.collector import export, otlp, otlp_metrics, query_api
from claudescope.collector.decode import LOGS, TRACES, Decoded, IngestPool
from claudescope.collector.metrics import Metrics
from claudescope.collector.store import QueryBusy, QueryTimeout, QueryTooLarge, Store, StoreError
from claudescope.collector.web_guard import WebGuard
from claudescope.collector.writer import Writer
from claudescope.config import Config
from claudescope.web_hosts import allowed_hosts

log = logging.getLogger(__name__)
RETRY_AFTER_S = "2"


@dataclass(frozen=True, slots=True)
class Collector:
    """Everything the routes need, built once by the service."""

    config: Config
    store: Store
    writer: Writer
    ingest: IngestPool
    metrics: Metrics
    admin_routes: tuple[Route, ...] = ()

    def count(self, decoded: Decoded) -> Decoded:
        """Count what happened to one export request's spans (the ingest metrics)."""
        self.metrics.count_batch(
            received=decoded.received, ignored=decoded.ignored, rejected=decoded.rejected,
            unpriced=decoded.unpriced, truncated=decoded.truncated_values, dropped=decoded.dropped_attributes,
        )
        return decoded


def build_app(c: Collector) -> ASGIApp:
    """The Starlette app, behind bearer-token auth when a token is set, behind the web guard always."""
    routes = [
        Route("/v1/traces", _traces(c), methods=["POST"]),
        Route("/v1/metrics", _metrics_export(c), methods=["POST"]),
        Route("/v1/logs", _traces(c, LOGS), methods=["POST"]),
        Route("/api/v1/query", _query(c), methods=["POST"]),
        Route("/healthz", _healthz(c), methods=["GET"]),
        Route("/metrics", _metrics(c), methods=["GET"]),
        *c.admin_routes,
    ]
    app: ASGIApp = Starlette(routes=routes)
    if c.config.token:
        app = BearerAuth(app, c.config.token)
    # Outermost: a page in the user's browser is refused before anything else looks at it.
    return WebGuard(app, allowed_hosts(c.config.host, c.config.allowed_hosts))


class BearerAuth:
    """401 for every path but /healthz without ``Authorization: Bearer <token>``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self._app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] != "/healthz":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await PlainTextResponse("missing or wrong bearer token", 401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
                return
        await self._app(scope, receive, send)


# --- OTLP ----------------------------------------------------------------------------
def _traces(c: Collector, signal: str = TRACES) -> Callable[[Request], Awaitable[Response]]:
    """POST /v1/traces, or /v1/logs with ``signal=LOGS`` (Claude Code's events): one durable path."""
    limit = c.config.limits.max_body_bytes
    # Bodies being decoded at once are bounded too, so memory stays bounded under a flood.
    budget = _InFlight(max(4 * limit, 256 * 1024 * 1024))

    async def handler(request: Request) -> Response:
        kind = otlp.PROTOBUF
        declared = request.headers.get("content-length", "")
        size = int(declared) if declared.isdigit() else limit
        if not budget.take(min(size, limit)):
            c.metrics.count_request("throttled")
            return _failure(kind, 429, "too many request bytes in flight; retry later", retry_after=True)
        try:
            kind = otlp.media_type(request.headers.get("content-type"))
            raw = await _read_limited(request, limit)
        except otlp.BadRequest as exc:
            budget.give(min(size, limit))
            outcome = export.refused(c, exc)
        else:
            try:
                outcome = await export.export_async(c, raw, kind, request.headers.get("content-encoding"), signal)
            finally:
                budget.give(min(size, limit))
        if outcome.status != 200:
            return _failure(kind, outcome.status, outcome.message, retry_after=outcome.retryable)
        return _success(kind, outcome.response)

    return handler


class _InFlight:
    """Bytes of request bodies being read and decoded (event-loop only, so no lock)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def take(self, n: int) -> bool:
        if self.used and self.used + n > self.capacity:
            return False
        self.used += n
        return True

    def give(self, n: int) -> None:
        self.used -= n


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise otlp.BadRequest(413, f"request body exceeds {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise otlp.BadRequest(413, f"request body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _metrics_export(c: Collector) -> Callable[[Request], Awaitable[Response]]:
    """/v1/metrics: Claude Code's cost and token points kept as a cross-check (never calls); the rest dropped."""
    limit = c.config.limits.max_body_bytes

    async def handler(request: Request) -> Response:
        kind = otlp.PROTOBUF
        try:
            kind = otlp.media_type(request.headers.get("content-type"))
            raw = await _read_limited(request, limit)
            encoding = request.headers.get("content-encoding")
            await run_in_threadpool(otlp_metrics.store_points, c.store, raw, kind, encoding, limit)
        except otlp.BadRequest as exc:
            c.metrics.count_request(f"http_{exc.status}")
            return _failure(kind, exc.status, exc.message)
        except StoreError as exc:
            c.metrics.count_request("unavailable")
            return _failure(kind, 503, str(exc), retry_after=True)
        return _success(kind, ExportMetricsServiceResponse())

    return handler


def _success(kind: str, message: Any) -> Response:
    if kind == otlp.JSON:
        return Response(json_format.MessageToJson(message, indent=None), 200, media_type=otlp.JSON)
    return Response(message.SerializeToString(), 200, media_type=otlp.PROTOBUF)


def _failure(kind: str, status: int, message: str, *, retry_after: bool = False) -> Response:
    headers = {"Retry-After": RETRY_AFTER_S} if retry_after else None
    if kind == otlp.JSON:
        return JSONResponse({"code": _grpc_code(status), "message": message}, status, headers=headers)
    body = Status(code=_grpc_code(status), message=message).SerializeToString()
    return Response(body, status, headers=headers, media_type=otlp.PROTOBUF)


def _grpc_code(status: int) -> int:
    return {400: 3, 413: 8, 415: 3, 429: 8, 503: 14, 401: 16}.get(status, 2)


# --- query API, health, metrics ------------------------------------------------------
def _query(c: Collector) -> Callable[[Request], Awaitable[Response]]:
    limits = c.config.query

    async def handler(request: Request) -> Response:
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"error": 'body must be JSON: {"sql": "SELECT ..."}'}, 400)
        arrow = query_api.ARROW_STREAM in request.headers.get("accept", "")

        def encode(table: Any, truncated: bool, deadline: float) -> bytes:
            # Runs inside the store's query slot and time limit: building the answer counts too.
            if arrow:
                return query_api.to_arrow_ipc(table)
            return query_api.to_json(table, truncated=truncated, deadline=deadline)

        def run(sql: str) -> tuple[bytes, bool]:
            return c.store.query_limited(
                sql, timeout_s=limits.timeout_s, max_rows=limits.max_rows, max_answer_bytes=limits.max_answer_bytes,
                max_memory_bytes=limits.max_memory_bytes, encode=encode,
            )

        try:
            sql = query_api.check_sql(payload.get("sql") if isinstance(payload, dict) else None)
            body, truncated = await run_in_threadpool(run, sql)
        except QueryBusy as exc:
            return JSONResponse({"error": str(exc)}, 429, headers={"Retry-After": RETRY_AFTER_S})
        except QueryTooLarge as exc:
            return JSONResponse({"error": str(exc)}, 413)
        except QueryTimeout as exc:
            return JSONResponse({"error": str(exc)}, 408)
        except ValueError as exc:  # QueryRefused included
            return JSONResponse({"error": str(exc)}, 400)
        headers = {"X-Claudescope-Truncated": "true"} if truncated else None
        media = query_api.ARROW_STREAM if arrow else "application/json"
        return Response(body, 200, media_type=media, headers=headers)

    return handler


def _healthz(c: Collector) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        if c.writer.healthy:
            return PlainTextResponse("ok")
        return PlainTextResponse("store not writable", 503, headers={"Retry-After": RETRY_AFTER_S})

    return handler


def _metrics(c: Collector) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        gauges = await run_in_threadpool(_gauges, c)
        return PlainTextResponse(c.metrics.render(gauges), media_type="text/plain; version=0.0.4")

    return handler


def _gauges(c: Collector) -> dict[str, tuple[str, float]]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spend = c.store.spend_since(today)
    unpriced = c.store.unpriced_calls()
    return {
        "claudescope_queue_depth": ("Rows waiting for the next commit", c.writer.queue_depth),
        "claudescope_store_bytes": ("Store file size on disk", c.store.size_bytes()),
        "claudescope_spend_today_usd": ("Spend of calls started today (UTC)", float(spend or 0)),
        "claudescope_unpriced_calls": ("Stored calls whose model has no price", float(unpriced or 0)),
    }
