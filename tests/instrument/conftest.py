"""Instrumented test setup: real SDK -> bundled fake API; spans and metrics kept in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import claudescope.instrument as cs

MODEL = "claude-opus-4-6"
HELLO = [{"role": "user", "content": "Say hello."}]
# Instrumentation tests run in strict mode, so that a fault in the instrumentation fails the
# test that hit it; a test that provokes faults on purpose (to prove they never reach the app)
# is marked with this and gets the default, swallowing mode.
PROVOKES_FAULTS = "provokes_faults"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{PROVOKES_FAULTS}: the test breaks the instrumentation on purpose")


def strict_for(request: pytest.FixtureRequest) -> bool:
    """Strict mode unless the test provokes faults on purpose."""
    return request.node.get_closest_marker(PROVOKES_FAULTS) is None


def faults_seen() -> dict[str, int]:
    """Faults counted so far by the current instrument(), by site (empty when not instrumented)."""
    patches = cs.ClaudescopeInstrumentor()._patches
    counts = patches.runtime.faults.counts() if patches is not None else {}
    return {name: count for name, count in counts.items() if count}


@dataclass
class Otel:
    """What one instrumented test sees."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if s.instrumentation_scope.name == "claudescope.instrument"]

    def one(self) -> ReadableSpan:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def metrics(self) -> dict[str, list[Any]]:
        """metric name -> data points."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        for rm in data.resource_metrics if data else []:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found


def make_otel() -> Otel:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Otel(exporter, InMemoryMetricReader(), provider)


@pytest.fixture
def otel(request: pytest.FixtureRequest) -> Iterator[Otel]:
    """claudescope instrumented with in-memory span and metric capture; removed afterwards.
    Strict (see PROVOKES_FAULTS); a fault swallowed where strict mode cannot raise (a
    finaliser, __del__) still fails the test here."""
    o = make_otel()
    cs.uninstrument()  # in case another test leaked an instrumented state (instrument() is idempotent)
    strict = strict_for(request)
    cs.instrument(tracer_provider=o.tracer_provider, meter_provider=MeterProvider(metric_readers=[o.reader]),
                  strict=strict)
    try:
        yield o
        faults = faults_seen()
    finally:
        cs.uninstrument()
    assert not (strict and faults), f"instrumentation faults: {faults}"


@pytest.fixture
def client(otel: Otel, fake_api: str) -> Iterator[Any]:
    """A sync client constructed after instrument() (so it carries the attempts middleware)."""
    import anthropic

    c = anthropic.Anthropic(base_url=fake_api, api_key="sk-test-secret", max_retries=2)
    yield c
    c.close()


@pytest.fixture
def aclient(otel: Otel, fake_api: str) -> Any:
    """The async twin (use inside one asyncio.run per test)."""
    import anthropic

    return anthropic.AsyncAnthropic(base_url=fake_api, api_key="sk-test-secret", max_retries=2)
