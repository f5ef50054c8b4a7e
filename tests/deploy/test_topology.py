"""The scale-out topology of compose/, without containers.

Apps (`claudescope run -- python app.py`, the stock OTLP/HTTP exporter with its retry) send to
one of several claudescope collector shards chosen by service name, as the OTel Collector's
`loadbalancing` exporter with `routing_key: service` does; one shard restarts while an app is
exporting and loses nothing; the dashboard reads all shards merged; every shard's Parquet
export reads back as one dataset.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from tests.fixtures_collector import RunningCollector, start_collector

TOKEN = "topology-token"
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
SERVICES = {"chat-svc": 7, "billing-svc": 5, "search-svc": 4}

APP_SCRIPT = """
import sys
import anthropic
import claudescope.instrument as cs

base_url, service, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=2)
for i in range(calls):
    with cs.attributes(feature=service + "-feature", user_id=f"u-{i % 3}"):
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=100,
            messages=[{"role": "user", "content": f"question {i}"}],
            extra_headers={"x-fake-usage": "input=1000,output=200"},
        )
"""
# claude-haiku-4-5: 1000 * $1 + 200 * $5 per million tokens.
COST_PER_CALL = Decimal("0.002")


def route(service: str, shards: list[RunningCollector]) -> RunningCollector:
    """Pick a shard by service name: a stable hash, as the loadbalancing exporter does."""
    return shards[zlib.crc32(service.encode()) % len(shards)]


def run_app(script: Path, shard_url: str, fake_api: str, service: str, calls: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer {TOKEN}",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "20",
    }
    argv = [sys.executable, "-m", "claudescope", "run", "--endpoint", shard_url, "--service-name", service,
            "--", sys.executable, str(script), fake_api, service, str(calls)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def shards(tmp_path: Path) -> Any:
    started = [start_collector(tmp_path / f"shard-{i}", token=TOKEN) for i in range(2)]
    yield started
    for shard in started:
        shard.stop()


def wait_count(shard: RunningCollector, expected: int, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        count = shard.query("SELECT count(*) AS n FROM calls")[0]["n"]
        if count >= expected:
            return int(count)
        time.sleep(0.2)
    return int(count)


def test_sharded_topology_end_to_end(tmp_path: Path, fake_api: str, shards: list[RunningCollector]) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP_SCRIPT, encoding="utf-8")
    expected = {id(s): 0 for s in shards}
    for service, calls in SERVICES.items():
        expected[id(route(service, shards))] += calls
    assert all(expected.values()), "the chosen services must spread over every shard"

    # The shard behind the last service restarts while that app is exporting.
    restarting_service = list(SERVICES)[-1]
    restarting = route(restarting_service, shards)
    apps = [run_app(script, route(s, shards).url, fake_api, s, n) for s, n in list(SERVICES.items())[:-1]]
    restarting.stop()
    apps.append(run_app(script, restarting.url, fake_api, restarting_service, SERVICES[restarting_service]))
    time.sleep(1.0)
    restarted = start_collector(restarting.data_dir, token=TOKEN, port=restarting.port)
    shards[shards.index(restarting)] = restarted
    expected[id(restarted)] = expected.pop(id(restarting))
    for app in apps:
        output = app.communicate(timeout=120)[0].decode()
        assert app.returncode == 0, output

    for shard in shards:
        assert wait_count(shard, expected[id(shard)]) == expected[id(shard)]
        services = {r["service_name"] for r in shard.query("SELECT DISTINCT service_name FROM calls")}
        assert services == {s for s in SERVICES if route(s, shards) is shard}

    total_calls = sum(SERVICES.values())
    _assert_dashboard_merges(shards, total_calls)
    _assert_exports_read_as_one_dataset(tmp_path, shards, total_calls)


def _assert_dashboard_merges(shards: list[RunningCollector], total_calls: int) -> None:
    os.environ["CLAUDESCOPE_API"] = ",".join(s.url for s in shards)
    os.environ["CLAUDESCOPE_TOKEN"] = TOKEN
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    calls_label = next(label for label in metrics if label.lower() == "calls")
    assert metrics[calls_label].replace(",", "") == str(total_calls)
    spend_label = next(label for label in metrics if label.lower().startswith(("spend", "total spend")))
    assert metrics[spend_label] == f"${COST_PER_CALL * total_calls:,.2f}"


def _assert_exports_read_as_one_dataset(tmp_path: Path, shards: list[RunningCollector], total_calls: int) -> None:
    export_root = tmp_path / "export"
    for index, shard in enumerate(shards):
        result = subprocess.run(
            [sys.executable, "-m", "claudescope", "export", "--parquet", str(export_root / f"shard-{index}"),
             "--api", shard.url],
            env={**os.environ, "CLAUDESCOPE_TOKEN": TOKEN}, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    con = duckdb.connect()
    count, cost = con.execute(
        "SELECT count(*), sum(cost_usd) FROM read_parquet(?, hive_partitioning = true)",
        [str(export_root / "*" / "date=*" / "*.parquet")],
    ).fetchone()
    assert count == total_calls
    assert Decimal(str(cost)) == COST_PER_CALL * total_calls
