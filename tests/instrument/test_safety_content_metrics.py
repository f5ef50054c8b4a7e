"""Content capture (opt-in, capped, redacted), never-in-the-way faults, and the metrics."""

from __future__ import annotations

import json
import os
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import claudescope.instrument as cs
from claudescope import semconv as sc

from .conftest import HELLO, MODEL, Otel, make_otel, strict_for


@pytest.fixture
def capturing(fake_api: str, request: pytest.FixtureRequest) -> Any:
    def start(**kwargs: Any) -> tuple[Otel, anthropic.Anthropic]:
        o = make_otel()
        cs.instrument(tracer_provider=o.tracer_provider, meter_provider=MeterProvider(metric_readers=[o.reader]),
                      strict=strict_for(request), **kwargs)
        return o, anthropic.Anthropic(base_url=fake_api, api_key="sk-test-secret")

    yield start
    cs.uninstrument()


def test_content_off_by_default_on_by_env(capturing: Any) -> None:
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
    otel, client = capturing()
    message = client.messages.create(model=MODEL, max_tokens=30, system="Be brief.", messages=HELLO)
    a = otel.one().attributes
    assert json.loads(a[sc.GEN_AI_INPUT_MESSAGES]) == [{"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}]
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "Be brief."}]
    output = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["role"] == "assistant"
    assert output[0]["parts"][0]["content"] == message.content[0].text


def test_content_capture_redacted_and_capped(capturing: Any) -> None:
    otel, client = capturing(capture_content=True, content_max_bytes=200, redact=lambda t: t.replace("4111", "####"))
    client.messages.create(model=MODEL, max_tokens=30, messages=[{"role": "user", "content": "card 4111 " + "é" * 300}])
    a = otel.one().attributes
    assert "4111" not in a[sc.GEN_AI_INPUT_MESSAGES] and "####" in a[sc.GEN_AI_INPUT_MESSAGES]
    assert len(a[sc.GEN_AI_INPUT_MESSAGES].encode()) <= 200
    assert a[sc.CS_CAPTURE_TRUNCATED] is True


def test_stream_content_capture(capturing: Any) -> None:
    otel, client = capturing(capture_content=True)
    with client.messages.stream(model=MODEL, max_tokens=30, messages=HELLO) as stream:
        text = stream.get_final_text()
    output = json.loads(otel.one().attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"][0]["content"] == text


@pytest.mark.provokes_faults
def test_raising_redact_hook_never_reaches_the_app(capturing: Any) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("user hook bug")

    otel, client = capturing(capture_content=True, redact=broken)
    message = client.messages.create(model=MODEL, max_tokens=30, messages=HELLO)
    assert message.content
    a = otel.one().attributes
    assert a[sc.GEN_AI_RESPONSE_ID] == message.id
    assert sc.GEN_AI_INPUT_MESSAGES not in a


class _BrokenTracerProvider(TracerProvider):
    """A third-party provider whose tracer fails: the call must still succeed."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        class Tracer:
            def start_span(self, *a: Any, **k: Any) -> Any:
                raise RuntimeError("tracer bug")

        return Tracer()


class _BrokenMeterProvider:
    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        class Instrument:
            def record(self, *a: Any, **k: Any) -> None:
                raise RuntimeError("meter bug")

            add = record

        class Meter:
            def __getattr__(self, name: str) -> Any:
                return lambda *a, **k: Instrument()

        return Meter()


def test_broken_tracer_and_meter_never_reach_the_app(fake_api: str) -> None:
    cs.instrument(tracer_provider=_BrokenTracerProvider())
    try:
        client = anthropic.Anthropic(base_url=fake_api, api_key="k")
        assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO).id
        with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
            assert stream.get_final_text()
    finally:
        cs.uninstrument()
    o = make_otel()
    cs.instrument(tracer_provider=o.tracer_provider, meter_provider=_BrokenMeterProvider())
    try:
        client = anthropic.Anthropic(base_url=fake_api, api_key="k")
        assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO).id
        with pytest.raises(anthropic.BadRequestError):
            client.messages.create(model=MODEL, max_tokens=10, messages=HELLO, extra_headers={"x-fake-script": "400"})
    finally:
        cs.uninstrument()


class _Weird:
    """What a short-circuiting user middleware might hand back."""

    id = 7
    model = ["not", "a", "string"]
    stop_reason = {"odd": True}
    usage = "garbage"
    content = 12


def test_weird_results_from_user_middleware(otel: Otel, fake_api: str) -> None:
    weird = _Weird()

    def short_circuit(request: Any, call_next: Any) -> Any:
        return weird

    client = anthropic.Anthropic(base_url=fake_api, api_key="k", middleware=[short_circuit])
    assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO) is weird
    span = otel.one()
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == MODEL
    assert sc.GEN_AI_RESPONSE_ID not in span.attributes


def test_metrics(otel: Otel, client: anthropic.Anthropic) -> None:
    client.messages.create(model=MODEL, max_tokens=10, messages=HELLO,
                           extra_headers={"x-fake-usage": "input=100,cache_read=1000,cache_write_5m=50,output=10",
                                          "x-fake-stop": "max_tokens", "x-fake-script": "529,ok",
                                          "x-fake-retry-after": "0.001"})
    with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO, extra_headers={"x-fake-stop": "end_turn"}) as stream:
        stream.until_done()
    with pytest.raises(anthropic.RateLimitError):
        client.with_options(max_retries=0).messages.create(model=MODEL, max_tokens=10, messages=HELLO,
                                                           extra_headers={"x-fake-script": "429"})
    m = otel.metrics()
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in m[sc.METRIC_TOKEN_USAGE]}
    assert tokens["input"].count == 2 and tokens["input"].max == 1150
    assert tokens["output"].count == 2
    assert all(p.attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic" for p in m[sc.METRIC_TOKEN_USAGE])
    assert sum(p.count for p in m[sc.METRIC_OPERATION_DURATION]) == 3
    assert sum(p.count for p in m[sc.METRIC_TIME_TO_FIRST_CHUNK]) == 1
    assert sum(p.value for p in m[sc.METRIC_CALLS]) == 3
    assert [(p.attributes[sc.ERROR_TYPE], p.value) for p in m[sc.METRIC_ERRORS]] == [("rate_limit_error", 1)]
    assert sum(p.value for p in m[sc.METRIC_RETRIES]) == 1
    assert sum(p.value for p in m[sc.METRIC_CACHE_READ_TOKENS]) == 1000
    assert sum(p.value for p in m[sc.METRIC_CACHE_WRITE_TOKENS]) == 50
    assert sum(p.value for p in m[sc.METRIC_MAX_TOKENS_STOPS]) == 1
