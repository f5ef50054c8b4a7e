"""A private fake API per test, with its ledger and Admin API read over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import anthropic
import httpx
import pytest

from claudescope.fakeapi.app import create_fake_api
from claudescope.fakeapi.server import ServerThread

ADMIN_KEY = "sk-ant-admin01-fake-test-key"
APP_KEY = "sk-ant-api03-fake-app-key"
ADMIN = {"x-api-key": ADMIN_KEY, "anthropic-version": "2023-06-01"}
MSGS = [{"role": "user", "content": "Summarise the quarterly report in three bullet points."}]


def now_header(moment: datetime) -> dict[str, str]:
    """``x-fake-now`` for a UTC moment."""
    return {"x-fake-now": f"{moment.replace(tzinfo=timezone.utc).timestamp():.3f}"}


@dataclass
class Fake:
    url: str
    app: Any

    def client(self, key: str = APP_KEY, **options: Any) -> anthropic.Anthropic:
        options.setdefault("max_retries", 0)
        return anthropic.Anthropic(base_url=self.url, api_key=key, **options)

    def call(self, model: str = "claude-sonnet-4-6", headers: dict[str, str] | None = None, key: str = APP_KEY,
             **params: Any) -> Any:
        """One JSON Messages call through the real SDK."""
        params.setdefault("max_tokens", 512)
        params.setdefault("messages", MSGS)
        with self.client(key) as client:
            return client.messages.create(model=model, extra_headers=headers or {}, **params)

    def ledger(self) -> list[dict[str, Any]]:
        answer = httpx.get(self.url + "/v1/fake/ledger", timeout=10)
        assert answer.status_code == 200
        return answer.json()["data"]

    def get(self, path: str, params: list[tuple[str, str]] | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.get(self.url + path, params=params or [], headers=ADMIN if headers is None else headers, timeout=10)

    def report(self, path: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        answer = self.get(path, params)
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def fake() -> Iterator[Callable[..., Fake]]:
    """Start private fake APIs (``create_fake_api`` options); stopped after the test."""
    servers: list[ServerThread] = []

    def start(**options: Any) -> Fake:
        options.setdefault("latency_scale", 0.0)
        app = create_fake_api(**options)
        server = ServerThread(app, log_level="error").start()
        servers.append(server)
        return Fake(server.base_url, app)

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def idle_fake() -> Iterator[Fake]:
    """One fake per module for tests that must leave it untouched (rejected requests)."""
    app = create_fake_api(latency_scale=0.0)
    with ServerThread(app, log_level="error") as server:
        yield Fake(server.base_url, app)
