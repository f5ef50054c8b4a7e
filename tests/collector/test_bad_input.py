"""A corpus of hostile bodies: each answered 4xx, the process stays up, the store is unchanged."""

from __future__ import annotations

import gzip
import json
import zlib

import httpx

from tests.fixtures_collector import call_span, encode_spans

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _deep_protobuf(depth: int) -> bytes:
    """A span whose attribute value nests array_value `depth` times (raw wire format)."""
    value = _field(1, b"x")  # AnyValue.string_value
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    kv = _field(1, b"k") + _field(2, value)
    span = _field(1, bytes(range(1, 17))) + _field(2, bytes(range(1, 9))) + _field(5, b"chat") + _field(9, kv)
    return _field(1, _field(2, _field(2, span)))  # resource_spans -> scope_spans -> spans


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * (1 << 20)
    out = [compressor.compress(chunk) for _ in range(size >> 20)]
    out.append(compressor.flush())
    return b"".join(out)


def _bad_utf8_protobuf() -> bytes:
    good = encode_spans([call_span(feature="FEATUREX")])
    return good.replace(b"FEATUREX", b"FEAT\xff\xfeRX")


def _corpus() -> list[tuple[str, bytes, dict[str, str], set[int]]]:
    valid = encode_spans([call_span()])
    deep_json: object = {"stringValue": "x"}
    for _ in range(200):
        deep_json = {"arrayValue": {"values": [deep_json]}}
    return [
        ("truncated protobuf", valid[: len(valid) // 2], PB, {400}),
        ("random bytes", b"\x0a\xff\xff\xff\xff\xff\xff\x0f" * 4, PB, {400}),
        ("deep protobuf nesting", _deep_protobuf(300), PB, {400}),
        ("bad utf-8 in protobuf string", _bad_utf8_protobuf(), PB, {400}),
        ("json not an object", b"[1,2,3]", JS, {400}),
        ("json syntax", b'{"resourceSpans": [', JS, {400}),
        ("json wrong types", json.dumps({"resourceSpans": [{"scopeSpans": "nope"}]}).encode(), JS, {400}),
        ("json wrong id type", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 5}]}]}]}).encode(), JS, {400}),
        ("json bad utf-8", b'{"resourceSpans": "\xff\xfe"}', JS, {400}),
        ("json deep nesting", ('{"a":' * 100_000 + "1" + "}" * 100_000).encode(), JS, {400}),
        ("json deep AnyValue", json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "k", "value": deep_json}]}]}]}]}).encode(), JS, {400}),
        ("gzip bomb", _gzip_bomb(80 << 20), {**PB, "Content-Encoding": "gzip"}, {413}),
        ("corrupt gzip", b"\x1f\x8b\x08\x00garbage", {**PB, "Content-Encoding": "gzip"}, {400}),
        ("truncated gzip", gzip.compress(valid)[:-12], {**PB, "Content-Encoding": "gzip"}, {400}),
        ("unknown encoding", valid, {**PB, "Content-Encoding": "br"}, {415}),
        ("no content type", valid, {}, {415}),
        ("text content type", valid, {"Content-Type": "text/plain"}, {415}),
    ]


def test_bad_input_corpus(collector) -> None:
    assert collector.post_spans([call_span(feature="baseline")]).status_code == 200
    before = collector.query("SELECT * FROM calls")
    for name, body, headers, expected in _corpus():
        r = httpx.post(collector.url + "/v1/traces", content=body, headers=headers, timeout=60)
        assert r.status_code in expected, (name, r.status_code, r.text[:200])
        assert collector.proc.poll() is None, name
    assert httpx.get(collector.url + "/healthz").status_code == 200
    assert collector.query("SELECT * FROM calls") == before
    # and it still ingests
    assert collector.post_spans([call_span()]).status_code == 200


def test_oversize_attribute_truncated_and_marked(inproc) -> None:
    from tests.fixtures_collector import post_spans

    huge = "é" * 100_000  # 200 KB of UTF-8, over the 64 KiB value limit
    many = {f"claudescope.attr.k{i}": i for i in range(600)}
    r = post_spans(inproc.url, [call_span(attributes={"claudescope.attr.big": huge, **many})])
    assert r.status_code == 200
    row = inproc.query("SELECT attributes, strlen(attributes::VARCHAR) AS n FROM calls")[0]
    attrs = json.loads(row["attributes"])
    assert attrs["claudescope.truncated_attributes"] == ["claudescope.attr.big"]
    assert len(attrs["big"].encode()) <= 64 * 1024  # claudescope.attr.<key> lands under <key> (SPEC §2)
    assert attrs["claudescope.dropped_attributes"] > 0
    assert row["n"] < 1024 * 1024
