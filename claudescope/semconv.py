"""Every span attribute name claudescope emits or reads, in one place (stdlib only).

The instrumentation writes these names; the collector reads them (plus the aliases other
producers use, which live in the collector's alias table). Names follow the OpenTelemetry
GenAI semantic conventions where one exists, the Anthropic SDK's own tracer where it already
named a fact (so our spans and the SDK's agree), and ``claudescope.*`` for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# --- GenAI semantic conventions -------------------------------------------------------
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated alias of provider.name, read only
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"  # seconds
# Sum of uncached input, cache reads and cache writes, as the convention requires.
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # older name
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_PROMPT_VERSION = "gen_ai.prompt.version"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_TOOL_DEFINITIONS = "gen_ai.tool.definitions"

ERROR_TYPE = "error.type"
# A 429 whose error.details.error_code is one of these is a spend cap, not a rate limit: stored as the
# call's error type (its own, since retrying cannot help until the limit is raised or the month turns).
SPEND_LIMIT_ERROR_TYPES: tuple[str, ...] = ("enforced_spend_limit_reached", "contract_spend_limit_reached")
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count"  # retries beyond the first attempt
USER_ID = "user.id"
SERVICE_NAME = "service.name"  # resource attribute

# --- Names the Anthropic SDK's own tracer already uses (we emit the same) -------------
ANTHROPIC_REQUEST_ID = "anthropic.request.id"
ANTHROPIC_WORKSPACE_ID = "anthropic.workspace.id"  # from the anthropic-workspace-id response header
ANTHROPIC_STOP_REASON = "anthropic.message.stop_reason"
ANTHROPIC_CACHE_WRITE_5M = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
ANTHROPIC_CACHE_WRITE_1H = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
ANTHROPIC_REQUEST_SERVICE_TIER = "anthropic.request.service_tier"
ANTHROPIC_RESPONSE_SERVICE_TIER = "anthropic.response.service_tier"

# --- claudescope additions: usage facts the conventions lack -------------------------
# Anthropic's raw usage.input_tokens (uncached only), so the collector never has to derive it.
CS_UNCACHED_INPUT_TOKENS = "claudescope.usage.uncached_input_tokens"
CS_INFERENCE_GEO = "claudescope.usage.inference_geo"
CS_SPEED = "claudescope.usage.speed"
CS_WEB_SEARCH_REQUESTS = "claudescope.usage.web_search_requests"
CS_WEB_FETCH_REQUESTS = "claudescope.usage.web_fetch_requests"
CS_USAGE_INCOMPLETE = "claudescope.usage.incomplete"  # stream cut before message_delta

# Attribution (SPEC §2). user_id is also written as the standard user.id.
CS_USER_ID = "claudescope.user_id"
CS_FEATURE = "claudescope.feature"
CS_PROMPT_VERSION = "claudescope.prompt_version"
CS_EXTRA_PREFIX = "claudescope.attr."  # claudescope.attr.<key> for extra attribution keys

# Operation detail
CS_OPERATION = "claudescope.operation"  # chat, count_tokens, batch_create, batch_result, ...
CS_BATCH_ID = "claudescope.batch.id"
CS_BATCH_CUSTOM_ID = "claudescope.batch.custom_id"

# Prompt-cache insight without content
CS_PREFIX_HASH = "claudescope.cache.prefix_hash"
CS_PREFIX_TOKENS = "claudescope.cache.prefix_tokens"
CS_PREFIX_HAS_BREAKPOINT = "claudescope.cache.has_breakpoint"
CS_CACHE_TTL = "claudescope.cache.ttl"

# Rate-limit headroom of the last response (anthropic-ratelimit-* headers)
CS_RATELIMIT_PREFIX = "claudescope.ratelimit."  # + requests.limit, tokens.remaining, ...

# Per-attempt span events
CS_ATTEMPT_EVENT = "claudescope.attempt"
CS_ATTEMPT_NUMBER = "claudescope.attempt.number"
CS_ATTEMPT_STATUS = "claudescope.attempt.http_status"
CS_ATTEMPT_ERROR_TYPE = "claudescope.attempt.error_type"
CS_ATTEMPT_RETRY_AFTER = "claudescope.attempt.retry_after_s"
CS_ATTEMPT_DURATION_MS = "claudescope.attempt.duration_ms"
CS_ATTEMPT_REQUEST_ID = "claudescope.attempt.request_id"

# Instrumentation scope name of claudescope's tracer (the collector uses it to set `source`).
INSTRUMENTATION_SCOPE = "claudescope.instrument"
ANTHROPIC_SDK_SCOPE = "com.anthropic.sdk.python"

# The Anthropic SDK names its spans (and its request options' ``span_name``) after the method
# called; these are the names that are Claude API calls, with their claudescope.operation. The
# instrumentation sorts requests by it and the collector sorts the SDK's own spans by it. The
# SDK's batch methods are not here: the instrumentation traces them itself (batch_*), while the
# SDK's own spans of them are not calls.
SDK_SPAN_OPERATIONS: Mapping[str, str] = MappingProxyType({
    "anthropic.messages.create": "chat",
    "anthropic.messages.stream": "chat",
    "anthropic.messages.parse": "chat",
    "anthropic.beta.messages.create": "chat",
    "anthropic.beta.messages.stream": "chat",
    "anthropic.beta.messages.parse": "chat",
    "anthropic.messages.count_tokens": "count_tokens",
    "anthropic.beta.messages.count_tokens": "count_tokens",
    "anthropic.completions.create": "text_completion",
})

# Baggage keys under which attribution travels to downstream services (claudescope.<key>).
BAGGAGE_PREFIX = "claudescope."

# --- Added by the instrumentation (never rename the names above) ----------------------
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  # metric attribute: input / output
CS_STREAM_END = "claudescope.stream.end"  # how a stream span ended: read, closed, abandoned, failed
CS_RAW_RESPONSE = "claudescope.raw_response"  # called through with_raw/with_streaming_response
CS_CAPTURE_TRUNCATED = "claudescope.content.truncated"  # captured content hit the size cap
CS_BATCH_RESULT_TYPE = "claudescope.batch.result_type"  # succeeded / errored / canceled / expired
ANTHROPIC_BETA = "anthropic.beta"

# Metric names (GenAI conventions, then claudescope's cost-free counters)
METRIC_TOKEN_USAGE = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION = "gen_ai.client.operation.duration"
METRIC_TIME_TO_FIRST_CHUNK = "gen_ai.client.operation.time_to_first_chunk"
METRIC_CALLS = "claudescope.calls"
METRIC_ERRORS = "claudescope.errors"
METRIC_RETRIES = "claudescope.retries"
METRIC_CACHE_READ_TOKENS = "claudescope.cache.read_tokens"
METRIC_CACHE_WRITE_TOKENS = "claudescope.cache.write_tokens"
METRIC_MAX_TOKENS_STOPS = "claudescope.max_tokens_stops"

# Written by the collector into a row's `attributes` (docs/data-model.md)
CS_TRUNCATED_ATTRIBUTES = "claudescope.truncated_attributes"  # attribute values cut at the size limit
CS_DROPPED_ATTRIBUTES = "claudescope.dropped_attributes"  # attributes beyond the per-span limit
CS_COUNTED_INPUT_TOKENS = "claudescope.counted_input_tokens"  # a count_tokens answer (never billed)
CS_CACHE_SPLIT_ESTIMATED = "claudescope.cache_split_estimated"  # 5m/1h split not reported: cost estimated
CS_COST_LOW_USD = "claudescope.cost_low_usd"  # bounds of an estimated cost (decimal strings)
CS_COST_HIGH_USD = "claudescope.cost_high_usd"
CS_SOURCES = "claudescope.sources"  # every producer that reported a stacked call, preferred first
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"

# Claude Code's event and metric attributes (code.claude.com/docs/en/monitoring-usage)
USER_EMAIL = "user.email"
SESSION_ID = "session.id"

# Claude Code's own telemetry (docs/claude-code.md): its events (logs) and beta traces
CLAUDE_CODE_EVENTS_SCOPE = "com.anthropic.claude_code.events"
CLAUDE_CODE_TRACING_SCOPE = "com.anthropic.claude_code.tracing"
