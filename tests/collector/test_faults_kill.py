"""kill -9 during reprice, backup and restore: each did all its work or none, rollups agree.

The store is built fast through the store API (SQL bulk insert, then a rollup rebuild), then
the commands run as a user runs them, in subprocesses that get SIGKILL part-way.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from claudescope.fakeapi.server import free_port
from claudescope.collector.store import Store
from tests.fixtures_collector import start_collector

CLI = [sys.executable, "-m", "claudescope"]
DB = "claudescope.duckdb"
_CALLS = 40_000
_DAYS = 60
# A price table unlike the one the seed costs came from: a reprice changes every call.
PRICES = '[prices]\n"claude-sonnet-4-5" = { input = 7.0, output = 21.0 }\n'
_AGREE = """
SELECT (SELECT count(*) FROM calls) AS calls, (SELECT coalesce(sum(cost_usd), 0) FROM calls) AS cost,
       (SELECT sum(calls) FROM calls_hour_live) AS hour_calls, (SELECT sum(cost_usd) FROM calls_hour_live) AS hour_cost,
       (SELECT sum(calls) FROM calls_minute_live) AS minute_calls, (SELECT sum(cost_usd) FROM calls_minute_live) AS minute_cost,
       (SELECT list(DISTINCT price_version) FROM calls) AS versions
"""


def _seed(data: Path) -> None:
    """_CALLS calls over _DAYS days, priced at an 'old' $0.001 each, rollups built."""
    store = Store.open(data / DB)
    try:
        store.execute(f"""
            INSERT INTO call_spans (trace_id, span_id, start_time, end_time, duration_ms, service_name, operation,
                request_model, response_model, stream, status, http_status, retries, stop_reason, max_tokens,
                input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens, output_tokens,
                user_id, feature, cost_usd, cost_input_usd, cost_output_usd, cost_cache_read_usd, cost_cache_write_usd,
                cost_other_usd, price_version, response_id, source, attributes, source_rank, superseded, ingested_at)
            SELECT printf('%032x', i + 1), printf('%016x', i + 1),
                TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_microseconds(i * ({_DAYS} * 86400000000 // {_CALLS})),
                TIMESTAMPTZ '2026-01-01 00:00:01+00' + to_microseconds(i * ({_DAYS} * 86400000000 // {_CALLS})),
                1000.0, 'svc', 'chat', 'claude-sonnet-4-5', 'claude-sonnet-4-5', false, 'ok', 200, 0,
                CASE WHEN i % 7 = 0 THEN 'max_tokens' ELSE 'end_turn' END, 1024,
                1000 + i % 500, 0, 0, 0, 200 + i % 300, 'u' || (i % 50), 'f' || (i % 9),
                0.001, 0.0006, 0.0004, 0, 0, 0, 'old', 'msg_' || i, 'claudescope', '{{}}', 0, false,
                TIMESTAMPTZ '2026-03-02 00:00:00+00'
            FROM range({_CALLS}) AS r(i)
        """)
        store.rebuild_rollups()
    finally:
        store.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("seed") / "data"
    _seed(data)
    return data


def _copy_store(seeded: Path, data: Path) -> Path:
    data.mkdir(parents=True)
    shutil.copy(seeded / DB, data / DB)
    return data


def _cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _timed(*args: str, cwd: Path) -> float:
    """Seconds a full run of the command takes (asserting it succeeds)."""
    started = time.monotonic()
    proc = _cli(*args, cwd=cwd)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    return time.monotonic() - started


def _kill_after(proc: subprocess.Popen[str], seconds: float) -> bool:
    """SIGKILL ``proc`` after ``seconds`` unless it finished; True when it was killed."""
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return True
    return False


def _assert_agree(row: dict[str, Any]) -> str:
    """calls and both rollups agree; every cost is old or every cost is new. Returns which."""
    counts = [row["calls"], row["hour_calls"], row["minute_calls"]]
    assert [int(n or 0) for n in counts] == [_CALLS] * 3, row
    costs = [Decimal(str(row[k] or 0)) for k in ("cost", "hour_cost", "minute_cost")]
    assert costs[0] == costs[1] == costs[2], row
    versions = row["versions"]
    assert len(versions) == 1, f"costs are part old, part new: {versions}"
    return "old" if versions == ["old"] else "new"


def _check_served(data: Path) -> str:
    """Restart a collector on ``data`` and check agreement through its query API."""
    running = start_collector(data)
    try:
        return _assert_agree(running.query(_AGREE)[0])
    finally:
        running.stop()


def test_kill_9_during_offline_reprice_leaves_all_old_or_all_new(seeded: Path, tmp_path: Path) -> None:
    config = tmp_path / "prices.toml"
    config.write_text(PRICES)
    full = _timed("reprice", "--data", str(_copy_store(seeded, tmp_path / "timing")), "--config", str(config), cwd=tmp_path)
    outcomes = []
    for n, fraction in enumerate((0.4, 0.7, 0.85, 0.95)):
        data = _copy_store(seeded, tmp_path / f"d{n}")
        proc = _cli("reprice", "--data", str(data), "--config", str(config), cwd=tmp_path)
        killed = _kill_after(proc, full * fraction)
        outcomes.append((fraction, killed, _check_served(data)))
    assert any(killed for _, killed, _ in outcomes), f"no run was killed before it finished: {outcomes}"


def test_kill_9_of_the_collector_during_its_reprice(seeded: Path, tmp_path: Path) -> None:
    """The same through a running collector's /api/v1/admin/reprice: the collector dies."""
    config = tmp_path / "prices.toml"
    config.write_text(PRICES)
    outcomes = []
    for n, delay in enumerate((0.5, 1.5, 3.0)):
        data = _copy_store(seeded, tmp_path / f"d{n}")
        running = start_collector(data)
        proc = _cli("reprice", "--api", running.url, "--config", str(config), cwd=tmp_path)
        time.sleep(delay)
        finished = proc.poll() is not None
        running.kill()
        proc.communicate(timeout=60)
        outcomes.append((delay, finished, _check_served(data)))
    assert not all(finished for _, finished, _ in outcomes), f"every reprice finished before the kill: {outcomes}"


def test_start_up_repairs_rollups_that_disagree_with_calls(seeded: Path, tmp_path: Path) -> None:
    """What a reprice killed between its UPDATE and its rollup rebuild left (older releases)."""
    data = _copy_store(seeded, tmp_path / "d")
    store = Store.open(data / DB)
    store.execute("UPDATE call_spans SET cost_usd = 0.5, price_version = 'new'")
    store.close()
    assert _check_served(data) == "new"


def _restore(backup: Path, data: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "restore", str(backup), "--data", str(data)], cwd=str(cwd), capture_output=True, text=True, timeout=600)


def test_kill_9_during_backup_keeps_the_previous_backup(seeded: Path, tmp_path: Path) -> None:
    data = _copy_store(seeded, tmp_path / "d")
    backup = tmp_path / "bk"
    full = _timed("backup", str(backup), "--data", str(data), cwd=tmp_path)
    killed = []
    for n, fraction in enumerate((0.5, 0.75, 0.9, 0.97)):
        killed.append(_kill_after(_cli("backup", str(backup), "--data", str(data), cwd=tmp_path), full * fraction))
        r = _restore(backup, tmp_path / f"r{n}", tmp_path)
        assert r.returncode == 0, f"after a backup killed at {fraction:.0%} of its run: {r.stdout}{r.stderr}"
    assert any(killed), "no backup was killed before it finished"
    assert _check_served(tmp_path / "r3") == "old"
    assert _timed("backup", str(backup), "--data", str(data), cwd=tmp_path) > 0
    assert not list(tmp_path.glob(".bk.*")), "a finished backup leaves nothing beside it"


def test_kill_9_during_restore_is_all_or_nothing(seeded: Path, tmp_path: Path) -> None:
    backup = tmp_path / "bk"
    assert _timed("backup", str(backup), "--data", str(_copy_store(seeded, tmp_path / "d")), cwd=tmp_path) > 0
    started = time.monotonic()
    assert _restore(backup, tmp_path / "timing", tmp_path).returncode == 0
    full = time.monotonic() - started
    killed = []
    for n, fraction in enumerate((0.5, 0.75, 0.9)):
        data = tmp_path / f"r{n}"
        proc = _cli("restore", str(backup), "--data", str(data), cwd=tmp_path)
        killed.append(_kill_after(proc, full * fraction))
        if (data / DB).exists():  # the restore got to its end: the store is whole
            assert _check_served(data) == "old"
            continue
        if list(data.glob("*.restoring")):
            # A collector refuses the directory with one line instead of serving part of it.
            r = subprocess.run(
                [*CLI, "collector", "--data", str(data), "--port", str(free_port()), "--grpc-port", "0", "--no-alerts"],
                cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
            )
            out = r.stdout + r.stderr
            assert r.returncode != 0 and "interrupted restore" in out and "Traceback" not in out, out
        r = _restore(backup, data, tmp_path)  # running it again finishes the job
        assert r.returncode == 0, r.stdout + r.stderr
        assert _check_served(data) == "old"
    assert any(killed), "no restore was killed before it finished"
