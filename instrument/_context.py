"""``attributes()``: attribution scopes carried in a ContextVar and in OTel baggage.

Scopes nest: an inner scope's keys override the outer ones' (innermost wins) and are merged
with them otherwise. ContextVars make this safe across threads and asyncio tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

from opentelemetry import baggage
from opentelemetry import context as otel_context

from claudescope.semconv import BAGGAGE_PREFIX

_EMPTY: Mapping[str, str] = MappingProxyType({})
_SCOPE: ContextVar[Mapping[str, str]] = ContextVar("claudescope_attributes", default=_EMPTY)


@contextlib.contextmanager
def attributes(
    *,
    user_id: str | None = None,
    feature: str | None = None,
    prompt_version: str | None = None,
    **extra: Any,
) -> Iterator[Mapping[str, str]]:
    """Attribute every Claude call made inside the ``with`` block.

    ``user_id``, ``feature`` and ``prompt_version`` become their own ``calls`` columns; any
    other key lands in the row's ``attributes`` JSON. Values are converted to strings; None
    leaves an outer scope's value in place. Yields the merged attribution now in effect.
    """
    named = {"user_id": user_id, "feature": feature, "prompt_version": prompt_version}
    new = {k: str(v) for k, v in {**named, **extra}.items() if v is not None}
    merged = MappingProxyType({**_SCOPE.get(), **new})
    token = _SCOPE.set(merged)
    ctx = otel_context.get_current()
    for key, value in new.items():
        ctx = baggage.set_baggage(BAGGAGE_PREFIX + key, value, ctx)
    otel_token = otel_context.attach(ctx)
    try:
        yield merged
    finally:
        otel_context.detach(otel_token)
        _SCOPE.reset(token)


def current() -> Mapping[str, str]:
    """The attribution in effect here (innermost scope wins)."""
    return _SCOPE.get()
