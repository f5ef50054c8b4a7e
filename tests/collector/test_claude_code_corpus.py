"""The Claude Code telemetry corpus (tests/fixtures/claude_code) is complete and decodes.

The corpus is what the real, pinned ``claude`` CLI sent in each telemetry mode against the
bundled fake API (``regenerate.py``). These checks need no network and no Node: they only read
the checked-in files, so a broken regeneration (a missing mode, a body of the wrong type, a run
that never reached the fake) fails here before any ingest test reads it.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claude_code"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
MODES = ("protobuf", "json", "traces", "retry", "exhausted", "grpc")
REQUEST_TYPES: dict[str, type[Message]] = {
    "/v1/logs": ExportLogsServiceRequest, "/v1/metrics": ExportMetricsServiceRequest, "/v1/traces": ExportTraceServiceRequest,
}
EVENTS_SCOPE = "com.anthropic.claude_code.events"
TRACING_SCOPE = "com.anthropic.claude_code.tracing"


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON writes ids as hex; json_format wants base64."""
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
            else _hex_ids_to_base64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def decode_body(entry: dict[str, Any]) -> Message:
    """One recorded body as the OTLP request type of its path (strict: unknown JSON fields fail)."""
    message = REQUEST_TYPES[entry["path"]]()
    raw = (FIXTURES / "corpus" / entry["file"]).read_bytes()
    assert entry["content_encoding"] in (None, "identity"), "the corpus stores bodies as sent, uncompressed"
    if entry["content_type"].startswith("application/json"):
        json_format.ParseDict(_hex_ids_to_base64(json.loads(raw)), message)
    else:
        message.ParseFromString(raw)
    return message


def log_records(mode: str) -> list[tuple[str, dict[str, Any], Any]]:
    """(event name, attributes, record) of every Claude Code event record of one mode."""
    out = []
    for entry in MANIFEST["modes"][mode]["bodies"]:
        if entry["path"] != "/v1/logs":
            continue
        for rl in decode_body(entry).resource_logs:
            for sl in rl.scope_logs:
                if sl.scope.name != EVENTS_SCOPE:
                    continue
                for record in sl.log_records:
                    attrs = {kv.key: json_format.MessageToDict(kv.value) for kv in record.attributes}
                    out.append((record.body.string_value, attrs, record))
    return out


def test_manifest_pins_the_version_in_package_json() -> None:
    package = json.loads((FIXTURES / "package.json").read_text())
    lock = json.loads((FIXTURES / "package-lock.json").read_text())
    pinned = package["dependencies"]["@anthropic-ai/claude-code"]
    assert pinned[0].isdigit(), "an exact version, not a range"
    assert lock["packages"]["node_modules/@anthropic-ai/claude-code"]["version"] == pinned
    assert MANIFEST["claude_code_version"] == pinned


@pytest.mark.parametrize("mode", MODES)
def test_every_body_decodes_as_its_path_says(mode: str) -> None:
    entry = MANIFEST["modes"][mode]
    assert entry["bodies"], f"{mode}: no OTLP body was captured"
    paths = {b["path"] for b in entry["bodies"]}
    assert {"/v1/logs", "/v1/metrics"} <= paths
    assert ("/v1/traces" in paths) == entry["traces"]
    for body in entry["bodies"]:
        expected = "application/grpc" if entry["protocol"] == "grpc" else (
            "application/json" if entry["protocol"] == "http/json" else "application/x-protobuf")
        assert body["content_type"].startswith(expected)
        assert decode_body(body).ByteSize() > 0, body["file"]


@pytest.mark.parametrize("mode", ("protobuf", "json", "traces", "retry", "grpc"))
def test_one_api_request_event_per_answered_request(mode: str) -> None:
    usage = MANIFEST["usage"]
    answered = [r for r in MANIFEST["modes"][mode]["requests"] if r["http_status"] == 200]
    assert answered, f"{mode}: the fake answered no request"
    for r in answered:  # the fake answered exactly what it was told: every token class, 1h apart
        assert (r["input_tokens"], r["cache_read_tokens"], r["cache_write_5m_tokens"], r["cache_write_1h_tokens"], r["output_tokens"]) == (
            usage["input"], usage["cache_read"], usage["cache_write_5m"], usage["cache_write_1h"], usage["output"])
    events = [attrs for name, attrs, _ in log_records(mode) if name == "claude_code.api_request"]
    assert sorted(e["request_id"]["stringValue"] for e in events) == sorted(r["request_id"] for r in answered)


def test_retry_mode_answered_a_529_first() -> None:
    statuses = [r["http_status"] for r in MANIFEST["modes"]["retry"]["requests"]]
    assert statuses == [529, 200]


def test_exhausted_mode_reports_the_failure() -> None:
    entry = MANIFEST["modes"]["exhausted"]
    assert entry["requests"] and all(r["http_status"] == 529 for r in entry["requests"])
    names = [name for name, _, _ in log_records("exhausted")]
    assert "claude_code.api_error" in names and "claude_code.api_retries_exhausted" in names
    assert "claude_code.api_request" not in names


def test_beta_traces_hold_llm_request_and_interaction_spans() -> None:
    names = set()
    for body in MANIFEST["modes"]["traces"]["bodies"]:
        if body["path"] == "/v1/traces":
            for rs in decode_body(body).resource_spans:
                for ss in rs.scope_spans:
                    assert ss.scope.name == TRACING_SCOPE
                    names |= {span.name for span in ss.spans}
    assert {"claude_code.llm_request", "claude_code.interaction"} <= names
