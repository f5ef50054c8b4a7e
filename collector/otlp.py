"""OTLP wire formats -> ``ExportTraceServiceRequest`` messages, with the SPEC §3 limits.

Protobuf goes through the upb C parser. OTLP/JSON cannot be fed to ``json_format`` directly
(its ids are hex, not base64), so ids are rewritten first. Every failure is a ``BadRequest``
whose message says what was wrong; the HTTP and gRPC layers turn it into 400/413/415 answers.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Iterator
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from claudescope.collector.anyvalue import check_attribute_values

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_KEYS = frozenset(("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"))
MAX_JSON_DEPTH = 64


class BadRequest(ValueError):
    """The request cannot be decoded; ``status`` is the HTTP answer (400, 413 or 415)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __reduce__(self) -> tuple[type, tuple[int, str]]:
        # Raised in ingest worker processes and pickled back to the collector.
        return (BadRequest, (self.status, self.message))


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json`` from a Content-Type header.

    Raises:
        BadRequest: 415 for any other type.
    """
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    # Exactly the two OTLP/HTTP types (SPEC §3): no exporter sends another, and a type a web page
    # can POST without a CORS preflight (text/plain, forms) must never be decoded.
    if kind == PROTOBUF:
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise BadRequest(415, f"unsupported content type {kind or '(none)'!r}; use {PROTOBUF} or {JSON}")


def decompress(body: bytes, encoding: str | None, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate), never producing more than ``max_bytes``.

    Raises:
        BadRequest: 413 when the body (before or after decompression) is too large, 400 when
        the compressed stream is corrupt, 415 for an unknown encoding.
    """
    enc = (encoding or "identity").strip().lower()
    if len(body) > max_bytes:
        raise BadRequest(413, f"request body exceeds {max_bytes} bytes")
    if enc in ("identity", ""):
        return body
    if enc == "gzip":
        wbits = 16 + zlib.MAX_WBITS
    elif enc == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise BadRequest(415, f"unsupported content encoding {enc!r}; use gzip or deflate")
    inflater = zlib.decompressobj(wbits)
    try:
        # Bounded output: a gzip bomb stops at the limit instead of filling memory.
        out = inflater.decompress(body, max_bytes + 1)
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise BadRequest(413, f"request body exceeds {max_bytes} bytes after decompression")
        if not inflater.eof:
            raise BadRequest(400, f"truncated {enc} stream")
    except zlib.error as exc:
        raise BadRequest(400, f"corrupt {enc} stream: {exc}") from None
    return out


def decode_traces_lazy(body: bytes, kind: str) -> Message:
    """Parse an already-decompressed OTLP traces body of ``kind`` (PROTOBUF or JSON), each span's
    attributes left as serialized ``KeyValue`` bytes.

    The same wire format read through a view (``LAZY_REQUEST``) whose ``Span.attributes`` is
    ``repeated bytes``: upb copies each attribute's bytes instead of building Python objects
    for it, so the normaliser can decode each distinct attribute once (most repeat from span
    to span: model, feature, user, provider...). Decode them with :func:`decode_attribute`.
    """
    if kind == JSON:
        return _lazy_from_json(body)
    request = LAZY_REQUEST()
    _parse(request, body)
    return request


def _lazy_from_json(body: bytes) -> Message:
    """OTLP/JSON straight into the lazy view: parsed once, each span attribute converted once.

    Span attributes become the serialized ``KeyValue`` bytes the view holds (as base64, which is
    how JSON spells a bytes field); the rest of the document is read by ``ParseDict`` as is.
    """
    request = LAZY_REQUEST()
    document = _load_json(body)
    try:
        converted = _ids_to_base64(document, 0)
        check_attribute_values(converted)  # ignore_unknown_fields would blank a non-AnyValue
        for span in _json_spans(converted):
            attributes = span.get("attributes")
            if isinstance(attributes, list):
                span["attributes"] = [_serialized_attribute(kv) for kv in attributes]
            _enum_numbers(span)
        json_format.ParseDict(converted, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        raise BadRequest(400, f"invalid OTLP/JSON: {str(exc)[:300]}") from None
    return request


def _json_spans(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource_spans in _json_list(document, "resourceSpans", "resource_spans"):
        for scope_spans in _json_list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _json_list(scope_spans, "spans", "spans"):
                if isinstance(span, dict):
                    yield span


def _json_list(node: Any, camel: str, snake: str) -> list[Any]:
    if not isinstance(node, dict):
        return []
    value = node.get(camel, node.get(snake))
    return value if isinstance(value, list) else []


def _enum_numbers(span: dict[str, Any]) -> None:
    """The lazy view keeps the span kind as a plain integer: read an enum name here."""
    kind = span.get("kind")
    if isinstance(kind, str) and not kind.lstrip("-").isdigit():
        span["kind"] = trace_pb2.Span.SpanKind.Value(kind)


def _serialized_attribute(kv: Any) -> str:
    message = common_pb2.KeyValue()
    json_format.ParseDict(kv, message, ignore_unknown_fields=True)
    return base64.b64encode(message.SerializeToString()).decode("ascii")


def parse_message(message: Message, body: bytes, kind: str) -> Message:
    """Parse an already-decompressed OTLP body of ``kind`` into ``message``, eagerly.

    For the small, rare bodies (logs, metrics); traces go through :func:`decode_traces_lazy`.

    Raises:
        BadRequest: 400 for an undecodable body (invalid UTF-8, too deep, not OTLP).
    """
    if kind == PROTOBUF:
        _parse(message, body)
        return message
    document = _load_json(body)
    try:
        converted = _ids_to_base64(document, 0)
        check_attribute_values(converted)  # ignore_unknown_fields would blank a non-AnyValue
        json_format.ParseDict(converted, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(400, f"invalid OTLP/JSON: {str(exc)[:300]}") from None
    return message


def decode_attribute(blob: bytes) -> common_pb2.KeyValue:
    """One serialized ``KeyValue`` of a lazily decoded span.

    Raises:
        BadRequest: 400, as the whole body would have been refused by an eager parse.
    """
    kv = common_pb2.KeyValue()
    _parse(kv, blob)
    return kv


def _parse(message: Message, body: bytes) -> None:
    try:
        message.ParseFromString(body)
    except (DecodeError, RecursionError) as exc:
        raise BadRequest(400, f"undecodable protobuf: {exc}") from None


def _load_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text)
    except RecursionError:
        raise BadRequest(400, "JSON nesting too deep") from None
    except ValueError as exc:
        raise BadRequest(400, f"invalid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest(400, "OTLP/JSON body must be an object")
    return document


def _ids_to_base64(node: Any, depth: int) -> Any:
    """Copy of ``node`` with hex ids rewritten to the base64 that json_format expects."""
    if depth > MAX_JSON_DEPTH:
        raise BadRequest(400, f"JSON nesting deeper than {MAX_JSON_DEPTH}")
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                out[key] = _hex_to_base64(value)
            else:
                out[key] = _ids_to_base64(value, depth + 1)
        return out
    if isinstance(node, list):
        return [_ids_to_base64(item, depth + 1) for item in node]
    return node


def _hex_to_base64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        # Not hex: keep no id, so the span is rejected with a reason instead of the batch.
        raw = b""
    return base64.b64encode(raw).decode("ascii")


def _lazy_request_class() -> type[Message]:
    """ExportTraceServiceRequest's wire format with ``Span.attributes`` as ``repeated bytes``.

    Fields claudescope never reads (trace_state, flags, events, links, dropped counts) are left
    undeclared: upb keeps them as unknown bytes without decoding them.
    """
    file = descriptor_pb2.FileDescriptorProto(
        name="claudescope/lazy_trace.proto", package="claudescope.lazy", syntax="proto3",
        dependency=[common_pb2.DESCRIPTOR.name, resource_pb2.DESCRIPTOR.name, trace_pb2.DESCRIPTOR.name],
    )
    optional, repeated = Field.LABEL_OPTIONAL, Field.LABEL_REPEATED

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        proto = file.message_type.add(name=name)
        for field_name, number, field_type, label, type_name in fields:
            field = proto.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name:  # proto2 presence: an empty type_name would still count as set
                field.type_name = type_name

    message(
        "Span",
        ("trace_id", 1, Field.TYPE_BYTES, optional, ""), ("span_id", 2, Field.TYPE_BYTES, optional, ""),
        ("parent_span_id", 4, Field.TYPE_BYTES, optional, ""), ("name", 5, Field.TYPE_STRING, optional, ""),
        ("kind", 6, Field.TYPE_INT32, optional, ""),
        ("start_time_unix_nano", 7, Field.TYPE_FIXED64, optional, ""),
        ("end_time_unix_nano", 8, Field.TYPE_FIXED64, optional, ""),
        ("attributes", 9, Field.TYPE_BYTES, repeated, ""),
        ("status", 15, Field.TYPE_MESSAGE, optional, ".opentelemetry.proto.trace.v1.Status"),
    )
    message(
        "ScopeSpans",
        ("scope", 1, Field.TYPE_MESSAGE, optional, ".opentelemetry.proto.common.v1.InstrumentationScope"),
        ("spans", 2, Field.TYPE_MESSAGE, repeated, ".claudescope.lazy.Span"),
    )
    message(
        "ResourceSpans",
        ("resource", 1, Field.TYPE_MESSAGE, optional, ".opentelemetry.proto.resource.v1.Resource"),
        ("scope_spans", 2, Field.TYPE_MESSAGE, repeated, ".claudescope.lazy.ScopeSpans"),
    )
    message("ExportTraceServiceRequest", ("resource_spans", 1, Field.TYPE_MESSAGE, repeated, ".claudescope.lazy.ResourceSpans"))
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName("claudescope.lazy.ExportTraceServiceRequest")
    except KeyError:
        descriptor = pool.Add(file).message_types_by_name["ExportTraceServiceRequest"]
    return message_factory.GetMessageClass(descriptor)


LAZY_REQUEST = _lazy_request_class()
