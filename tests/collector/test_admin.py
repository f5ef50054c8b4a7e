"""reprice / export / backup / restore, against a running collector and against the file."""

from __future__ import annotations

import json
import os
from decimal import Decimal

import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds

from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import call_span
from datetime import UTC, datetime, timedelta

CLI = [sys.executable, "-m", "claudescope"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # Never the default collector URL (127.0.0.1:4318): a user's collector there is not ours.
    env = {**os.environ, "CLAUDESCOPE_PORT": str(free_port())}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_reprice_reports_difference_live_and_offline(collector_factory, tmp_path: Path) -> None:
    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    running.post_spans([call_span(model="claude-custom-x", input_tokens=1_000_000, output_tokens=0), call_span(input_tokens=1000, output_tokens=0)])
    assert running.query("SELECT count(*) AS n FROM calls WHERE cost_usd IS NULL")[0]["n"] == 1
    toml = tmp_path / "prices.toml"
    toml.write_text('[prices]\n"claude-custom-x" = { input = 2.0, output = 10.0 }\n')
    r = _run("reprice", "--api", running.url, "--config", str(toml), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 calls" in r.stdout and "newly priced 1" in r.stdout and "delta $+2.000000000" in r.stdout
    assert running.query("SELECT cost_usd FROM calls WHERE request_model = 'claude-custom-x'")[0]["cost_usd"] == "2.000000000"
    # The running collector prices new spans with the table the reprice used, too.
    running.post_spans([call_span(model="claude-custom-x", input_tokens=0, output_tokens=1_000_000)])
    assert running.query("SELECT count(*) AS n FROM calls WHERE cost_usd = 10")[0]["n"] == 1
    running.stop()
    r = _run("reprice", "--data", str(data), "--since", "2000-01-01", cwd=tmp_path)  # built-in table again
    assert r.returncode == 0, r.stderr
    assert "now unpriced 2" in r.stdout


def test_reprice_recomputes_the_bounds_of_an_estimated_cost(collector_factory, tmp_path: Path) -> None:
    from tests.collector.test_producer_model import MODEL, openllmetry_js

    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    running.post_spans([openllmetry_js(33)])  # cache writes without their 5m/1h split: estimated
    before = json.loads(running.query("SELECT attributes FROM calls")[0]["attributes"])
    running.stop()
    toml = tmp_path / "prices.toml"
    # 1h writes cost more now; 5m writes (how the row is priced, the low bound) do not.
    toml.write_text(f'[prices]\n"{MODEL}" = {{ input = 3.0, output = 15.0, cache_write_5m = 3.75, cache_write_1h = 9.0, cache_read = 0.3 }}\n')
    r = _run("reprice", "--data", str(data), "--config", str(toml), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "0 changed" in r.stdout  # the cost itself did not move
    (row,) = collector_factory(data_dir=data).query("SELECT cost_usd, attributes FROM calls")
    attributes = json.loads(row["attributes"])
    uncached, writes, output = Decimal(120), Decimal(1200), Decimal(33)
    low = (uncached * Decimal("3.0") + writes * Decimal("3.75") + output * Decimal("15.0")) / 10**6
    high = (uncached * Decimal("3.0") + writes * Decimal("9.0") + output * Decimal("15.0")) / 10**6
    assert attributes["claudescope.cache_split_estimated"] is True
    assert (Decimal(row["cost_usd"]), Decimal(attributes["claudescope.cost_low_usd"])) == (low, low)
    assert Decimal(attributes["claudescope.cost_high_usd"]) == high != Decimal(before["claudescope.cost_high_usd"])
    # Only the high bound moved: every other attribute is as ingested.
    assert {k: v for k, v in attributes.items() if k != "claudescope.cost_high_usd"} == \
        {k: v for k, v in before.items() if k != "claudescope.cost_high_usd"}


def test_export_backup_restore(collector_factory, tmp_path: Path) -> None:
    data = tmp_path / "d"
    running = collector_factory(data_dir=data)
    yesterday = datetime.now(UTC) - timedelta(days=1)
    running.post_spans([call_span(start=yesterday), call_span(), call_span()])
    r = _run("export", "--parquet", str(tmp_path / "pq"), "--api", running.url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    parts = sorted(p.name for p in (tmp_path / "pq").iterdir())
    assert parts == [f"date={yesterday:%Y-%m-%d}", f"date={datetime.now(UTC):%Y-%m-%d}"]
    table = ds.dataset(tmp_path / "pq", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == 3 and str(table.schema.field("cost_usd").type) == "decimal128(18, 9)"
    r = _run("backup", str(tmp_path / "bk"), "--api", running.url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    running.stop()
    r = _run("restore", str(tmp_path / "bk"), "--data", str(data), cwd=tmp_path)
    assert r.returncode == 2 and "already exists" in r.stdout
    r = _run("restore", str(tmp_path / "bk"), "--data", str(tmp_path / "new"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    restored = collector_factory(data_dir=tmp_path / "new")
    assert restored.query("SELECT count(*) AS n FROM calls")[0]["n"] == 3
    _assert_rollups_count(restored, 3)
    restored.stop()
    # a backup made before rollups were folded behind ingest has no rollup_state
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    del manifest["tables"]["rollup_state"]
    (tmp_path / "bk" / "manifest.json").write_text(json.dumps(manifest))
    r = _run("restore", str(tmp_path / "bk"), "--data", str(tmp_path / "old"), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_rollups_count(collector_factory(data_dir=tmp_path / "old"), 3)
    restored = collector_factory(data_dir=tmp_path / "new")
    # offline export from the file when no collector runs
    restored.stop()
    r = _run("export", "--parquet", str(tmp_path / "pq2"), "--data", str(tmp_path / "new"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert ds.dataset(tmp_path / "pq2", format="parquet", partitioning="hive").to_table().num_rows == 3


def _assert_rollups_count(running, calls: int) -> None:
    """Both rollups, read as readers do (the live views), count exactly ``calls``."""
    for table in ("calls_minute_live", "calls_hour_live"):
        assert running.query(f"SELECT sum(calls)::BIGINT AS n FROM {table}")[0]["n"] == calls, table
