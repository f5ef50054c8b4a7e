"""Non-streaming calls: one span, every usage / response / transport attribute, sync and async."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from claudescope import semconv as sc

from .conftest import HELLO, MODEL, Otel

USAGE = "input=120,cache_read=3000,cache_write_5m=0,cache_write_1h=800,output=250,web_search=1"
HEADERS = {"x-fake-usage": USAGE, "x-fake-stop": "max_tokens", "x-fake-model": "claude-opus-4-6-20260101",
           "x-fake-service-tier": "priority", "x-fake-inference-geo": "us", "x-fake-speed": "fast"}


def _check_usage_span(otel: Otel, message: Any) -> None:
    span = otel.one()
    a = span.attributes
    assert span.name == f"chat {MODEL}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat" and a[sc.CS_OPERATION] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert a[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "claude-opus-4-6-20260101"
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 300
    assert a[sc.GEN_AI_REQUEST_STREAM] is False
    assert a[sc.GEN_AI_RESPONSE_ID] == message.id
    assert a[sc.ANTHROPIC_REQUEST_ID] == message._request_id
    assert tuple(a[sc.GEN_AI_RESPONSE_FINISH_REASONS]) == ("max_tokens",)
    assert a[sc.ANTHROPIC_STOP_REASON] == "max_tokens"
    assert a[sc.CS_UNCACHED_INPUT_TOKENS] == 120
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120 + 3000 + 800
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 250
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 3000
    assert a[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 800
    assert a[sc.ANTHROPIC_CACHE_WRITE_5M] == 0 and a[sc.ANTHROPIC_CACHE_WRITE_1H] == 800
    assert a[sc.CS_WEB_SEARCH_REQUESTS] == 1
    assert a[sc.ANTHROPIC_RESPONSE_SERVICE_TIER] == "priority"
    assert a[sc.CS_INFERENCE_GEO] == "us" and a[sc.CS_SPEED] == "fast"
    assert a[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert a[sc.HTTP_REQUEST_RESEND_COUNT] == 0
    assert isinstance(a[sc.CS_RATELIMIT_PREFIX + "tokens.remaining"], int)
    assert isinstance(a[sc.CS_RATELIMIT_PREFIX + "requests.limit"], int)
    assert isinstance(a[sc.CS_RATELIMIT_PREFIX + "tokens.reset"], str)
    assert sc.GEN_AI_INPUT_MESSAGES not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a
    assert not any("sk-test-secret" in str(v) for v in a.values())
    assert [e.name for e in span.events] == [sc.CS_ATTEMPT_EVENT]


def test_create_sync_every_attribute(otel: Otel, client: anthropic.Anthropic) -> None:
    message = client.messages.create(model=MODEL, max_tokens=300, messages=HELLO, extra_headers=HEADERS)
    assert type(message) is anthropic.types.Message
    _check_usage_span(otel, message)


def test_create_async_every_attribute(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> Any:
        async with aclient:
            return await aclient.messages.create(model=MODEL, max_tokens=300, messages=HELLO, extra_headers=HEADERS)

    _check_usage_span(otel, asyncio.run(go()))


def test_beta_create_and_count_tokens(otel: Otel, client: anthropic.Anthropic) -> None:
    beta = client.beta.messages.create(model=MODEL, max_tokens=50, messages=HELLO, betas=["context-management-2025-06-27"],
                                       extra_headers={"x-fake-usage": "input=7,output=3"})
    counted = client.messages.count_tokens(model=MODEL, messages=HELLO)
    chat, count = otel.spans()
    assert chat.attributes[sc.GEN_AI_RESPONSE_ID] == beta.id
    assert chat.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert count.name == f"count_tokens {MODEL}"
    assert count.attributes[sc.CS_OPERATION] == "count_tokens"
    assert count.attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] == counted.input_tokens
    assert sc.GEN_AI_USAGE_OUTPUT_TOKENS not in count.attributes


def test_with_raw_response_and_streaming_response(otel: Otel, client: anthropic.Anthropic) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=HELLO,
                                                   extra_headers={"x-fake-usage": "input=11,output=4"})
    message = raw.parse()
    assert message.usage.input_tokens == 11
    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=50, messages=HELLO,
                                                        extra_headers={"x-fake-usage": "input=12,output=6"}) as resp:
        assert otel.spans()[1:] == []  # the body is unread: the call is not over yet
        streamed = resp.parse()
    sse = client.messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=HELLO, stream=True,
                                                   extra_headers={"x-fake-usage": "input=13,output=7"})
    events = [e.type for e in sse.parse()]
    assert events[-1] == "message_stop"
    first, second, third = otel.spans()
    assert first.attributes[sc.CS_RAW_RESPONSE] is True
    assert first.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert first.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 4
    assert first.attributes[sc.ANTHROPIC_REQUEST_ID] == raw.request_id
    assert second.attributes[sc.CS_RAW_RESPONSE] is True
    assert second.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == 200
    assert second.attributes[sc.GEN_AI_RESPONSE_ID] == streamed.id
    assert second.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 6
    assert third.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
    assert third.attributes[sc.CS_STREAM_END] == "read"
    assert sc.CS_USAGE_INCOMPLETE not in third.attributes


def test_async_raw_response(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> Any:
        async with aclient:
            async with aclient.messages.with_streaming_response.create(
                    model=MODEL, max_tokens=50, messages=HELLO, extra_headers={"x-fake-usage": "input=3,output=2"}) as resp:
                return await resp.parse()

    message = asyncio.run(go())
    span = otel.one()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_unparsed_streaming_response_ends_when_dropped(otel: Otel, client: anthropic.Anthropic) -> None:
    import gc

    with client.messages.with_streaming_response.create(model=MODEL, max_tokens=50, messages=HELLO) as resp:
        assert resp.status_code == 200
    del resp
    gc.collect()
    span = otel.one()
    assert span.attributes[sc.CS_STREAM_END] == "abandoned"
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True


def test_parse(otel: Otel, client: anthropic.Anthropic) -> None:
    parsed = client.messages.parse(model=MODEL, max_tokens=50, messages=HELLO,
                                   extra_headers={"x-fake-usage": "input=21,output=8"})
    assert type(parsed).__name__.startswith("ParsedMessage")
    span = otel.one()
    assert span.attributes[sc.CS_OPERATION] == "chat"
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == parsed.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 8


@pytest.mark.parametrize("script,resend", [("529,ok", 1), ("429,500,ok", 2)])
def test_retries_are_one_span_with_attempt_events(otel: Otel, client: anthropic.Anthropic, script: str, resend: int) -> None:
    message = client.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                                     extra_headers={"x-fake-script": script, "x-fake-retry-after": "0.01"})
    span = otel.one()
    assert span.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == resend
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    events = [dict(e.attributes) for e in span.events if e.name == sc.CS_ATTEMPT_EVENT]
    assert [e[sc.CS_ATTEMPT_NUMBER] for e in events] == list(range(resend + 1))
    expected_status = [int(s) if s.isdigit() else 200 for s in script.split(",")]
    assert [e[sc.CS_ATTEMPT_STATUS] for e in events] == expected_status
    assert events[0][sc.CS_ATTEMPT_ERROR_TYPE] in ("overloaded_error", "rate_limit_error")
    assert events[0][sc.CS_ATTEMPT_RETRY_AFTER] == pytest.approx(0.01)
    assert all(e[sc.CS_ATTEMPT_DURATION_MS] >= 0 for e in events)
    stamps = [e.timestamp for e in span.events]  # each stamped when its attempt ended
    assert span.start_time <= stamps[0] and stamps == sorted(stamps) and stamps[-1] <= span.end_time
    assert len(set(stamps)) == len(stamps)
    assert events[-1][sc.CS_ATTEMPT_REQUEST_ID] == message._request_id
    assert span.attributes[sc.ANTHROPIC_REQUEST_ID] == message._request_id


@pytest.mark.parametrize("script,exc,etype,resend", [
    ("429", anthropic.RateLimitError, "rate_limit_error", 2),
    ("400", anthropic.BadRequestError, "invalid_request_error", 0),
    ("529", anthropic.InternalServerError, "overloaded_error", 2),
    ("404", anthropic.NotFoundError, "not_found_error", 0),
])
def test_errors_pass_through_and_mark_span(otel: Otel, client: anthropic.Anthropic, script: str, exc: type,
                                           etype: str, resend: int) -> None:
    with pytest.raises(exc) as raised:
        client.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                               extra_headers={"x-fake-script": script, "x-fake-retry-after": "0.001"})
    span = otel.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == etype
    assert span.attributes[sc.HTTP_RESPONSE_STATUS_CODE] == raised.value.status_code
    assert span.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == resend
    assert span.attributes[sc.ANTHROPIC_REQUEST_ID] == raised.value.request_id


def test_async_error(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> None:
        async with aclient:
            await aclient.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                                          extra_headers={"x-fake-script": "529,ok,ok"})
            with pytest.raises(anthropic.BadRequestError):
                await aclient.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                                              extra_headers={"x-fake-script": "400"})

    asyncio.run(go())
    ok, bad = otel.spans()
    assert ok.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == 1
    assert bad.attributes[sc.ERROR_TYPE] == "invalid_request_error"


def test_timeout_and_connection_error(otel: Otel, client: anthropic.Anthropic, fake_api: str) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        client.with_options(timeout=0.05, max_retries=0).messages.create(
            model=MODEL, max_tokens=50, messages=HELLO, extra_headers={"x-fake-script": "slow:2000"})
    dead = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=1)
    with pytest.raises(anthropic.APIConnectionError):
        dead.messages.create(model=MODEL, max_tokens=50, messages=HELLO)
    timeout, conn = otel.spans()
    assert timeout.attributes[sc.ERROR_TYPE] == "timeout"
    assert conn.attributes[sc.ERROR_TYPE] == "connection_error"
    assert conn.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == 1
    assert [e.attributes[sc.CS_ATTEMPT_ERROR_TYPE] for e in conn.events] == ["connection_error"] * 2


def test_platform_client_shares_the_chokepoint(otel: Otel, fake_api: str) -> None:
    from anthropic.lib.foundry import AnthropicFoundry

    foundry = AnthropicFoundry(api_key="k", base_url=fake_api)
    message = foundry.messages.create(model=MODEL, max_tokens=20, messages=HELLO,
                                      extra_headers={"x-fake-script": "529,ok", "x-fake-usage": "input=9,output=2"})
    assert foundry.open_telemetry["traces"]["enabled"] is False
    span = otel.one()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == message.id
    assert span.attributes[sc.CS_UNCACHED_INPUT_TOKENS] == 9
    assert span.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == 1
