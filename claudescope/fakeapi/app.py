"""A fake Anthropic Messages API for the demo and the tests, spoken to by the real SDK.

``create_fake_api(seed=0)`` returns a Starlette app; serve it with
:class:`claudescope.fakeapi.server.ServerThread` and point ``anthropic.Anthropic(base_url=...,
api_key="test")`` at it. Response bodies are built and validated with the SDK's own types
(``Message``, ``BetaMessage``, ``MessageBatch``, stream events), so they cannot drift from
what the SDK parses.

Endpoints: ``POST /v1/messages`` (JSON, or SSE with ``"stream": true``), ``POST
/v1/messages/count_tokens``, Message Batches (``POST/GET /v1/messages/batches``, ``GET
/v1/messages/batches/{id}``, ``POST .../{id}/cancel``, ``DELETE .../{id}``, ``GET
.../{id}/results`` as JSONL). Beta calls (``client.beta.messages.*``) hit the same paths with
``?beta=true`` and an ``anthropic-beta`` header; they are answered with the Beta types.
Every answer carries ``request-id: req_...`` and the twelve ``anthropic-ratelimit-*`` headers.

Control protocol (request headers; set them with the SDK's ``extra_headers=``):

``x-fake-script``
    Comma list, one item per attempt, indexed by the SDK's ``x-stainless-retry-count`` header
    (attempt 0, 1, 2, ...; the last item repeats). Items: ``ok``; ``429`` (rate_limit_error,
    with ``retry-after``), ``529`` (overloaded_error, with ``retry-after``), ``500``
    (api_error), ``400`` (invalid_request_error), ``404`` (not_found_error); ``spend_limit``
    (429 rate_limit_error with ``details.error_code`` ``enforced_spend_limit_reached``, no
    ``retry-after``: the organisation's spend limit); ``slow:<ms>``
    (sleep that long, then ok); ``sse-error`` (stream: message_start and a delta, then an SSE
    ``event: error`` with overloaded_error; non-stream: a 529); ``cut`` (the connection drops
    after message_start and a delta, without message_delta; non-stream: mid-body).
``x-fake-usage``
    Exact usage, e.g. ``input=120,cache_read=3000,cache_write_5m=0,cache_write_1h=800,
    output=250,web_search=1,web_fetch=0``. Omitted token counts are 0 (``output`` omitted keeps
    the simulated length); ``server_tool_use`` is present only when web_search/web_fetch is.
``x-fake-stop``
    Stop reason: end_turn, max_tokens, stop_sequence, tool_use, pause_turn, refusal,
    model_context_window_exceeded.
``x-fake-model``
    The response ``model`` (default: the request's, 4.5 aliases resolved to dated ids).
``x-fake-service-tier``, ``x-fake-inference-geo``, ``x-fake-speed``
    The usage fields of those names (defaults ``standard``, ``global``, ``standard``).
``x-fake-retry-after``
    Seconds (float) sent in ``retry-after`` on 429/529 (default 0.05, so retries are fast);
    given explicitly it is also sent on 500.
``x-fake-latency-ms``, ``x-fake-ttft-ms``
    Total latency and time to the first stream event, in real milliseconds.
``x-fake-output-median``
    Median of the simulated output length in tokens (default 220; log-normal spread), e.g.
    a few tokens for a classifier.
``x-fake-workspace``
    A workspace id sent back in the ``anthropic-workspace-id`` header (e.g. ``wrkspc_01...``).
``x-fake-now``
    Seconds (any epoch) used as "now" by the prompt cache and the rate limiter for this
    request, so a simulation compressed in time ages cache entries and refills the
    rate-limit buckets in simulated time (use one timeline for all requests of a fake); it is
    also the billing time of the answer (on a batch create: of the batch's results).
``x-fake-billing``
    ``off`` keeps this answer out of the billing ledger (the demo's warm-up); default ``on``.

A malformed control header is answered with a 400 naming it.

Billing: every answer completed with a usage is recorded in a ledger
(:mod:`claudescope.fakeapi.ledger`, which says what is and is not billed), and the Admin API's
Usage & Cost reports and spend limits are served from it, with a fake-only control endpoint
``POST /v1/fake/billing`` to inject untraced usage, billing prices and spend limits
(:mod:`claudescope.fakeapi.admin`, :mod:`claudescope.fakeapi.billing`).

Without control headers the fake is realistic and deterministic from the request and the
seed: input tokens ~ characters / 4 over tools, system and messages; prompt caching is
stateful (a ``cache_control`` breakpoint on a prefix of at least 1024 tokens writes it with its
5m or 1h TTL, later requests with the same model and prefix within the TTL read it); output
length is random up to ``max_tokens`` (reaching it gives ``max_tokens``); with tools, some
answers are ``tool_use``; ``thinking`` adds a thinking block (counted in output tokens and in
``output_tokens_details``); a ``web_search_*`` tool adds searches (server_tool_use blocks,
``server_tool_use.web_search_requests``, search results in the input tokens); the request's
``inference_geo`` and ``speed`` are echoed in usage; a prompt over the model's context window
(200K before the 4.6 generation, 1M from it) is a 400; latencies are real ones multiplied by
``latency_scale``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from anthropic.types import Message, MessageTokensCount
from anthropic.types.beta import BetaMessage
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from claudescope.fakeapi.admin import admin_routes
from claudescope.fakeapi.batches import BatchStore, batch_routes
from claudescope.fakeapi.billing import BillingConfig, BillingState
from claudescope.fakeapi.control import (
    ControlError,
    Controls,
    RateLimiter,
    error_response,
    json_body_error,
    new_id,
    validate_messages_body,
)
from claudescope.fakeapi.ledger import Ledger, api_key_id, entry_from_usage
from claudescope.fakeapi.sim import PromptCache, Simulated, context_window, count_input_tokens, simulate
from claudescope.fakeapi.stream import FakeConnectionCut, quiet_cuts, stream_events

__all__ = ["FakeApiState", "create_fake_api"]

ORGANIZATION_ID = "00000000-0000-4000-8000-00000000c1a0"


@dataclass
class FakeApiState:
    """Everything one fake API instance remembers: seed, prompt cache, limits, batches, bill."""

    seed: int
    cache: PromptCache
    limiter: RateLimiter
    batches: BatchStore
    latency_scale: float
    ledger: Ledger
    billing: BillingState

    def bill(self, request: Request, controls: Controls, sim: Simulated, arrived: float) -> None:
        """Record a completed answer in the ledger (unless ``x-fake-billing: off``)."""
        if not controls.billed:
            return
        at = datetime.fromtimestamp(controls.now if controls.now is not None else arrived, timezone.utc)
        self.ledger.record(entry_from_usage(
            sim.usage, model=sim.model, at=at, workspace_id=controls.workspace, key_id=_key_id(request),
        ))

    def settle(self) -> None:
        """Bill every batch that has ended by now (before a report is read)."""
        self.batches.all()

    def bill_batch(self, batch: Any) -> None:
        """Record the succeeded results of a batch that has just ended (see ``_batch_facts``)."""
        facts = batch.extra
        if not facts.get("billed", True):
            return
        at = facts.get("at") or batch.ended
        for line in batch.results:
            result = line["result"]
            if result["type"] == "succeeded":
                message = result["message"]
                self.ledger.record(entry_from_usage(
                    message["usage"], model=message["model"], at=at, workspace_id=facts.get("workspace"),
                    key_id=facts.get("key_id"), source="batch", service_tier="batch",
                ))

    def common_headers(self, request_id: str) -> dict[str, str]:
        """Headers every answer carries."""
        return {"request-id": request_id, "anthropic-organization-id": ORGANIZATION_ID, **self.limiter.headers()}


def create_fake_api(
    seed: int = 0,
    *,
    latency_scale: float = 0.01,
    clock: Callable[[], float] | None = None,
    min_cache_tokens: int = 1024,
    enforce_rate_limits: bool = False,
    requests_per_minute: int = 4000,
    input_tokens_per_minute: int = 2_000_000,
    output_tokens_per_minute: int = 400_000,
    batch_seconds: float = 0.1,
    billing: BillingConfig | None = None,
    admin_keys: Iterable[str] | None = None,
) -> Starlette:
    """Build the fake API app.

    ``clock`` (seconds, monotonic) drives cache TTLs and the rate-limit buckets, so a
    compressed simulation can age them in simulated time (``x-fake-now`` does it per
    request); ``latency_scale`` multiplies realistic latencies (0 = instant);
    ``batch_seconds`` is how long a Message Batch stays ``in_progress``; ``billing`` injects
    untraced usage, billing prices and spend limits (:mod:`claudescope.fakeapi.billing`;
    raises BillingError when malformed); ``admin_keys`` restricts the Admin API to those keys
    (default: any ``sk-ant-admin...`` key).
    """
    tick = clock or time.monotonic
    ledger, billing_state = Ledger(), BillingState()
    for entry in billing_state.apply(billing or BillingConfig()):
        ledger.record(entry)
    state = FakeApiState(
        seed=seed,
        cache=PromptCache(tick, min_cache_tokens),
        limiter=RateLimiter(
            clock=tick,
            requests_per_minute=requests_per_minute,
            input_tokens_per_minute=input_tokens_per_minute,
            output_tokens_per_minute=output_tokens_per_minute,
            enforce=enforce_rate_limits,
        ),
        batches=BatchStore(batch_seconds, on_end=lambda batch: state.bill_batch(batch)),
        latency_scale=latency_scale,
        ledger=ledger,
        billing=billing_state,
    )
    routes = [
        Route("/v1/messages", _endpoint(state, _messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", _endpoint(state, _count_tokens), methods=["POST"]),
        *batch_routes(state.batches, lambda handler: _endpoint(state, handler), _batch_answerer(state), _batch_facts),
        *admin_routes(ledger, billing_state, state.settle, admin_keys),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _unknown_route, 405: _unknown_route})
    app.state.fake = state
    quiet_cuts()
    return app


async def _unknown_route(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in Anthropic's error envelope too."""
    status = getattr(exc, "status_code", 404)
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    return error_response(status, kind, f"{request.method} {request.url.path} is not part of this API", new_id("req_"))


Handler = Callable[[FakeApiState, Request, Controls, str], Any]


def _endpoint(state: FakeApiState, handler: Handler) -> Callable[[Request], Any]:
    """Wrap a handler with the control protocol: script, slowness, errors, common headers."""

    async def endpoint(request: Request) -> Response:
        request_id = new_id("req_")
        try:
            controls = Controls.from_headers(request.headers)
        except ControlError as exc:
            return _with_headers(json_body_error(request_id, str(exc)), state, request_id)
        if controls.slow_ms:
            await asyncio.sleep(controls.slow_ms / 1000.0)
        if controls.action == "sse-error" and not _is_stream(await _json(request)):
            controls = Controls(action="529", retry_after=controls.retry_after)
        response = controls.error(request_id)
        if response is None:
            response = await handler(state, request, controls, request_id)
        if controls.workspace:
            response.headers["anthropic-workspace-id"] = controls.workspace
        return _with_headers(response, state, request_id)

    return endpoint


def _with_headers(response: Response, state: FakeApiState, request_id: str) -> Response:
    for name, value in state.common_headers(request_id).items():
        response.headers.setdefault(name, value)
    return response


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _is_stream(body: Any) -> bool:
    return isinstance(body, dict) and body.get("stream") is True


def _is_beta(request: Request) -> bool:
    return request.query_params.get("beta") == "true"


def _simulate(state: FakeApiState, body: dict[str, Any], controls: Controls, tier: str | None = None) -> Simulated:
    return simulate(
        body,
        seed=state.seed,
        cache=state.cache,
        override=controls.usage,
        stop_override=controls.stop,
        model_override=controls.model,
        service_tier=tier or controls.service_tier or "standard",
        # The request's own inference_geo / speed are honoured, as the API does.
        inference_geo=controls.inference_geo or _str_param(body, "inference_geo"),
        speed=controls.speed or _str_param(body, "speed"),
        output_median=controls.output_median,
        now=controls.now,
    )


def _key_id(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    return api_key_id(request.headers.get("x-api-key") or auth.removeprefix("Bearer ").strip() or None)


def _batch_facts(request: Request, controls: Controls) -> dict[str, Any]:
    """What a batch's results are billed under, noted at creation.

    claudescope dates a ``batch_result`` row when the app reads the results; the demo creates,
    polls and reads its batch at one simulated moment, which it sends as ``x-fake-now`` on the
    create: that is the billing time. Without it the results are billed when the fake sees
    the batch end (the earliest the results can be read).
    """
    at = datetime.fromtimestamp(controls.now, timezone.utc) if controls.now is not None else None
    return {"at": at, "workspace": controls.workspace, "key_id": _key_id(request), "billed": controls.billed}


def _str_param(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value else None


def _batch_answerer(state: FakeApiState) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A batch request's answer: simulated like any other, billed on the batch tier."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        return message_json(_simulate(state, body, Controls(), tier="batch"), beta=False)

    return answer


def message_json(sim: Simulated, *, beta: bool, msg_id: str | None = None) -> dict[str, Any]:
    """The full ``Message`` (or ``BetaMessage``) JSON of a simulated answer."""
    data = {
        "id": msg_id or new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": sim.model,
        "content": sim.content,
        "stop_reason": sim.stop_reason,
        "stop_sequence": sim.stop_sequence,
        "usage": sim.usage,
    }
    model_type = BetaMessage if beta else Message
    return model_type.model_validate(data).model_dump(mode="json")


def _latency(state: FakeApiState, sim: Simulated, controls: Controls) -> tuple[float, float]:
    """(time to first event, total) in seconds."""
    prompt = sim.usage["input_tokens"] + sim.usage["cache_creation_input_tokens"]
    ttft = (0.35 + prompt / 25_000 + sim.usage["cache_read_input_tokens"] / 250_000) * state.latency_scale
    total = ttft + sim.output_tokens / 75.0 * state.latency_scale
    if controls.ttft_ms is not None:
        ttft = controls.ttft_ms / 1000.0
        total = max(total, ttft)
    if controls.latency_ms is not None:
        total = controls.latency_ms / 1000.0
        ttft = min(ttft, total)
    return ttft, total


async def _messages(state: FakeApiState, request: Request, controls: Controls, request_id: str) -> Response:
    arrived = time.time()
    body = await _json(request)
    problem = validate_messages_body(body)
    if problem:
        return json_body_error(request_id, problem)
    prompt_tokens = count_input_tokens(body)
    limit = context_window(body["model"])
    if prompt_tokens > limit:
        return json_body_error(request_id, f"prompt is too long: {prompt_tokens} tokens > {limit} maximum")
    wait = state.limiter.admit(prompt_tokens, controls.now)
    if wait is not None:
        return error_response(
            429, "rate_limit_error", "This request would exceed your rate limit.", request_id,
            {"retry-after": f"{wait:.3f}"},
        )
    sim = _simulate(state, body, controls)
    state.limiter.record_output(sim.output_tokens)
    ttft, total = _latency(state, sim, controls)
    message = message_json(sim, beta=_is_beta(request))
    if _is_stream(body):
        events = stream_events(message, controls.action, request_id, ttft, total,
                               on_complete=lambda: state.bill(request, controls, sim, arrived))
        return StreamingResponse(events, media_type="text/event-stream; charset=utf-8")
    if controls.action == "cut":
        return StreamingResponse(_cut_body(json.dumps(message)), media_type="application/json")
    await asyncio.sleep(total)
    state.bill(request, controls, sim, arrived)
    return JSONResponse(message)


async def _cut_body(text: str) -> AsyncIterator[bytes]:
    yield text[: len(text) // 2].encode()
    raise FakeConnectionCut("x-fake-script: cut")


async def _count_tokens(state: FakeApiState, request: Request, controls: Controls, request_id: str) -> Response:
    body = await _json(request)
    if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
        return json_body_error(request_id, "count_tokens needs model and messages")
    tokens = count_input_tokens(body)
    if controls.usage is not None:
        usage = controls.usage
        tokens = usage.input + usage.cache_read + usage.cache_write_5m + usage.cache_write_1h
    return JSONResponse(MessageTokensCount(input_tokens=tokens).model_dump(mode="json"))
