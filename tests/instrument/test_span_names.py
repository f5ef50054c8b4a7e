"""The SDK span-name -> operation map is one fact, read by the instrumentation and the collector."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from claudescope import semconv as sc
from claudescope.collector import aliases
from claudescope.instrument import _extract


def test_one_map_serves_both_sides() -> None:
    assert aliases.SDK_SPAN_OPERATIONS is sc.SDK_SPAN_OPERATIONS
    with pytest.raises(TypeError):
        sc.SDK_SPAN_OPERATIONS["anthropic.models.list"] = "chat"  # type: ignore[index]


@pytest.mark.parametrize("span_name", sorted(sc.SDK_SPAN_OPERATIONS))
def test_instrumentation_sorts_requests_by_the_shared_map(span_name: str) -> None:
    # Options named by the SDK only (no URL): the operation comes from the span name alone.
    options = SimpleNamespace(span_name=span_name, url="", method="post")
    assert _extract.operation_of(options) == sc.SDK_SPAN_OPERATIONS[span_name]


def test_batch_methods_stay_the_instrumentations_own() -> None:
    options = SimpleNamespace(span_name="anthropic.messages.batches.results", url="", method="get")
    assert _extract.operation_of(options) == "batch_results"
    assert "anthropic.messages.batches.results" not in sc.SDK_SPAN_OPERATIONS
