"""The per-call shortcuts (one context read, the cached plain-system prefix, the result-kind
cache) give the same spans as the long way round."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation

from claudescope import semconv as sc
from claudescope.instrument import _prefix

from .conftest import HELLO, MODEL, Otel


def test_suppress_instrumentation_and_parenting(otel: Otel, client: anthropic.Anthropic) -> None:
    with suppress_instrumentation():
        assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO).id
    assert otel.spans() == []
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as parent:
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        # Our span is current only while request() runs.
        assert trace.get_current_span() is parent
    span = otel.one()
    assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
    assert span.context.trace_id == parent.get_span_context().trace_id


_BREAKPOINT = {"type": "ephemeral"}


@pytest.mark.parametrize("body", [
    {"system": "Be terse.", "messages": HELLO},
    {"system": "Be terse.", "messages": HELLO, "tools": []},
    {"system": "", "messages": HELLO},
    {"system": "Be terse.", "messages": "not a list"},
    {"system": "Be terse.", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Long document", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]},
    {"system": "Be terse.", "messages": HELLO, "cache_control": _BREAKPOINT},
    {"system": "Be terse.", "messages": [], "cache_control": _BREAKPOINT},
    {"system": "Be terse.", "messages": HELLO, "tools": [{"name": "t", "input_schema": {}}]},
    {"system": [{"type": "text", "text": "Be terse."}], "messages": HELLO},
])
def test_prefix_shortcut_matches_the_general_path(body: dict[str, Any]) -> None:
    assert dict(_prefix.prefix_attributes(body)) == _prefix._general(body)


def test_prefix_breakpoint_in_messages_with_plain_system() -> None:
    plain = dict(_prefix.prefix_attributes({"system": "Be terse.", "messages": HELLO}))
    cut = dict(_prefix.prefix_attributes({"system": "Be terse.", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "doc", "cache_control": {"type": "ephemeral"}}]}]}))
    assert plain[sc.CS_PREFIX_HAS_BREAKPOINT] is False and sc.CS_CACHE_TTL not in plain
    assert cut[sc.CS_PREFIX_HAS_BREAKPOINT] is True and cut[sc.CS_CACHE_TTL] == "5m"
    assert cut[sc.CS_PREFIX_HASH] != plain[sc.CS_PREFIX_HASH]


def test_result_kinds_stay_sorted_per_call(otel: Otel, client: anthropic.Anthropic) -> None:
    """A plain Message, a raw response and a stream in turn, twice: the per-class cache
    never sends one kind down another's path."""
    for _ in range(2):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
        raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HELLO)
        raw.parse()
        with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            stream.get_final_text()
    spans = otel.spans()
    assert len(spans) == 6
    assert [s.attributes.get(sc.CS_RAW_RESPONSE, False) for s in spans] == [False, True, False] * 2
    assert [s.attributes.get(sc.CS_STREAM_END) for s in spans] == [None, None, "read"] * 2
    assert all(s.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0 for s in spans)
    assert all(len(s.events) == 1 for s in spans)
