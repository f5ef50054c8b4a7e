"""``claudescope reconcile`` as a user runs it: exit codes, one-line errors, the key kept to itself,
the store file used when no collector runs, the collector used (behind its token) when one does.

The Admin API is the bundled fake (``claudescope.fakeapi``), its billing told what to bill.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from claudescope.collector.store import Store
from claudescope.fakeapi.billing import BillingConfig
from claudescope.fakeapi.server import free_port
from tests.fixtures_collector import RunningCollector, call_span

KEY = "sk-ant-admin01-reconcile-cli-test-0123456789abcdef"
YESTERDAY = (datetime.now(UTC) - timedelta(days=1)).date()


def reconcile(tmp_path: Path, *args: str, key: str | None = KEY, api_url: str | None = None,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "ANTHROPIC_", "OTEL_"))}
    child |= {"COLUMNS": "200", **(env or {})}
    if key is not None:
        child["ANTHROPIC_ADMIN_API_KEY"] = key
    if api_url is not None:
        child["CLAUDESCOPE_ADMIN_API_URL"] = api_url
    child.setdefault("CLAUDESCOPE_PORT", str(free_port()))  # no collector there: a user's 4318 never answers
    return subprocess.run([sys.executable, "-m", "claudescope", "reconcile", *args], cwd=tmp_path, env=child,
                          capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stdout + result.stderr).strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    return text


def empty_store(data: Path) -> Path:
    Store.open(data / "claudescope.duckdb").close()
    return data


def stored(data: Path, sql: str) -> list[tuple[Any, ...]]:
    store = Store.open(data / "claudescope.duckdb", read_only=True)
    try:
        return [tuple(r.values()) for r in store.read_arrow(sql).to_pylist()]
    finally:
        store.close()


def test_without_the_key_it_names_the_variable_and_exits_2(tmp_path: Path) -> None:
    result = reconcile(tmp_path, "--data", str(empty_store(tmp_path / "d")), key=None)
    assert result.returncode == 2
    assert "ANTHROPIC_ADMIN_API_KEY" in one_line(result)


def test_bad_dates_exit_2_with_one_line(tmp_path: Path) -> None:
    data = str(empty_store(tmp_path / "d"))
    for args, words in ((["--since", "last week"], "--since 'last week' is not a date"),
                        (["--since", "2026-12-02", "--until", "2026-11-30"], "is after --until"),
                        (["--until", "2999-01-01"], "in the future")):
        result = reconcile(tmp_path, "--data", data, *args)
        assert result.returncode == 2, result
        assert words in one_line(result)


def test_an_unreachable_admin_api_is_one_line_exit_1_and_a_failed_run(tmp_path: Path) -> None:
    data = empty_store(tmp_path / "d")
    result = reconcile(tmp_path, "--data", str(data), api_url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    line = one_line(result)
    assert "cannot connect" in line and KEY not in line
    runs = stored(data, "SELECT trigger, error, rows_compared FROM reconcile_runs")
    assert len(runs) == 1 and runs[0][0] == "command" and "cannot connect" in runs[0][1] and runs[0][2] == 0
    assert stored(data, "SELECT count(*) FROM reconciliation") == [(0,)]
    # With no store to record it in, the Admin API's error is still the one line shown.
    result = reconcile(tmp_path, "--data", str(tmp_path / "nothing-here"), api_url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    line = one_line(result)
    assert "cannot connect" in line and "not recorded: no claudescope store in" in line


def test_a_refused_key_is_one_line_without_the_key(tmp_path: Path, fake_api_server: Callable[..., str]) -> None:
    url = fake_api_server(admin_keys=["sk-ant-admin01-the-only-good-key"])
    data = empty_store(tmp_path / "d")
    result = reconcile(tmp_path, "--data", str(data), api_url=url)
    assert result.returncode == 1
    line = one_line(result)
    assert "401" in line and "authentication_error" in line and KEY not in line
    (error,) = stored(data, "SELECT error FROM reconcile_runs")[0]
    assert "401" in error and KEY not in error


def test_on_the_store_file_an_untraced_bill_is_found(tmp_path: Path, fake_api_server: Callable[..., str]) -> None:
    billing = BillingConfig.parse([f"{YESTERDAY}:claude-sonnet-4-6:input=50000,output=8000"], [], [])
    url = fake_api_server(billing=billing)
    data = empty_store(tmp_path / "d")
    result = reconcile(tmp_path, "--data", str(data), "--since", str(YESTERDAY), "--until", str(YESTERDAY), api_url=url)
    assert result.returncode == 0, result.stderr
    assert "0 of 1 day x model rows match the bill within 0.1 %" in result.stdout
    assert KEY not in result.stdout + result.stderr
    (row,) = stored(data, "SELECT day, model, workspace_id, cause, bill_input_tokens, explanation FROM reconciliation")
    assert row[:5] == (YESTERDAY, "claude-sonnet-4-6", "*", "untraced", 50_000)
    assert "no traced calls at all" in row[5]
    assert all(KEY not in str(v) for r in stored(data, "SELECT * FROM reconcile_runs") for v in r)


def test_a_running_collector_compares_behind_its_token(
    tmp_path: Path, fake_api_server: Callable[..., str], collector_factory: Callable[..., RunningCollector],
) -> None:
    collector = collector_factory(token="collector-token-1")
    at = datetime.combine(YESTERDAY, datetime.min.time(), UTC) + timedelta(hours=9)
    spans = [call_span(model="claude-sonnet-4-6", input_tokens=50_000, output_tokens=8000, start=at)]
    assert collector.post_spans(spans).status_code == 200
    billing = BillingConfig.parse([f"{YESTERDAY}:claude-sonnet-4-6:input=50000,output=8000"], [], [])
    url = fake_api_server(billing=billing)
    env = {"CLAUDESCOPE_TOKEN": "collector-token-1", "CLAUDESCOPE_PORT": str(collector.port)}
    result = reconcile(tmp_path, "--data", str(collector.data_dir), "--since", str(YESTERDAY), "--until", str(YESTERDAY),
                       api_url=url, env=env)
    assert result.returncode == 0, result.stderr
    assert "1 of 1 day x model rows match the bill within 0.1 %" in result.stdout
    rows = collector.query("SELECT model, cause, diff_usd FROM reconciliation_latest")
    assert [(r["model"], r["cause"]) for r in rows] == [("claude-sonnet-4-6", "match")]
    # Without the token the collector refuses the reconcile endpoint like every other.
    r = httpx.post(collector.url + "/api/v1/admin/reconcile", json={"since": str(YESTERDAY), "until": str(YESTERDAY),
                                                                   "error": "x"}, timeout=30)
    assert r.status_code == 401


def test_a_missing_server_dependency_is_one_line_and_exit_3(tmp_path: Path) -> None:
    # The bare install lacks the server extra: simulate a missing duckdb in the child only.
    code = ("import sys; sys.modules['duckdb'] = None; sys.argv = ['claudescope', *sys.argv[1:]]; "
            "from claudescope.cli.commands import main; main()")
    for args in (["reconcile"], ["sql", "SELECT 1"], ["reprice"]):
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                                env={**os.environ, "COLUMNS": "200"})
        assert result.returncode == 3, (args, result.stderr)
        assert "duckdb is not installed: this command needs the server extra (pip install 'claudescope[server]')" in one_line(result)


def test_the_collector_compares_with_the_commands_own_prices_and_tolerance(
    tmp_path: Path, fake_api_server: Callable[..., str], collector_factory: Callable[..., RunningCollector],
) -> None:
    # The collector runs with the built-in table ($15/MTok output for sonnet 4.6) and 0.1 %; the
    # fake bills output at $16. The command's --config says $16 and, in a second run, 50 %.
    collector = collector_factory()
    at = datetime.combine(YESTERDAY, datetime.min.time(), UTC) + timedelta(hours=9)
    assert collector.post_spans([call_span(model="claude-sonnet-4-6", input_tokens=50_000, output_tokens=8000, start=at)]).status_code == 200
    billing = BillingConfig.parse([f"{YESTERDAY}:claude-sonnet-4-6:input=50000,output=8000"], ["claude-sonnet-4-6:output=16"], [])
    url = fake_api_server(billing=billing)
    prices = '[prices]\n"claude-sonnet-4-6" = { input = 3.0, output = 16.0, cache_write_5m = 3.75, cache_write_1h = 6.0, cache_read = 0.3 }\n'
    env = {"CLAUDESCOPE_PORT": str(collector.port)}
    days = ("--since", str(YESTERDAY), "--until", str(YESTERDAY))
    rows = []
    for name, toml in (("prices.toml", prices), ("loose.toml", "[reconcile]\ntolerance = 0.5\n")):
        (tmp_path / name).write_text(toml)
        result = reconcile(tmp_path, "--data", str(collector.data_dir), "--config", str(tmp_path / name), *days, api_url=url, env=env)
        assert result.returncode == 0, result.stderr
        rows += collector.query("SELECT r.cause, r.explanation, u.tolerance FROM reconciliation r JOIN reconcile_runs u USING (run_id) "
                                "ORDER BY u.run_at DESC LIMIT 1")
    strict, loose = rows
    # The command's table agrees with the bill: the stored costs (the collector's table) are stale.
    assert (strict["cause"], strict["tolerance"]) == ("price_table", "0.001000000")
    assert "current price table agrees with the bill" in strict["explanation"]
    assert (loose["cause"], loose["tolerance"]) == ("match", "0.500000000")
