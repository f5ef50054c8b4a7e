"""Collector fixtures: a real ``claudescope collector`` subprocess and a span builder.

Fixtures (pytest plugin, registered in tests/conftest.py):

``collector_factory``
    ``start(config_toml: str | None = None, *, token: str | None = None, data_dir: Path | None = None,
    env: dict | None = None) -> RunningCollector`` starts
    ``python -m claudescope collector --data <tmp> --port <free> --grpc-port 0 --no-alerts``
    (``alerts=True`` keeps the alert engine) exactly as a user would, waits for ``/healthz`` and
    returns a :class:`RunningCollector`. Every collector started is stopped at teardown.

``collector``
    One running collector with a fresh data dir (no token, no config file).

:class:`RunningCollector`
    ``.url`` (base URL), ``.data_dir``, ``.port``, ``.token``, ``.proc`` (the Popen),
    ``.query(sql) -> list[dict]`` (through POST /api/v1/query; DECIMALs come back as strings,
    timestamps as ISO 8601 UTC strings), ``.post_spans(spans, **kw) -> httpx.Response``,
    ``.stop()`` (SIGTERM, waits: a clean shutdown), ``.kill()`` (SIGKILL), ``.log()`` (its stderr).

Building spans with known data (module-level helpers, import them from tests.fixtures_collector):

``call_span(**fields) -> dict``
    A dict describing one Claude call span with sensible defaults (claudescope producer, model
    ``claude-sonnet-4-5``, 100 input / 20 output tokens, ok, end_turn, started now). Keyword
    names: ``trace_id`` / ``span_id`` (hex; random by default), ``parent_span_id``, ``name``,
    ``start`` (datetime, UTC), ``duration_ms``, ``scope`` (instrumentation scope name),
    ``service`` (service.name), ``status_error`` (bool), and ``attributes`` (dict merged over
    the defaults; a value of None removes a default). Shortcut keywords set the matching
    claudescope attribute: ``model``, ``input_tokens`` (uncached), ``output_tokens``,
    ``cache_read_tokens``, ``cache_write_5m_tokens``, ``cache_write_1h_tokens``, ``stop_reason``,
    ``user_id``, ``feature``, ``prompt_version``, ``error_type``, ``http_status``, ``retries``,
    ``max_tokens``, ``response_id``, ``operation``, ``stream``, ``ttft_s``.

``encode_spans(spans: list[dict]) -> bytes``
    An OTLP ``ExportTraceServiceRequest`` (protobuf) built with opentelemetry-proto, grouped by
    (service, scope).

``post_spans(url, spans, *, token=None, gzip=False, json=False) -> httpx.Response``
    POST them to ``url + "/v1/traces"``.
"""

from __future__ import annotations

import gzip as gzip_mod
import json as json_mod
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from claudescope import semconv as sc
from claudescope.fakeapi.server import free_port

_REPO = Path(__file__).resolve().parent.parent

_SHORTCUTS = {
    "model": (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL),
    "input_tokens": (sc.CS_UNCACHED_INPUT_TOKENS,),
    "output_tokens": (sc.GEN_AI_USAGE_OUTPUT_TOKENS,),
    "cache_read_tokens": (sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,),
    "cache_write_5m_tokens": (sc.ANTHROPIC_CACHE_WRITE_5M,),
    "cache_write_1h_tokens": (sc.ANTHROPIC_CACHE_WRITE_1H,),
    "stop_reason": (sc.ANTHROPIC_STOP_REASON,),
    "user_id": (sc.CS_USER_ID,),
    "feature": (sc.CS_FEATURE,),
    "prompt_version": (sc.CS_PROMPT_VERSION,),
    "error_type": (sc.ERROR_TYPE,),
    "http_status": (sc.HTTP_RESPONSE_STATUS_CODE,),
    "retries": (sc.HTTP_REQUEST_RESEND_COUNT,),
    "max_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS,),
    "response_id": (sc.GEN_AI_RESPONSE_ID,),
    "operation": (sc.CS_OPERATION, sc.GEN_AI_OPERATION_NAME),
    "stream": (sc.GEN_AI_REQUEST_STREAM,),
    "ttft_s": (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,),
}


def call_span(**fields: Any) -> dict[str, Any]:
    """One Claude call span as a plain dict (see the module docstring for the keywords)."""
    start = fields.pop("start", None) or datetime.now(UTC)
    duration_ms = float(fields.pop("duration_ms", 850.0))
    attrs: dict[str, Any] = {
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.CS_OPERATION: "chat",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_REQUEST_MAX_TOKENS: 1024,
        sc.CS_UNCACHED_INPUT_TOKENS: 100,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 20,
        sc.ANTHROPIC_STOP_REASON: "end_turn",
        sc.HTTP_RESPONSE_STATUS_CODE: 200,
        sc.GEN_AI_RESPONSE_ID: "msg_" + uuid.uuid4().hex[:24],
        sc.ANTHROPIC_REQUEST_ID: "req_" + uuid.uuid4().hex[:24],
    }
    for key, names in _SHORTCUTS.items():
        if key in fields:
            value = fields.pop(key)
            for name in names:
                attrs[name] = value
    for key, value in (fields.pop("attributes", None) or {}).items():
        attrs[key] = value
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs:
        attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = sum(
            int(attrs.get(k, 0) or 0)
            for k in (sc.CS_UNCACHED_INPUT_TOKENS, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, sc.ANTHROPIC_CACHE_WRITE_5M, sc.ANTHROPIC_CACHE_WRITE_1H)
        )
    span = {
        "trace_id": fields.pop("trace_id", None) or uuid.uuid4().hex,
        "span_id": fields.pop("span_id", None) or uuid.uuid4().hex[:16],
        "parent_span_id": fields.pop("parent_span_id", None),
        "name": fields.pop("name", "chat " + str(attrs.get(sc.GEN_AI_REQUEST_MODEL, ""))),
        "start": start,
        "end": start + timedelta(milliseconds=duration_ms),
        "scope": fields.pop("scope", sc.INSTRUMENTATION_SCOPE),
        "service": fields.pop("service", "test-app"),
        "status_error": bool(fields.pop("status_error", bool(attrs.get(sc.ERROR_TYPE)))),
        "attributes": attrs,
    }
    if fields:
        raise TypeError(f"unknown call_span fields: {sorted(fields)}")
    return span


def _any_value(value: Any) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue

    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, (list, tuple)):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=str(value))


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def encode_spans(spans: list[dict[str, Any]]) -> bytes:
    """An OTLP/protobuf ExportTraceServiceRequest holding ``spans`` (dicts from call_span)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

    groups: dict[tuple[str, str], list[Any]] = {}
    for s in spans:
        span = Span(
            trace_id=bytes.fromhex(s["trace_id"]),
            span_id=bytes.fromhex(s["span_id"]),
            parent_span_id=bytes.fromhex(s["parent_span_id"]) if s.get("parent_span_id") else b"",
            name=s["name"],
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=_nanos(s["start"]),
            end_time_unix_nano=_nanos(s["end"]),
            attributes=[KeyValue(key=k, value=_any_value(v)) for k, v in s["attributes"].items()],
            status=Status(code=Status.STATUS_CODE_ERROR if s["status_error"] else Status.STATUS_CODE_OK),
        )
        groups.setdefault((s["service"], s["scope"]), []).append(span)
    request = ExportTraceServiceRequest()
    for (service, scope), items in groups.items():
        resource = Resource(attributes=[KeyValue(key="service.name", value=_any_value(service))])
        request.resource_spans.append(
            ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=items)])
        )
    return request.SerializeToString()


def post_spans(url: str, spans: list[dict[str, Any]], *, token: str | None = None, gzip: bool = False, json: bool = False) -> httpx.Response:
    """POST spans to ``url``/v1/traces as OTLP protobuf (or OTLP/JSON with json=True)."""
    headers = {"Content-Type": "application/x-protobuf"}
    body = encode_spans(spans)
    if json:
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        document = json_format.MessageToDict(message)
        _b64_ids_to_hex(document)
        body = json_mod.dumps(document).encode()
        headers["Content-Type"] = "application/json"
    if gzip:
        body = gzip_mod.compress(body)
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(url.rstrip("/") + "/v1/traces", content=body, headers=headers, timeout=30)


def _b64_ids_to_hex(node: Any) -> None:
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _b64_ids_to_hex(value)
    elif isinstance(node, list):
        for item in node:
            _b64_ids_to_hex(item)


class RunningCollector:
    """A ``claudescope collector`` subprocess (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen[bytes], url: str, port: int, data_dir: Path, token: str | None, log_path: Path) -> None:
        self.proc = proc
        self.url = url
        self.port = port
        self.data_dir = data_dir
        self.token = token
        self._log_path = log_path

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def query(self, sql: str) -> list[dict[str, Any]]:
        """Rows of a read-only query through the collector's query API."""
        r = httpx.post(self.url + "/api/v1/query", json={"sql": sql}, headers=self._headers(), timeout=30)
        if r.status_code != 200:
            raise AssertionError(f"query failed {r.status_code}: {r.text}")
        body = r.json()
        return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]

    def post_spans(self, spans: list[dict[str, Any]], **kw: Any) -> httpx.Response:
        """POST spans to this collector (token added automatically)."""
        kw.setdefault("token", self.token)
        return post_spans(self.url, spans, **kw)

    def log(self) -> str:
        """The collector's stderr so far."""
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait for a clean exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL (crash) and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def start_collector(
    data_dir: Path,
    *,
    config_toml: str | None = None,
    token: str | None = None,
    alerts: bool = False,
    env: dict[str, str] | None = None,
    port: int | None = None,
    timeout: float = 30.0,
) -> RunningCollector:
    """Start a collector subprocess on a free port and wait for /healthz."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    argv = [sys.executable, "-m", "claudescope", "collector", "--data", str(data_dir), "--port", str(port), "--grpc-port", "0"]
    if config_toml is not None:
        cfg = data_dir.parent / f"claudescope-{port}.toml"
        cfg.write_text(config_toml)
        argv += ["--config", str(cfg)]
    if not alerts:
        argv.append("--no-alerts")
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
    if token:
        child_env["CLAUDESCOPE_TOKEN"] = token
    child_env.update(env or {})
    log_path = data_dir.parent / f"collector-{port}.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(argv, cwd=str(data_dir.parent), env=child_env, stdout=log_file, stderr=subprocess.STDOUT)
    running = RunningCollector(proc, f"http://127.0.0.1:{port}", port, data_dir, token, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"collector exited with {proc.returncode}:\n{running.log()}")
        try:
            if httpx.get(running.url + "/healthz", timeout=1).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    running.kill()
    raise TimeoutError(f"collector did not become healthy in {timeout}s:\n{running.log()}")


@pytest.fixture
def collector_factory(tmp_path: Path) -> Iterator[Any]:
    """``start(...)`` collectors (see the module docstring); all stopped at teardown."""
    started: list[RunningCollector] = []

    def start(config_toml: str | None = None, *, token: str | None = None, data_dir: Path | None = None, **kw: Any) -> RunningCollector:
        running = start_collector(data_dir or tmp_path / f"data{len(started)}", config_toml=config_toml, token=token, **kw)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def collector(collector_factory: Any) -> RunningCollector:
    """A running collector on a fresh data dir."""
    return collector_factory()
