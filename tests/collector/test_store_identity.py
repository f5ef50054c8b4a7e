"""A collector says which store it serves; a command given --data acts only on that store.

Two real collectors on two stores (free ports, tmp dirs). The configured collector URL
(CLAUDESCOPE_PORT) points at B while each command is given A's data directory: the command
must never read or change B's store, and must read A's file itself when nothing holds it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pyarrow.dataset as ds
import pytest

from claudescope.fakeapi.server import free_port
from claudescope.store_identity import STORE_ID_FILE, read_store_id
from tests.fixtures_collector import RunningCollector, call_span

NEW_PRICES = '[prices]\n"claude-sonnet-4-5" = { input = 300.0, output = 1500.0 }\n'


def cli(*args: str, cwd: Path, port: int, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m claudescope ...`` as a user runs it, with the configured collector on ``port``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "claudescope", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**base, "CLAUDESCOPE_PORT": str(port), "COLUMNS": "80", **(env or {})},
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture
def two_stores(collector_factory) -> tuple[RunningCollector, RunningCollector]:
    a = collector_factory(data_dir=None)
    b = collector_factory(data_dir=None)
    assert a.post_spans([call_span(feature="a") for _ in range(3)]).status_code == 200
    assert b.post_spans([call_span(feature="b") for _ in range(5)]).status_code == 200
    return a, b


def totals(c: RunningCollector) -> tuple[int, str]:
    row = c.query("SELECT count(*) AS n, sum(cost_usd) AS usd FROM calls")[0]
    return row["n"], row["usd"]


def test_a_collector_reports_the_store_it_serves(collector_factory) -> None:
    secured = collector_factory(token="s3cret")
    store_id = read_store_id(secured.data_dir)
    assert store_id and (secured.data_dir / STORE_ID_FILE).is_file()
    assert httpx.get(secured.url + "/api/v1/store").status_code == 401
    body = httpx.get(secured.url + "/api/v1/store", headers={"Authorization": "Bearer s3cret"}).json()
    assert body["store_id"] == store_id and body["data_dir"] == str(secured.data_dir.resolve())
    assert httpx.get(secured.url + "/healthz").text == "ok"
    # The id survives a restart: it is the store's, not the process's.
    secured.stop()
    again = collector_factory(token="s3cret", data_dir=secured.data_dir)
    assert httpx.get(again.url + "/api/v1/store", headers={"Authorization": "Bearer s3cret"}).json()["store_id"] == store_id


def test_commands_aimed_at_a_store_served_elsewhere_never_touch_the_collector_they_reach(two_stores, tmp_path: Path) -> None:
    a, b = two_stores
    prices = tmp_path / "new-prices.toml"
    prices.write_text(NEW_PRICES)
    before_a, before_b = totals(a), totals(b)
    # A's file is locked by A's collector, and the collector on the configured port is B's.
    for args in (["sql", "SELECT count(*) AS n FROM calls"], ["reprice", "--config", str(prices)],
                 ["export", "--parquet", str(tmp_path / "pq")], ["backup", str(tmp_path / "bk")]):
        r = cli(*args, "--data", str(a.data_dir), cwd=tmp_path, port=b.port)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        line = one_line(r.stdout + r.stderr)
        assert str(a.data_dir) in line and b.url in line, line
    assert not (tmp_path / "pq").exists() and not (tmp_path / "bk").exists()
    assert totals(a) == before_a and totals(b) == before_b
    # Aimed at B's own store, the same commands use B.
    r = cli("sql", "--format", "csv", "SELECT count(*) AS n FROM calls", "--data", str(b.data_dir), cwd=tmp_path, port=b.port)
    assert r.returncode == 0 and r.stdout.splitlines() == ["n", "5"], r.stdout + r.stderr
    # --api naming a collector that serves another store than --data's is refused too.
    r = cli("reprice", "--config", str(prices), "--data", str(a.data_dir), "--api", b.url, cwd=tmp_path, port=free_port())
    assert r.returncode == 1 and b.url in one_line(r.stdout + r.stderr)
    assert totals(b) == before_b


def test_a_stopped_store_is_read_from_its_file_while_another_collector_answers(two_stores, tmp_path: Path) -> None:
    a, b = two_stores
    prices = tmp_path / "new-prices.toml"
    prices.write_text(NEW_PRICES)
    before_b = totals(b)
    a.stop()
    r = cli("sql", "--format", "csv", "SELECT feature, count(*) AS n FROM calls GROUP BY 1", "--data", str(a.data_dir), cwd=tmp_path, port=b.port)
    assert r.returncode == 0 and r.stdout.splitlines() == ["feature,n", "a,3"], r.stdout + r.stderr
    r = cli("reprice", "--config", str(prices), "--data", str(a.data_dir), cwd=tmp_path, port=b.port)
    assert r.returncode == 0 and "repriced 3 calls, 3 changed" in r.stdout, r.stdout + r.stderr
    r = cli("export", "--parquet", str(tmp_path / "pq"), "--data", str(a.data_dir), cwd=tmp_path, port=b.port)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ds.dataset(tmp_path / "pq", format="parquet", partitioning="hive").to_table().num_rows == 3
    r = cli("backup", str(tmp_path / "bk"), "--data", str(a.data_dir), cwd=tmp_path, port=b.port)
    assert r.returncode == 0 and "backup of" in r.stdout, r.stdout + r.stderr
    assert totals(b) == before_b  # B's costs did not move: only A's were repriced
    # A missing store is not created by a reprice aimed at it.
    empty = tmp_path / "nothing-here"
    r = cli("reprice", "--data", str(empty), cwd=tmp_path, port=b.port)
    assert r.returncode == 1 and str(empty) in one_line(r.stdout + r.stderr) and not empty.exists()


class _DyingCollector(BaseHTTPRequestHandler):
    """Serves the right store id, then drops the connection on any job: a collector killed mid-way."""

    store_id = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path in ("/api/v1/store", "/healthz"):
            body = ('{"store_id": "%s"}' % self.store_id).encode() if self.path != "/healthz" else b"ok"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._die()

    def do_POST(self) -> None:  # noqa: N802
        self._die()

    def _die(self) -> None:
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def dying_collector(collector_factory) -> Iterator[tuple[RunningCollector, str]]:
    store = collector_factory()
    store.stop()
    handler = type("Handler", (_DyingCollector,), {"store_id": read_store_id(store.data_dir)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield store, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("command", [["reprice"], ["sql", "SELECT 1"], ["export", "--parquet", "PQ"], ["backup", "BK"]])
def test_a_collector_dying_mid_command_is_one_line(dying_collector, command: list[str], tmp_path: Path) -> None:
    store, url = dying_collector
    args = [str(tmp_path / "out") if a in ("PQ", "BK") else a for a in command]
    r = cli(*args, "--data", str(store.data_dir), "--api", url, cwd=tmp_path, port=free_port())
    assert r.returncode == 1, r.stdout + r.stderr
    line = one_line(r.stdout + r.stderr)
    assert "stopped answering" in line and "httpx" not in line


def test_reprice_interrupted_while_the_collector_works_is_one_line(collector_factory, tmp_path: Path) -> None:
    store = collector_factory()
    store.stop()
    reached = threading.Event()

    class Hanging(_DyingCollector):
        def do_POST(self) -> None:  # noqa: N802 - the reprice never answers
            reached.set()
            time.sleep(30)

    Hanging.store_id = read_store_id(store.data_dir) or ""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "reprice", "--data", str(store.data_dir), "--api", f"http://127.0.0.1:{server.server_address[1]}"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**base, "COLUMNS": "80"},
    )
    try:
        assert reached.wait(60), "reprice never reached the collector"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130
        assert "interrupted" in one_line(output)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.shutdown()
        server.server_close()
