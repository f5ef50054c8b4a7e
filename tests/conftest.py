"""Shared test setup. Component fixtures live in plugin modules, one per component owner."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures_fakeapi",
    "tests.fixtures_collector",
    "tests.fixtures_alerts",
]

# A developer's real credentials or exporter settings must never leak into a test run.
_SCRUBBED_PREFIXES = ("ANTHROPIC_", "OTEL_", "CLAUDESCOPE_")


@pytest.fixture(autouse=True)
def clean_environ() -> Iterator[None]:
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith(_SCRUBBED_PREFIXES):
            del os.environ[key]
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
