"""The one fault guard: a fault is swallowed, counted and logged once per site by default, and
re-raised into the caller under strict mode (real SDK against the bundled fake API)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider

import claudescope.instrument as cs
from claudescope import semconv as sc
from claudescope.instrument._safety import FaultSite

from .conftest import HELLO, MODEL, Otel, faults_seen, make_otel

_FAULT_LOG = "claudescope instrumentation fault in"


def _broken_redact(text: str) -> str:
    raise RuntimeError("user hook bug")


class _BrokenMeterProvider:
    """A third-party meter whose instruments fail when a call is recorded."""

    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        class Instrument:
            def record(self, *a: Any, **k: Any) -> None:
                raise RuntimeError("meter bug")

            add = record

        class Meter:
            def __getattr__(self, name: str) -> Any:
                return lambda *a, **k: Instrument()

        return Meter()


@pytest.fixture
def instrumented(fake_api: str) -> Iterator[Any]:
    """instrument(**kwargs) with in-memory capture -> (Otel, client); uninstrumented afterwards."""

    def start(**kwargs: Any) -> tuple[Otel, anthropic.Anthropic]:
        o = make_otel()
        kwargs.setdefault("meter_provider", MeterProvider(metric_readers=[o.reader]))
        cs.instrument(tracer_provider=o.tracer_provider, **kwargs)
        return o, anthropic.Anthropic(base_url=fake_api, api_key="sk-test-secret")

    cs.uninstrument()
    yield start
    cs.uninstrument()


def _fault_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "claudescope.instrument" and _FAULT_LOG in r.getMessage()]


@pytest.mark.provokes_faults
def test_faults_are_swallowed_counted_and_logged_once_per_site(instrumented: Any,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="claudescope.instrument")
    otel, client = instrumented(capture_content=True, redact=_broken_redact)
    for _ in range(3):
        assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO).content
    assert faults_seen() == {"request content": 3, "response content": 3}
    assert sorted(_fault_logs(caplog)) == [f"{_FAULT_LOG} request content", f"{_FAULT_LOG} response content"]
    spans = otel.spans()
    assert len(spans) == 3  # a fault loses the content attributes, never the span
    assert all(sc.GEN_AI_INPUT_MESSAGES not in s.attributes and s.attributes[sc.GEN_AI_RESPONSE_ID] for s in spans)


def test_strict_mode_raises_the_fault_into_the_caller(instrumented: Any) -> None:
    otel, client = instrumented(capture_content=True, redact=_broken_redact, strict=True)
    with pytest.raises(RuntimeError, match="user hook bug"):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)


@pytest.mark.provokes_faults
def test_strict_mode_belongs_to_one_instrument_and_counts_start_afresh(instrumented: Any,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="claudescope.instrument")
    otel, client = instrumented(capture_content=True, redact=_broken_redact, strict=True)
    with pytest.raises(RuntimeError):
        client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    cs.uninstrument()
    otel, client = instrumented(capture_content=True, redact=_broken_redact)
    assert client.messages.create(model=MODEL, max_tokens=10, messages=HELLO).content
    assert faults_seen() == {"request content": 1, "response content": 1}
    assert len(_fault_logs(caplog)) == 2  # logged by the new instrument(), not muted by the old one


@pytest.mark.provokes_faults
@pytest.mark.parametrize("strict", [False, True])
def test_stream_end_fault_follows_the_mode(instrumented: Any, strict: bool) -> None:
    otel, client = instrumented(meter_provider=_BrokenMeterProvider(), strict=strict)
    if strict:
        with pytest.raises(RuntimeError, match="meter bug"):
            with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
                stream.get_final_text()
        return
    with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream:
        assert stream.get_final_text()
    assert faults_seen() == {"stream end": 1}


def test_wrapper_form_returns_the_default_and_shares_the_site_contract(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="claudescope.instrument")

    def broken(value: int) -> bool:
        raise ValueError(f"bad {value}")

    site = FaultSite("wrapped helper")
    guarded = site.guard(broken, default=False)
    assert guarded(1) is False and guarded(2) is False
    assert site.count == 2
    assert _fault_logs(caplog) == [f"{_FAULT_LOG} wrapped helper"]
    with pytest.raises(ValueError, match="bad 3"):
        FaultSite("strict helper", strict=True).guard(broken, default=False)(3)
