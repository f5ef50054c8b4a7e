"""The ONE alias table: the attribute names each fact of a call goes by, across producers.

Each ``calls`` field is read from the first alias present on the span. What a producer MEANS by
what it sends (input as a total or uncached, where the 5m/1h split lives, normalised stop
reasons, ...) is its profile in ``producers``, not here.
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
# Claude Code: its api_request events know the 5m/1h split, its llm_request spans do not.
CLAUDE_CODE_EVENTS = ("claude-code", 7)
CLAUDE_CODE_SPANS = ("claude-code", 8)
OTHER = ("otel", 9)

# Producers are told apart by their scope: see producers.SCOPES (the producer model).

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
    "gen_ai.usage.cache_read_input_tokens",  # Strands
    "gen_ai.usage.input_tokens.cached",  # Sentry
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE = (
    sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write_input_tokens",  # Strands
    "gen_ai.usage.input_tokens.cache_write",  # Sentry
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
    "EnforcedSpendLimitReachedError": "enforced_spend_limit_reached",  # the SDK's class of that 429
    "ContractSpendLimitReachedError": "contract_spend_limit_reached",
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
SDK_SPAN_OPERATIONS = sc.SDK_SPAN_OPERATIONS

