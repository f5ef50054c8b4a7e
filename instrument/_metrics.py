"""GenAI client metrics plus claudescope's cost-free counters, recorded once per call."""

from __future__ import annotations

from typing import Any, NamedTuple

from opentelemetry.metrics import Meter, NoOpMeter

from claudescope import semconv as sc

_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)


_BASE_KEYS = (sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_RESPONSE_MODEL)
_CACHE_MAX = 512


class _Bound(NamedTuple):
    """Metric attribute sets of one key (never mutated once built)."""

    base: dict[str, Any]
    timed: dict[str, Any]
    input: dict[str, Any]
    output: dict[str, Any]


class CallMetrics:
    """The instruments, created once per instrument() from the meter it was given."""

    def __init__(self, meter: Meter) -> None:
        self._cache: dict[tuple[Any, ...], _Bound] = {}
        self._meter = meter
        self._noop = isinstance(meter, NoOpMeter)
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
        # Nothing to record into: a no-op meter, or the global proxy before any provider is set
        # (checked per call, since the app may register its MeterProvider later).
        if self._noop or getattr(self._meter, "_real_meter", True) is None:
            return
        err = attrs.get(sc.ERROR_TYPE)
        bound = self._bound(tuple(attrs.get(k) for k in _BASE_KEYS), err)
        base, timed = bound.base, bound.timed
        self.duration.record(duration_s, timed)
        self.calls.add(1, timed)
        if err:
            self.errors.add(1, timed)
        if ttfc_s is not None:
            self.ttfc.record(ttfc_s, base)
        retries = attrs.get(sc.HTTP_REQUEST_RESEND_COUNT)
        if retries:
            self.retries.add(retries, base)
        if attrs.get(sc.CS_OPERATION) != "count_tokens":
            if sc.GEN_AI_USAGE_INPUT_TOKENS in attrs:
                self.tokens.record(attrs[sc.GEN_AI_USAGE_INPUT_TOKENS], bound.input)
            if sc.GEN_AI_USAGE_OUTPUT_TOKENS in attrs:
                self.tokens.record(attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS], bound.output)
        if attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS):
            self.cache_read.add(attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS], base)
        if attrs.get(sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS):
            self.cache_write.add(attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS], base)
        if attrs.get(sc.ANTHROPIC_STOP_REASON) == "max_tokens":
            self.max_tokens.add(1, base)

    def _bound(self, values: tuple[Any, ...], err: Any) -> _Bound:
        """The attribute dicts for one (operation, provider, models, error) key, built once and
        reused: the metrics API is called with the same dict objects call after call."""
        key = (values, err)
        bound = self._cache.get(key)
        if bound is None:
            if len(self._cache) >= _CACHE_MAX:  # a cap against unbounded model-name churn
                self._cache.clear()
            base = {k: v for k, v in zip(_BASE_KEYS, values) if v is not None}
            timed = {**base, sc.ERROR_TYPE: err} if err else base
            bound = _Bound(base, timed, {**base, sc.GEN_AI_TOKEN_TYPE: "input"},
                           {**base, sc.GEN_AI_TOKEN_TYPE: "output"})
            self._cache[key] = bound
        return bound
