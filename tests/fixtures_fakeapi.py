"""Fixtures for the bundled fake Anthropic API (claudescope.fakeapi.app).

- ``fake_api``: session-scoped base URL (``http://127.0.0.1:<free port>``) of a fake API
  served in a background thread (seed 0, ``latency_scale=0``: answers are instant unless a
  test asks for latency with ``x-fake-latency-ms`` / ``x-fake-ttft-ms`` / ``slow:<ms>``).
- ``fake_api_app``: the Starlette app behind it (``.state.fake`` holds its state).
- ``anthropic_client``: a real ``anthropic.Anthropic`` (sync, ``max_retries=2``) pointed at it.
- ``async_anthropic_client``: the ``anthropic.AsyncAnthropic`` twin.
- ``fake_api_server``: factory for a private fake API (own seed, cache, options), for tests
  that need fresh prompt-cache state: ``url = fake_api_server(seed=3, latency_scale=0.0)``.

The control headers (``x-fake-script``, ``x-fake-usage``, ...) are documented in
``claudescope/fakeapi/app.py``; pass them with the SDK's ``extra_headers=``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from claudescope.fakeapi.server import ServerThread
from claudescope.fakeapi.app import create_fake_api


@pytest.fixture(scope="session")
def fake_api_app() -> Any:
    """The shared fake API app (session-wide state: prompt cache, batches)."""
    return create_fake_api(seed=0, latency_scale=0.0)


@pytest.fixture(scope="session")
def fake_api(fake_api_app: Any) -> Iterator[str]:
    """Base URL of the shared fake Anthropic API."""
    with ServerThread(fake_api_app, log_level="error") as server:
        yield server.base_url


@pytest.fixture
def fake_api_server() -> Iterator[Callable[..., str]]:
    """Start private fake APIs (``create_fake_api`` keyword options); stopped after the test."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> str:
        options.setdefault("latency_scale", 0.0)
        server = ServerThread(create_fake_api(**options), log_level="error").start()
        servers.append(server)
        return server.base_url

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def anthropic_client(fake_api: str) -> Iterator[Any]:
    """A real sync ``anthropic.Anthropic`` client talking to the fake API."""
    import anthropic

    client = anthropic.Anthropic(base_url=fake_api, api_key="test", max_retries=2)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def async_anthropic_client(fake_api: str) -> Any:
    """A real ``anthropic.AsyncAnthropic`` client talking to the fake API.

    A plain (sync) fixture, so it works without an async pytest plugin: use it inside one
    ``asyncio.run(...)`` per test and ``await client.close()`` there when done.
    """
    import anthropic

    return anthropic.AsyncAnthropic(base_url=fake_api, api_key="test", max_retries=2)
