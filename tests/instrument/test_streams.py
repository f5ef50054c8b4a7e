"""Streams: one span, ended exactly once however the stream ends; cumulative usage; TTFT."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import StatusCode

from claudescope import semconv as sc

from .conftest import HELLO, MODEL, Otel

USAGE = {"x-fake-usage": "input=40,cache_read=500,cache_write_5m=100,output=77"}


def _full(otel: Otel, end: str = "read") -> Any:
    span = otel.one()
    a = span.attributes
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 77  # message_delta's total, not message_start's placeholder
    assert a[sc.CS_UNCACHED_INPUT_TOKENS] == 40
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == 640
    assert a[sc.ANTHROPIC_CACHE_WRITE_5M] == 100
    assert a[sc.GEN_AI_RESPONSE_ID].startswith("msg_")
    assert a[sc.ANTHROPIC_STOP_REASON] == "end_turn"
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert a[sc.CS_STREAM_END] == end
    assert sc.CS_USAGE_INCOMPLETE not in a
    assert span.status.status_code is StatusCode.UNSET
    return span


def test_create_stream_exhausted(otel: Otel, client: anthropic.Anthropic) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True,
                                    extra_headers={**USAGE, "x-fake-stop": "end_turn"})
    assert type(stream) is anthropic.Stream
    assert otel.spans() == []  # still open until the stream ends
    kinds = [event.type for event in stream]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    _full(otel)


def test_stream_helper_text_and_final_message(otel: Otel, client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                extra_headers={**USAGE, "x-fake-stop": "end_turn", "x-fake-ttft-ms": "30"}) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens == 77
    span = _full(otel)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == final.id
    assert span.attributes[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0.03


def test_async_stream_helper(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> Any:
        async with aclient:
            async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                               extra_headers={**USAGE, "x-fake-stop": "end_turn"}) as stream:
                async for _ in stream.text_stream:
                    pass
                return await stream.get_final_message()

    final = asyncio.run(go())
    assert _full(otel).attributes[sc.GEN_AI_RESPONSE_ID] == final.id


def test_async_create_stream(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> None:
        async with aclient:
            stream = await aclient.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True,
                                                   extra_headers={**USAGE, "x-fake-stop": "end_turn"})
            async for _ in stream:
                pass

    asyncio.run(go())
    _full(otel)


def test_beta_stream(otel: Otel, client: anthropic.Anthropic) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                     extra_headers={**USAGE, "x-fake-stop": "end_turn"}) as stream:
        stream.until_done()
    _full(otel)


def test_early_break_then_close_ends_once(otel: Otel, client: anthropic.Anthropic) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True, extra_headers=USAGE)
    for event in stream:
        if event.type == "message_start":
            break
    stream.close()
    stream.close()
    span = otel.one()
    assert span.attributes[sc.CS_STREAM_END] == "closed"
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True
    assert span.attributes[sc.CS_UNCACHED_INPUT_TOKENS] == 40  # message_start usage kept


def test_exception_inside_with_block(otel: Otel, client: anthropic.Anthropic) -> None:
    with pytest.raises(KeyError):
        with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO, extra_headers=USAGE) as stream:
            next(iter(stream))
            raise KeyError("app bug")
    span = otel.one()
    assert span.attributes[sc.CS_STREAM_END] == "closed"


def test_abandoned_stream_ends_on_gc(otel: Otel, client: anthropic.Anthropic) -> None:
    def leak() -> None:
        stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True, extra_headers=USAGE)
        next(iter(stream))

    leak()
    gc.collect()
    span = otel.one()
    assert span.attributes[sc.CS_STREAM_END] == "abandoned"
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True


def test_sse_error_mid_stream(otel: Otel, client: anthropic.Anthropic) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True,
                                    extra_headers={"x-fake-script": "sse-error"})
    with pytest.raises(anthropic.APIStatusError) as raised:
        for _ in stream:
            pass
    assert raised.value.type == "overloaded_error"
    stream.close()
    span = otel.one()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "overloaded_error"
    assert span.attributes[sc.CS_STREAM_END] == "failed"
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True


def test_cut_stream(otel: Otel, client: anthropic.Anthropic) -> None:
    stream = client.messages.create(model=MODEL, max_tokens=100, messages=HELLO, stream=True,
                                    extra_headers={"x-fake-script": "cut", **USAGE})
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises for a dropped connection
        for _ in stream:
            pass
    span = otel.one()
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True
    assert span.status.status_code is StatusCode.ERROR


def test_stream_request_retried_then_streamed(otel: Otel, client: anthropic.Anthropic) -> None:
    with client.messages.stream(model=MODEL, max_tokens=100, messages=HELLO,
                                extra_headers={**USAGE, "x-fake-stop": "end_turn", "x-fake-script": "529,ok"}) as stream:
        stream.until_done()
    span = _full(otel)
    assert span.attributes[sc.HTTP_REQUEST_RESEND_COUNT] == 1
    assert [e.attributes[sc.CS_ATTEMPT_STATUS] for e in span.events] == [529, 200]


def test_async_early_exit_from_stream_helper(otel: Otel, aclient: anthropic.AsyncAnthropic) -> None:
    async def go() -> None:
        async with aclient:
            async with aclient.messages.stream(model=MODEL, max_tokens=100, messages=HELLO, extra_headers=USAGE) as stream:
                async for _ in stream:
                    break

    asyncio.run(go())
    span = otel.one()
    assert span.attributes[sc.CS_STREAM_END] == "closed"
    assert span.attributes[sc.CS_USAGE_INCOMPLETE] is True
    assert span.attributes[sc.GEN_AI_RESPONSE_ID].startswith("msg_")
