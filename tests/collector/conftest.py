"""In-process collector for the collector's own fast tests (the subprocess fixture is slower)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from claudescope.fakeapi.server import ServerThread
from claudescope.collector.app import Collector, build_app
from claudescope.collector.service import build_collector
from claudescope.config import Config, Limits


class InProcess:
    """A collector app served by uvicorn in a thread, with its store and pipeline exposed."""

    def __init__(self, collector: Collector, server: ServerThread) -> None:
        self.c = collector
        self.server = server
        self.url = server.base_url
        self.token = collector.config.token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def query(self, sql: str) -> list[dict[str, Any]]:
        r = httpx.post(self.url + "/api/v1/query", json={"sql": sql}, headers=self.headers(), timeout=30)
        assert r.status_code == 200, r.text
        body = r.json()
        return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]

    def count(self) -> int:
        return int(self.query("SELECT count(*) AS n FROM calls")[0]["n"])


def start_inprocess(data_dir: Path, **config: Any) -> tuple[InProcess, Any]:
    limits = config.pop("limits", Limits())
    # In-process decoding unless a test asks for worker processes (they cost a spawn each).
    config.setdefault("ingest_workers", 0)
    cfg = replace(Config(data_dir=data_dir, port=0, grpc_port=0, limits=limits), **config)
    collector = build_collector(cfg)
    collector.writer.start()
    server = ServerThread(build_app(collector)).start()

    def stop() -> None:
        server.stop()
        collector.ingest.close()
        collector.writer.stop()
        collector.store.close()

    return InProcess(collector, server), stop


@pytest.fixture
def inproc(tmp_path: Path) -> Iterator[InProcess]:
    running, stop = start_inprocess(tmp_path / "data")
    yield running
    stop()


@pytest.fixture
def inproc_factory(tmp_path: Path) -> Iterator[Any]:
    stops = []

    def make(**config: Any) -> InProcess:
        running, stop = start_inprocess(tmp_path / f"data{len(stops)}", **config)
        stops.append(stop)
        return running

    yield make
    for stop in stops:
        stop()
