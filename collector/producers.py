"""The producer model: what each producer of Claude call spans means by what it sends.

A producer is recognised by its instrumentation scope name (``source_of``). Its profile states in
one place what its numbers mean (is ``gen_ai.usage.input_tokens`` a total or Anthropic's uncached
count), where the 5m/1h cache-write split lives, how it encodes stop reasons and streams, and which
facts it never gives. ``attributes`` picks each fact by name (the alias table in ``aliases``);
``normalize`` reads the picked facts through the profile. docs/producers.md is the matrix.

An unknown producer goes through the generic GenAI-conventions profile and is named by its scope.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from claudescope import semconv as sc

# Split locations: in attributes (anthropic.usage.cache_creation.*), inside OpenInference's
# ``output.value`` Message JSON, or nowhere.
SPLIT_ATTRIBUTES, SPLIT_OUTPUT_VALUE, SPLIT_NONE = "attributes", "output_value", "none"
# Facts a producer may never give (then a stacked copy's value wins, and alone it stays NULL).
RETRIES, STREAM, STOP_REASON, RESPONSE_ID, REQUEST_ID, TTFT = (
    "retries", "stream", "stop_reason", "response_id", "request_id", "ttft_ms")

# The GenAI ``finish_reason`` values that map back to exactly one Anthropic stop reason. ``stop``
# is end_turn or stop_sequence (or pause_turn): ambiguous, so it maps to NULL.
_FINISH_BACK: Mapping[str, str | None] = MappingProxyType({
    "length": "max_tokens", "tool_call": "tool_use", "tool_calls": "tool_use", "stop": None,
    "content_filter": "refusal",
})
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Producer:
    """One producer's profile (see the module docstring)."""

    source: str  # the ``calls.source`` value (docs/producers.md lists them)
    rank: int  # stacking preference: lower wins field by field
    input_is_total: bool = True  # gen_ai.usage.input_tokens includes cache reads and writes
    split: str = SPLIT_NONE  # where the 5m/1h cache-write split lives
    stop_normalised: bool = False  # finish reasons are the GenAI enum (mapped back when unambiguous)
    stream_absent_is_false: bool = False  # sets gen_ai.request.stream only when true
    stream_in_parameters: bool = False  # "stream": true inside llm.invocation_parameters
    retries_known: bool = False  # http.request.resend_count, absent = 0
    span_names_are_operations: bool = False  # the SDK tracers: the span name is the method
    content_by_default: bool = False  # records message content without an opt-in: dropped
    server: bool = False  # the API's own server-side span
    never: frozenset[str] = field(default=_NONE)  # facts it never gives

    def stop_reason(self, raw: object) -> str | None:
        """Anthropic's raw stop reason from what the producer sent (NULL when ambiguous)."""
        if raw is None:
            return None
        text = str(raw)
        if self.stop_normalised and text in _FINISH_BACK:
            return _FINISH_BACK[text]
        return text

    def named(self, source: str) -> Producer:
        """This profile under another source name (an unknown producer named by its scope)."""
        return Producer(
            source, self.rank, self.input_is_total, self.split, self.stop_normalised, self.stream_absent_is_false,
            self.stream_in_parameters, self.retries_known, self.span_names_are_operations, self.content_by_default,
            self.server, self.never,
        )


_NO_IDS = frozenset({RESPONSE_ID, REQUEST_ID})
CLAUDESCOPE = Producer("claudescope", 0, split=SPLIT_ATTRIBUTES, retries_known=True)
SDK_PYTHON = Producer("anthropic-sdk", 1, split=SPLIT_ATTRIBUTES, retries_known=True, span_names_are_operations=True)
SDK_TYPESCRIPT = Producer("anthropic-sdk-typescript", 1, split=SPLIT_ATTRIBUTES, retries_known=True,
                          stream_absent_is_false=True, span_names_are_operations=True)
OTEL_GENAI = Producer("otel-genai", 2, stop_normalised=True, never=frozenset({RETRIES, REQUEST_ID}))
OPENLLMETRY = Producer("openllmetry", 3, stop_normalised=True, content_by_default=True,
                       never=frozenset({RETRIES, REQUEST_ID}))
OPENLLMETRY_JS = Producer("openllmetry-js", 3, input_is_total=False, stop_normalised=True, content_by_default=True,
                          never=frozenset({RETRIES, STREAM, TTFT, *_NO_IDS}))
OPENINFERENCE = Producer("openinference", 4, split=SPLIT_OUTPUT_VALUE, stream_in_parameters=True,
                         content_by_default=True, never=frozenset({RETRIES, TTFT, *_NO_IDS}))
OPENINFERENCE_JS = OPENINFERENCE.named("openinference-js")
OPENLIT = Producer("openlit", 5, input_is_total=False, stop_normalised=True, content_by_default=True,
                   never=frozenset({RETRIES, REQUEST_ID}))
LOGFIRE = Producer("logfire", 6, split=SPLIT_ATTRIBUTES, stop_normalised=True, content_by_default=True,
                   never=frozenset({RETRIES, REQUEST_ID}))
STRANDS = Producer("strands", 6, stop_normalised=True, content_by_default=True, never=frozenset({RETRIES, REQUEST_ID}))
SENTRY = Producer("sentry", 6, stop_normalised=True, content_by_default=True, never=frozenset({RETRIES, REQUEST_ID}))
# Claude Code: its api_request events know the 5m/1h split, its llm_request spans do not.
# (One source name for both: ``never`` lists only what neither gives.)
CLAUDE_CODE_EVENTS = Producer("claude-code", 7, split=SPLIT_ATTRIBUTES, never=frozenset({RESPONSE_ID}))
CLAUDE_CODE_SPANS = Producer("claude-code", 8, never=frozenset({RESPONSE_ID}))
# The generic GenAI-conventions path; ``source_of`` names it by the span's scope.
GENERIC = Producer("otel", 9, stop_normalised=True, content_by_default=True, never=frozenset({RETRIES}))
# Anthropic's server-side spans (attribute table unconfirmed: GenAI conventions assumed). Ranked
# last: the client's copy of a call is kept, the server's facts fill its gaps.
CLAUDE_PLATFORM = Producer("claude-platform", 10, split=SPLIT_ATTRIBUTES, stream_absent_is_false=True,
                           server=True, content_by_default=True, never=frozenset({RETRIES}))

# Scope-name prefixes, most specific first.
SCOPES: tuple[tuple[str, Producer], ...] = (
    (sc.INSTRUMENTATION_SCOPE, CLAUDESCOPE),
    (sc.ANTHROPIC_SDK_SCOPE, SDK_PYTHON),
    ("com.anthropic.sdk.typescript", SDK_TYPESCRIPT),
    ("com.anthropic.claude-platform", CLAUDE_PLATFORM),
    ("opentelemetry.instrumentation.genai.anthropic", OTEL_GENAI),
    ("opentelemetry.instrumentation.anthropic", OPENLLMETRY),
    ("@traceloop/instrumentation-anthropic", OPENLLMETRY_JS),
    ("@arizeai/openinference-instrumentation-anthropic", OPENINFERENCE_JS),
    ("openinference.instrumentation", OPENINFERENCE),
    ("openlit", OPENLIT),
    ("logfire", LOGFIRE),
    ("strands", STRANDS),
    ("sentry", SENTRY),
    (sc.CLAUDE_CODE_EVENTS_SCOPE, CLAUDE_CODE_EVENTS),
    (sc.CLAUDE_CODE_TRACING_SCOPE, CLAUDE_CODE_SPANS),
)
_MAX_SCOPE_SOURCE = 100  # an unknown scope names the source, bounded (senders choose it)
BY_SOURCE: Mapping[str, Producer] = MappingProxyType({p.source: p for _, p in SCOPES if p is not CLAUDE_CODE_SPANS})


def producer_of(scope_name: str) -> Producer:
    """The profile of a span from its instrumentation scope name; an unknown scope gets the
    generic GenAI-conventions profile under its own name (``otel`` when it has none)."""
    for prefix, producer in SCOPES:
        if scope_name.startswith(prefix):
            return producer
    name = scope_name.strip()[:_MAX_SCOPE_SOURCE]
    return GENERIC.named(name) if name else GENERIC


def profile_of_source(source: str) -> Producer:
    """The profile behind a stored row's ``source`` (the generic one for unknown producers)."""
    return BY_SOURCE.get(source, GENERIC)


_MAX_OUTPUT_VALUE_CHARS = 256 * 1024  # output.value is parsed only up to this size (bounded work)


def split_from_output_value(producer: Producer, attrs: Mapping[str, object]) -> tuple[int, int, str | None] | None:
    """(5m writes, 1h writes, message id) from OpenInference's ``output.value`` Message JSON, or
    None when this producer does not carry it there or it is not a complete Message (a stream's
    text, a truncated value)."""
    if producer.split != SPLIT_OUTPUT_VALUE:
        return None
    text = attrs.get("output.value")
    if not isinstance(text, str) or len(text) > _MAX_OUTPUT_VALUE_CHARS or not text.startswith("{"):
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    usage = message.get("usage") if isinstance(message, dict) else None
    split = usage.get("cache_creation") if isinstance(usage, dict) else None
    if not isinstance(split, dict):
        return None
    w5m, w1h = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
    if not isinstance(w5m, int) or not isinstance(w1h, int) or isinstance(w5m, bool) or isinstance(w1h, bool):
        return None
    msg_id = message.get("id")
    return w5m, w1h, msg_id if isinstance(msg_id, str) and msg_id.startswith("msg_") else None


def stream_of(producer: Producer, stream: object, parameters: object) -> bool | None:
    """Whether the call streamed: NULL when the producer cannot say."""
    if isinstance(stream, bool):
        return stream
    if producer.stream_in_parameters and isinstance(parameters, dict):
        value = parameters.get("stream")
        return value if isinstance(value, bool) else False
    return False if producer.stream_absent_is_false else None


def retries_of(producer: Producer, sent: int | None) -> int | None:
    """Attempts beyond the first: 0 when a producer that reports retries sent none, NULL when the
    producer never reports them."""
    if sent is not None:
        return sent
    return 0 if producer.retries_known else None
