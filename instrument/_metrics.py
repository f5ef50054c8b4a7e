"""GenAI client metrics plus claudescope's cost-free counters, recorded once per call."""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from claudescope import semconv as sc

_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


class CallMetrics:
    """The instruments, created once per instrument() from the meter it was given."""

    def __init__(self, meter: Meter) -> None:
        self.tokens = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Tokens used per call",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS)
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION, unit="s", description="Call duration, retries included",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
        self.ttfc = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s", description="Time to the first stream chunk",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS)
        self.calls = meter.create_counter(sc.METRIC_CALLS, unit="{call}", description="Claude API calls")
        self.errors = meter.create_counter(sc.METRIC_ERRORS, unit="{call}", description="Failed calls by error.type")
        self.retries = meter.create_counter(sc.METRIC_RETRIES, unit="{attempt}", description="Retried attempts")
        self.cache_read = meter.create_counter(sc.METRIC_CACHE_READ_TOKENS, unit="{token}", description="Prompt cache reads")
        self.cache_write = meter.create_counter(sc.METRIC_CACHE_WRITE_TOKENS, unit="{token}", description="Prompt cache writes")
        self.max_tokens = meter.create_counter(sc.METRIC_MAX_TOKENS_STOPS, unit="{call}", description="Calls cut by max_tokens")

    def record(self, attrs: dict[str, Any], duration_s: float, ttfc_s: float | None) -> None:
        """Record one finished call from its final span attributes."""
        base = {k: attrs[k] for k in (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME,
                                      sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL) if k in attrs}
        err = attrs.get(sc.ERROR_TYPE)
        timed = {**base, sc.ERROR_TYPE: err} if err else base
        self.duration.record(duration_s, timed)
        self.calls.add(1, timed)
        if err:
            self.errors.add(1, timed)
        if ttfc_s is not None:
            self.ttfc.record(ttfc_s, base)
        retries = attrs.get(sc.HTTP_REQUEST_RESEND_COUNT)
        if retries:
            self.retries.add(retries, base)
        self._tokens(attrs, base)

    def _tokens(self, attrs: dict[str, Any], base: dict[str, Any]) -> None:
        for key, kind in ((sc.GEN_AI_USAGE_INPUT_TOKENS, "input"), (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "output")):
            if key in attrs and attrs.get(sc.CS_OPERATION) != "count_tokens":
                self.tokens.record(attrs[key], {**base, sc.GEN_AI_TOKEN_TYPE: kind})
        if attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS):
            self.cache_read.add(attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS], base)
        if attrs.get(sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS):
            self.cache_write.add(attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS], base)
        if attrs.get(sc.ANTHROPIC_STOP_REASON) == "max_tokens":
            self.max_tokens.add(1, base)
