"""OTLP/JSON: an attribute value that is not an AnyValue object is a 400 with a reason, never stored blank."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fixtures_collector import call_span, encode_spans


def _document(span: dict[str, Any]) -> dict[str, Any]:
    """One span as an OTLP/JSON document (hex ids, as the spec writes them)."""
    message = ExportTraceServiceRequest()
    message.ParseFromString(encode_spans([span]))
    document = json_format.MessageToDict(message)
    json_span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId"):
        json_span[key] = base64.b64decode(json_span[key]).hex()
    return document


def _post(url: str, document: dict[str, Any]) -> httpx.Response:
    return httpx.post(url + "/v1/traces", content=json.dumps(document).encode(),
                      headers={"Content-Type": "application/json"}, timeout=30)


def _stored(collector: Any, span_id: str) -> int:
    return int(collector.query(f"SELECT count(*) AS n FROM calls WHERE span_id = '{span_id}'")[0]["n"])


BAD_VALUES = [
    pytest.param("plain string", "got a string", id="string"),
    pytest.param(42, "got a number", id="number"),
    pytest.param(["support_chat"], "got an array", id="array"),
    pytest.param({"stringValue": "support_chat", "colour": "red"}, "unknown AnyValue field(s) 'colour'", id="unknown-field"),
    pytest.param({"arrayValue": {"values": ["a"]}}, "got a string", id="array-element"),
    pytest.param({"kvlistValue": {"values": [{"key": "feature", "value": 7}]}}, "got a number", id="kvlist-value"),
]


@pytest.mark.parametrize(("bad", "reason"), BAD_VALUES)
def test_non_anyvalue_attribute_is_400_with_reason(collector: Any, bad: Any, reason: str) -> None:
    span = call_span(feature="support_chat")
    document = _document(span)
    attributes = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    target = next(kv for kv in attributes if kv["value"].get("stringValue") == "support_chat")
    target["value"] = bad

    answer = _post(collector.url, document)
    assert answer.status_code == 400, answer.text
    assert reason in answer.text and f"attribute '{target['key']}" in answer.text, answer.text
    assert _stored(collector, span["span_id"]) == 0

    # The collector keeps serving: the same span with a proper value is stored.
    answer = _post(collector.url, _document(span))
    assert answer.status_code == 200, answer.text
    assert _stored(collector, span["span_id"]) == 1


def test_resource_attribute_is_checked_too(collector: Any) -> None:
    document = _document(call_span())
    resource = document["resourceSpans"][0]["resource"]["attributes"]
    next(kv for kv in resource if kv["key"] == "service.name")["value"] = "svc"
    answer = _post(collector.url, document)
    assert answer.status_code == 400 and "service.name" in answer.text, answer.text


def test_valid_anyvalue_shapes_are_accepted(collector: Any) -> None:
    span = call_span()
    document = _document(span)
    attributes = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    attributes += [
        {"key": "demo.list", "value": {"arrayValue": {"values": [{"intValue": "3"}, {"stringValue": "x"}]}}},
        {"key": "demo.map", "value": {"kvlistValue": {"values": [{"key": "k", "value": {"boolValue": True}}]}}},
        {"key": "demo.empty", "value": {}},
    ]
    answer = _post(collector.url, document)
    assert answer.status_code == 200, answer.text
    assert _stored(collector, span["span_id"]) == 1
