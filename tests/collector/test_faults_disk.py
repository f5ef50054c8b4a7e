"""A disk that fills up: the collector says so honestly and recovers by itself once space is back.

Runs a real collector on a small tmpfs (needs root to mount it; skipped otherwise).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fixtures_collector import RunningCollector, call_span, start_collector

_BLOB = 30_000  # bytes of incompressible attribute per span: the WAL grows fast


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 100 MiB tmpfs (unmounted at teardown)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = tmp_path / "fs"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=100m", "tmpfs", str(mount)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _batch(n: int) -> list[dict[str, Any]]:
    return [call_span(attributes={"blob": os.urandom(_BLOB // 2).hex()}) for _ in range(n)]


def _fill(filler: Path, leave: int) -> None:
    """Grow ``filler`` until at most ``leave`` bytes are free on its file system."""
    with open(filler, "ab") as f:
        try:
            while (free := shutil.disk_usage(filler.parent).free) > leave:
                f.write(b"\0" * min(1 << 20, free - leave))
                f.flush()
        except OSError:
            pass  # the disk is full: that is the point


class _Sender:
    """Posts batches like an exporter: a batch that is not acknowledged is kept for a resend."""

    def __init__(self, running: RunningCollector) -> None:
        self.running = running
        self.acked: set[str] = set()
        self.unacked: list[list[dict[str, Any]]] = []

    def send(self, batch: list[dict[str, Any]]) -> httpx.Response:
        r = self.running.post_spans(batch)
        if r.status_code == 200:
            self.acked.update(s["span_id"] for s in batch)
        else:
            self.unacked.append(batch)
        return r

    def resend_all(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.unacked:
            batch = self.unacked.pop(0)
            if self.send(batch).status_code != 200:
                assert time.monotonic() < deadline, "the collector never took the resent spans"
                time.sleep(0.5)


def _wait_health(running: RunningCollector, status: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := httpx.get(running.url + "/healthz", timeout=5).status_code) != status:
        assert time.monotonic() < deadline, f"/healthz stayed {got}, wanted {status}:\n{running.log()[-3000:]}"
        time.sleep(0.2)


def _assert_everything_stored(running: RunningCollector, sender: _Sender) -> None:
    rows = running.query("SELECT span_id FROM calls")
    stored = [r["span_id"] for r in rows]
    assert len(stored) == len(set(stored)), "a span was stored twice"
    assert sender.acked <= set(stored), f"{len(sender.acked - set(stored))} acknowledged spans lost"
    n_hour = running.query("SELECT sum(calls) AS n FROM calls_hour_live")[0]["n"]
    assert int(n_hour) == len(stored)


def test_full_disk_is_reported_and_recovered_from(small_fs: Path) -> None:
    data = small_fs / "data"
    running = start_collector(data)
    sender = _Sender(running)
    filler = small_fs / "filler"
    try:
        assert sender.send(_batch(20)).status_code == 200
        # Another program fills the disk: ingest fails, and /healthz must say so too.
        _fill(filler, 0)
        answers = [sender.send(_batch(20)) for _ in range(3)]
        assert {r.status_code for r in answers} == {503}, [r.status_code for r in answers]
        assert all(r.headers.get("Retry-After") for r in answers)
        assert httpx.get(running.url + "/healthz").status_code == 503
        filler.unlink()
        _wait_health(running, 200)
        sender.resend_all()
        _assert_everything_stored(running, sender)

        # Now the WAL nears its checkpoint size with too little room for the checkpoint: it fails,
        # DuckDB invalidates the database, and the collector must reopen it once space is back.
        wal = data / "claudescope.duckdb.wal"
        while not wal.exists() or wal.stat().st_size < 44 << 20:
            assert sender.send(_batch(60)).status_code == 200
        _fill(filler, 24 << 20)
        for _ in range(40):
            if sender.send(_batch(60)).status_code != 200:
                break
        else:
            pytest.fail("ingest never failed on the full disk")
        assert httpx.get(running.url + "/healthz").status_code == 503
        filler.unlink()
        _wait_health(running, 200)
        sender.resend_all()
        assert sender.send(_batch(5)).status_code == 200
        _assert_everything_stored(running, sender)
        log = running.log()
        assert "reopened after a fatal error" in log, log[-3000:]
    finally:
        running.stop()
    # A restart finds every acknowledged span too.
    running = start_collector(data)
    try:
        _assert_everything_stored(running, sender)
    finally:
        running.stop()
