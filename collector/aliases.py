"""The ONE alias table: how each producer of Claude spans names each fact of a call.

Producers are told apart by their instrumentation scope. Each ``calls`` field is read from the
first alias present on the span. Token accounting differs by producer: most put cache reads and
writes inside ``gen_ai.usage.input_tokens`` (as the GenAI conventions require), OpenLIT does not,
and claudescope also sends Anthropic's raw uncached count, which wins when present.
"""

from __future__ import annotations

from claudescope import semconv as sc

# (source name, preference rank: lower wins when stacked producers report one call)
CLAUDESCOPE = ("claudescope", 0)
ANTHROPIC_SDK = ("anthropic-sdk", 1)
OTEL_GENAI = ("otel-genai", 2)
OPENLLMETRY = ("openllmetry", 3)
OPENINFERENCE = ("openinference", 4)
OPENLIT = ("openlit", 5)
LOGFIRE = ("logfire", 6)
OTHER = ("otel", 9)

# Scope-name prefixes, most specific first.
SCOPE_SOURCES: tuple[tuple[str, tuple[str, int]], ...] = (
    (sc.INSTRUMENTATION_SCOPE, CLAUDESCOPE),
    (sc.ANTHROPIC_SDK_SCOPE, ANTHROPIC_SDK),
    ("opentelemetry.instrumentation.genai.anthropic", OTEL_GENAI),
    ("opentelemetry.instrumentation.anthropic", OPENLLMETRY),
    ("openinference.instrumentation", OPENINFERENCE),
    ("openlit", OPENLIT),
    ("logfire", LOGFIRE),
)

# Producers whose gen_ai.usage.input_tokens EXCLUDES cache tokens (Anthropic's raw count).
INPUT_EXCLUDES_CACHE = frozenset({OPENLIT[0]})
# Producers that normalise stop reasons to the GenAI finish_reason enum; mapped back here.
FINISH_REASON_TO_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_call": "tool_use", "tool_calls": "tool_use"}
# Producers that record message content by default (not an explicit opt-in): content dropped.
CONTENT_BY_DEFAULT = frozenset({OPENLLMETRY[0], OPENINFERENCE[0], OPENLIT[0], LOGFIRE[0], OTHER[0]})

PROVIDER = (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, "llm.provider", "llm.system")
OPERATION = (sc.CS_OPERATION, sc.GEN_AI_OPERATION_NAME)
REQUEST_MODEL = (sc.GEN_AI_REQUEST_MODEL, "llm.request.model_name", "llm.model_name")
RESPONSE_MODEL = (sc.GEN_AI_RESPONSE_MODEL, "llm.response.model_name", "llm.model_name")
STREAM = (sc.GEN_AI_REQUEST_STREAM, "gen_ai.is_streaming", "llm.is_streaming", "gen_ai.request.is_stream")
ERROR_TYPE = (sc.ERROR_TYPE,)
HTTP_STATUS = (sc.HTTP_RESPONSE_STATUS_CODE,)
RETRIES = (sc.HTTP_REQUEST_RESEND_COUNT,)
STOP_REASON = (sc.ANTHROPIC_STOP_REASON,)
FINISH_REASONS = (sc.GEN_AI_RESPONSE_FINISH_REASONS, "llm.finish_reason")
MAX_TOKENS = (sc.GEN_AI_REQUEST_MAX_TOKENS,)
UNCACHED_INPUT = (sc.CS_UNCACHED_INPUT_TOKENS,)
INPUT_TOTAL = (sc.GEN_AI_USAGE_INPUT_TOKENS, "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
CACHE_READ = (
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE = (
    sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
CACHE_WRITE_5M = (sc.ANTHROPIC_CACHE_WRITE_5M,)
CACHE_WRITE_1H = (sc.ANTHROPIC_CACHE_WRITE_1H,)
OUTPUT = (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "gen_ai.usage.completion_tokens", "llm.token_count.completion")
WEB_SEARCH = (sc.CS_WEB_SEARCH_REQUESTS,)
SERVICE_TIER = (sc.ANTHROPIC_RESPONSE_SERVICE_TIER, sc.ANTHROPIC_REQUEST_SERVICE_TIER)
INFERENCE_GEO = (sc.CS_INFERENCE_GEO,)
SPEED = (sc.CS_SPEED,)
USER_ID = (sc.CS_USER_ID, sc.USER_ID, "traceloop.association.properties.user_id", "gen_ai.user.id")
FEATURE = (sc.CS_FEATURE, "traceloop.association.properties.feature", "feature")
PROMPT_VERSION = (sc.CS_PROMPT_VERSION, sc.GEN_AI_PROMPT_VERSION, "llm.prompt_template.version")
RESPONSE_ID = (sc.GEN_AI_RESPONSE_ID,)
REQUEST_ID = (sc.ANTHROPIC_REQUEST_ID,)
TTFT_S = (sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, "gen_ai.server.time_to_first_token")
USAGE_RAW = ("gen_ai.usage.raw",)  # Logfire: Anthropic's usage object as JSON
INVOCATION_PARAMETERS = "llm.invocation_parameters"  # OpenInference: request parameters as JSON

# Message content attributes (exact names and prefixes).
CONTENT_KEYS = frozenset({
    sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS,
    "input.value", "output.value", "gen_ai.content.prompt", "gen_ai.content.completion",
    "llm.prompts", "llm.completions",
})
CONTENT_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.")
# Never stored, whoever sent them.
SECRET_MARKERS = ("authorization", "api_key", "api-key", "apikey", "x-api-key", "password", "secret")

# Anthropic SDK exception classes (error.type from some producers) -> Anthropic error types.
EXCEPTION_TO_ERROR_TYPE = {
    "BadRequestError": "invalid_request_error",
    "AuthenticationError": "authentication_error",
    "PermissionDeniedError": "permission_error",
    "NotFoundError": "not_found_error",
    "RequestTooLargeError": "request_too_large",
    "RateLimitError": "rate_limit_error",
    "OverloadedError": "overloaded_error",
    "InternalServerError": "api_error",
    "ServiceUnavailableError": "overloaded_error",
    "APITimeoutError": "timeout",
    "APIConnectionError": "connection_error",
    "TimeoutException": "timeout",
    "ReadTimeout": "timeout",
    "ConnectError": "connection_error",
}

# The SDK's own tracer names spans after the method; these are the ones that are calls.
SDK_SPAN_OPERATIONS = {
    "anthropic.messages.create": "chat",
    "anthropic.messages.stream": "chat",
    "anthropic.messages.parse": "chat",
    "anthropic.beta.messages.create": "chat",
    "anthropic.beta.messages.stream": "chat",
    "anthropic.beta.messages.parse": "chat",
    "anthropic.messages.count_tokens": "count_tokens",
    "anthropic.beta.messages.count_tokens": "count_tokens",
    "anthropic.completions.create": "text_completion",
}


def source_of(scope_name: str) -> tuple[str, int]:
    """(source, rank) of a span from its instrumentation scope name."""
    for prefix, source in SCOPE_SOURCES:
        if scope_name.startswith(prefix):
            return source
    return OTHER
