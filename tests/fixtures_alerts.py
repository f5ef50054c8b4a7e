"""Alert fixtures: a real SMTP server (aiosmtpd) and a webhook HTTP server that record what they
receive, a temp-dir Store, and a helper that writes known ``calls`` rows through the store."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from claudescope.fakeapi.server import free_port


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> Any:
    """Poll until ``predicate()`` is truthy; return it, or fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


@dataclass
class WebhookSink:
    """A local HTTP endpoint for ``json://`` URLs; ``statuses`` queues answers (default 200)."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """apprise URL of this sink."""
        return f"json://127.0.0.1:{self.port}/hook"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status`` (and record nothing for them)."""
        with self.lock:
            self.statuses.extend([status] * count)

    def messages(self) -> list[dict[str, Any]]:
        """Accepted payloads so far (a copy)."""
        with self.lock:
            return list(self.received)


@dataclass
class SmtpSink:
    """A local SMTP server for ``mailto://`` URLs, recording each message."""

    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """apprise URL of this sink."""
        return f"mailto://127.0.0.1:{self.port}?from=alerts@example.com&to=oncall@example.com"

    def messages(self) -> list[dict[str, Any]]:
        """Received messages as dicts with subject, body, from, to."""
        with self.lock:
            return list(self.received)


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A webhook server on a free 127.0.0.1 port."""
    sink = WebhookSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server API)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with sink.lock:
                sink.attempts += 1
                status = sink.statuses.pop(0) if sink.statuses else 200
                if status == 200:
                    sink.received.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An aiosmtpd server on a free 127.0.0.1 port."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd API)
            msg = message_from_bytes(envelope.content)
            part = msg.get_payload(0) if msg.is_multipart() else msg
            body = part.get_payload(decode=True).decode("utf-8", "replace")
            with sink.lock:
                sink.received.append({"subject": str(msg["Subject"]), "body": body,
                                      "from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
            return "250 OK"

    for _ in range(5):
        sink.port = free_port()
        controller = Controller(Handler(), hostname="127.0.0.1", port=sink.port)
        try:
            controller.start()
            break
        except Exception:  # the port was taken between probe and bind: try another
            continue
    else:
        pytest.fail("could not start aiosmtpd")
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def alert_store(tmp_path: Path) -> Iterator[Any]:
    """A real collector Store in a temp dir (migrations applied, alert tables included)."""
    from claudescope.collector.store import Store

    store = Store.open(tmp_path / "data" / "claudescope.duckdb")
    try:
        yield store
    finally:
        store.close()


def call_row(**fields: Any) -> dict[str, Any]:
    """One ``call_spans`` row with sensible defaults (a 1 s ok chat call a minute ago)."""
    now = datetime.now(UTC)
    start = fields.pop("start_time", now - timedelta(minutes=1))
    row: dict[str, Any] = {
        "trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8),
        "start_time": start, "end_time": start + timedelta(seconds=1), "duration_ms": 1000.0,
        "service_name": "app", "operation": "chat", "request_model": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5", "stream": False, "status": "ok", "http_status": 200,
        "retries": 0, "stop_reason": "end_turn", "max_tokens": 1024, "input_tokens": 100, "output_tokens": 50,
        "cache_read_tokens": 0, "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0,
        "feature": "chat", "user_id": "u-1", "cost_usd": Decimal("0.001"), "source": "claudescope",
        "attributes": "{}", "source_rank": 0, "superseded": False, "ingested_at": now,
    }
    row.update(fields)
    if isinstance(row["attributes"], dict):
        row["attributes"] = json.dumps(row["attributes"])
    return row


def insert_calls(store: Any, rows: list[dict[str, Any]]) -> Any:
    """Write rows through Store.insert_spans (the collector's own durable path)."""
    import pyarrow as pa

    from claudescope.collector.store import SPANS_ARROW_SCHEMA

    full = [{name: r.get(name) for name in SPANS_ARROW_SCHEMA.names} for r in rows]
    return store.insert_spans(pa.Table.from_pylist(full, schema=SPANS_ARROW_SCHEMA))
