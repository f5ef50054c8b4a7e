"""Per-request controls of the fake API (the ``x-fake-*`` headers), error answers, ids and
the rate-limit token buckets. See :mod:`claudescope.fakeapi.app` for the protocol."""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.responses import JSONResponse

from claudescope.fakeapi.sim import UsageOverride

__all__ = [
    "Controls",
    "RateLimiter",
    "error_response",
    "new_id",
]

_ALPHABET = string.ascii_letters + string.digits
ERROR_STATUS = {
    "400": (400, "invalid_request_error", "Invalid request (scripted by x-fake-script)."),
    "404": (404, "not_found_error", "Not found (scripted by x-fake-script)."),
    "429": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    "500": (500, "api_error", "Internal server error."),
    "529": (529, "overloaded_error", "Overloaded"),
    "spend_limit": (429, "rate_limit_error", "You have reached your specified API usage limits."),
}
# Scripted errors that carry error.details.error_code (how the API names a spend cap), and never
# a retry-after: waiting does not lift a cap.
ERROR_CODES = {"spend_limit": "enforced_spend_limit_reached"}
SCRIPT_ITEMS = {"ok", "sse-error", "cut", *ERROR_STATUS}
STOP_REASONS = {
    "end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal",
    "model_context_window_exceeded",
}


def new_id(prefix: str) -> str:
    """An Anthropic-style opaque id, e.g. ``msg_01AbC...``."""
    return prefix + "01" + "".join(secrets.choice(_ALPHABET) for _ in range(22))


def error_response(
    status: int, kind: str, message: str, request_id: str, headers: Mapping[str, str] | None = None,
    error_code: str | None = None,
) -> JSONResponse:
    """Anthropic's error envelope with the ``request-id`` header (and ``details.error_code``)."""
    error: dict[str, Any] = {"type": kind, "message": message}
    if error_code:
        error["details"] = {"error_code": error_code}
    body = {"type": "error", "error": error, "request_id": request_id}
    return JSONResponse(body, status_code=status, headers={"request-id": request_id, **(headers or {})})


class ControlError(ValueError):
    """A malformed ``x-fake-*`` header: answered with a 400 naming the header."""


@dataclass(frozen=True)
class Controls:
    """What the ``x-fake-*`` headers of one attempt ask for."""

    action: str = "ok"  # ok | 400 | 404 | 429 | 500 | 529 | sse-error | cut
    slow_ms: float = 0.0
    usage: UsageOverride | None = None
    stop: str | None = None
    model: str | None = None
    service_tier: str | None = None
    inference_geo: str | None = None
    speed: str | None = None
    retry_after: float = 0.05
    retry_after_given: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None
    output_median: float | None = None
    now: float | None = None
    workspace: str | None = None
    billed: bool = True  # x-fake-billing: off keeps the answer out of the ledger

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> Controls:
        """Read the controls of this attempt; raises ControlError on a malformed header."""
        try:
            attempt = int(headers.get("x-stainless-retry-count", "0") or 0)
            action, slow = _script_item(headers.get("x-fake-script", ""), attempt)
            stop = headers.get("x-fake-stop") or None
            if stop is not None and stop not in STOP_REASONS:
                raise ControlError(f"x-fake-stop: unknown stop reason {stop!r}")
            usage_header = headers.get("x-fake-usage")
            return cls(
                action=action,
                slow_ms=slow,
                usage=UsageOverride.parse(usage_header) if usage_header else None,
                stop=stop,
                model=headers.get("x-fake-model") or None,
                service_tier=headers.get("x-fake-service-tier") or None,
                inference_geo=headers.get("x-fake-inference-geo") or None,
                speed=headers.get("x-fake-speed") or None,
                retry_after=float(headers.get("x-fake-retry-after", "0.05")),
                retry_after_given="x-fake-retry-after" in headers,
                latency_ms=_opt_float(headers.get("x-fake-latency-ms")),
                ttft_ms=_opt_float(headers.get("x-fake-ttft-ms")),
                output_median=_opt_float(headers.get("x-fake-output-median")),
                now=_opt_float(headers.get("x-fake-now")),
                workspace=headers.get("x-fake-workspace") or None,
                billed=_billing(headers.get("x-fake-billing")),
            )
        except ControlError:
            raise
        except ValueError as exc:
            raise ControlError(str(exc)) from None

    def error(self, request_id: str) -> JSONResponse | None:
        """The scripted error answer of this attempt, if it is one."""
        if self.action not in ERROR_STATUS:
            return None
        status, kind, message = ERROR_STATUS[self.action]
        headers: dict[str, str] = {}
        code = ERROR_CODES.get(self.action)
        if (status in (429, 529) and code is None) or self.retry_after_given:
            headers["retry-after"] = f"{self.retry_after:g}"
        return error_response(status, kind, message, request_id, headers, code)


def _billing(raw: str | None) -> bool:
    if raw in (None, "", "on"):
        return True
    if raw == "off":
        return False
    raise ControlError(f"x-fake-billing: expected on or off, got {raw!r}")


def _opt_float(raw: str | None) -> float | None:
    return float(raw) if raw not in (None, "") else None


def _script_item(script: str, attempt: int) -> tuple[str, float]:
    items = [p.strip() for p in script.split(",") if p.strip()]
    if not items:
        return "ok", 0.0
    item = items[min(attempt, len(items) - 1)]
    if item.startswith("slow:"):
        return "ok", float(item[5:])
    if item not in SCRIPT_ITEMS:
        raise ControlError(f"x-fake-script: unknown item {item!r}")
    return item, 0.0


class _Bucket:
    """A token bucket refilled continuously at ``limit`` per minute."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.level = float(limit)
        self.stamp: float | None = None  # set by the first request, on whatever timeline it uses

    def refill(self, now: float) -> None:
        # Concurrent simulated requests arrive slightly out of time order: time never runs back.
        if self.stamp is not None and now > self.stamp:
            self.level = min(self.limit, self.level + (now - self.stamp) * self.limit / 60.0)
        self.stamp = now if self.stamp is None else max(self.stamp, now)

    def reset_at(self) -> str:
        missing = self.limit - self.level
        when = datetime.now(timezone.utc) + timedelta(seconds=missing * 60.0 / self.limit)
        return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class RateLimiter:
    """Anthropic-style limits: requests, input tokens, output tokens and their sum, per minute.

    It always reports the ``anthropic-ratelimit-*`` headers; it refuses requests (429) only
    when ``enforce`` is set, so tests that do not care are never throttled by accident.
    """

    def __init__(
        self,
        *,
        requests_per_minute: int = 4000,
        input_tokens_per_minute: int = 2_000_000,
        output_tokens_per_minute: int = 400_000,
        enforce: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buckets = {
            "requests": _Bucket(requests_per_minute),
            "input-tokens": _Bucket(input_tokens_per_minute),
            "output-tokens": _Bucket(output_tokens_per_minute),
            "tokens": _Bucket(input_tokens_per_minute + output_tokens_per_minute),
        }
        self._enforce = enforce
        self._clock = clock
        self._lock = threading.Lock()

    def admit(self, input_tokens: int, now: float | None = None) -> float | None:
        """Take one request; returns seconds to wait when it must be refused (429).

        ``now`` (seconds, ``x-fake-now``) puts the request on a simulated timeline, so a day
        compressed into minutes refills the buckets as that day would; default the clock.
        """
        with self._lock:
            now = self._clock() if now is None else now
            for bucket in self._buckets.values():
                bucket.refill(now)
            req, inp = self._buckets["requests"], self._buckets["input-tokens"]
            if self._enforce and (req.level < 1 or inp.level < input_tokens):
                short = max(1 - req.level, 0) / req.limit + max(input_tokens - inp.level, 0) / inp.limit
                return max(0.05, short * 60.0)
            req.level -= 1
            inp.level -= input_tokens
            self._buckets["tokens"].level -= input_tokens
            return None

    def record_output(self, output_tokens: int) -> None:
        """Charge the output tokens of an answer."""
        with self._lock:
            self._buckets["output-tokens"].level -= output_tokens
            self._buckets["tokens"].level -= output_tokens

    def headers(self) -> dict[str, str]:
        """The twelve ``anthropic-ratelimit-*`` headers as they stand now."""
        out: dict[str, str] = {}
        with self._lock:
            for name, bucket in self._buckets.items():
                out[f"anthropic-ratelimit-{name}-limit"] = str(bucket.limit)
                out[f"anthropic-ratelimit-{name}-remaining"] = str(max(0, int(bucket.level)))
                out[f"anthropic-ratelimit-{name}-reset"] = bucket.reset_at()
        return out


def json_body_error(request_id: str, message: str) -> JSONResponse:
    """400 invalid_request_error for a body the API cannot accept."""
    return error_response(400, "invalid_request_error", message, request_id)


def validate_messages_body(body: Any) -> str | None:
    """The reason a Messages request body is invalid, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for field_name in ("model", "max_tokens", "messages"):
        if field_name not in body:
            return f"{field_name}: Field required"
    if not isinstance(body["model"], str) or not body["model"]:
        return "model: must be a non-empty string"
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool) or body["max_tokens"] < 1:
        return "max_tokens: must be a positive integer"
    if not isinstance(body["messages"], list) or not body["messages"]:
        return "messages: at least one message is required"
    return None
