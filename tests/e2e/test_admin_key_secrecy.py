"""Issue 17 acceptance: "the admin key appears in no log, table, error or API answer".

One distinctive admin key goes through everything that handles it, the way a user runs it:
a collector reconciling daily and polling spend limits against the bundled fake Admin API,
``claudescope reconcile`` when the fake accepts the key, when it refuses it (401) and when the
API is unreachable, the help texts, and a config file that names the key. Then every output is
searched for the key and for its first 20 characters: each process's stdout and stderr, the
collector's log, every row of every table of the store (and the store's raw files), the query
API's answers on the reconciliation tables, ``/api/v1/store``, the fake's ledger, and
``repr`` of the loaded configuration.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from claudescope.collector.store import Store
from claudescope.config import load_config
from claudescope.fakeapi.app import create_fake_api
from claudescope.fakeapi.server import ServerThread, free_port
from tests.fixtures_collector import call_span
from tests.fixtures_alerts import wait_for

WAIT_S = 30.0  # the collector's background threads get this long to act

KEY = "sk-ant-admin01-SECRET-" + uuid.uuid4().hex + "-" + uuid.uuid4().hex[:8]
PARTS = (KEY, KEY[:20])
RECONCILE_TABLES = ("reconcile_runs", "reconciliation", "reconciliation_latest", "spend_limits")


def _assert_secret_free(what: str, text: str | bytes) -> None:
    body = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for part in PARTS:
        assert part not in body, f"the admin key ({part[:12]}...) leaked into {what}"



def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}
    env.update(extra)
    return env


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "claudescope", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def fakes() -> Iterator[tuple[str, str]]:
    """(accepting, refusing): fake APIs whose Admin API accepts KEY, and one that answers it 401."""
    accepting = ServerThread(create_fake_api(latency_scale=0.0, admin_keys=[KEY]), log_level="error").start()
    refusing = ServerThread(create_fake_api(latency_scale=0.0, admin_keys=["sk-ant-admin01-other"]), log_level="error").start()
    try:
        client = anthropic.Anthropic(base_url=accepting.base_url, api_key="sk-ant-api03-app", max_retries=0)
        for _ in range(2):
            client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        client.close()
        httpx.post(accepting.base_url + "/v1/fake/billing",
                   json={"spend_limits": ["organization:monthly:500", "wrkspc_01A:daily:20"]}).raise_for_status()
        yield accepting.base_url, refusing.base_url
    finally:
        accepting.stop()
        refusing.stop()


def test_the_admin_key_appears_in_no_log_table_error_or_api_answer(collector_factory: Any, fakes: tuple[str, str], tmp_path: Path) -> None:
    accepting, refusing = fakes
    data = tmp_path / "data"
    running = collector_factory(
        "[reconcile]\ndaily = true\nlookback_days = 2\nspend_limits_every_s = 10\n",
        env={"ANTHROPIC_ADMIN_API_KEY": KEY, "CLAUDESCOPE_ADMIN_API_URL": accepting}, data_dir=data,
    )
    assert running.post_spans([call_span()]).status_code == 200
    wait_for(lambda: running.query("SELECT count(*) AS n FROM spend_limits")[0]["n"] == 2, timeout=WAIT_S, what="the spend limits read")
    wait_for(lambda: running.query("SELECT count(*) AS n FROM reconcile_runs WHERE trigger = 'daily'")[0]["n"] == 1, timeout=WAIT_S, what="the daily run")

    # `claudescope reconcile`: accepted, refused (401), unreachable; each hands its result to the collector
    outcomes = {}
    for name, url in (("accepted", accepting), ("refused", refusing), ("unreachable", f"http://127.0.0.1:{free_port()}")):
        result = _cli("reconcile", "--data", str(data), "--api", running.url, cwd=tmp_path,
                      env=_env(ANTHROPIC_ADMIN_API_KEY=KEY, CLAUDESCOPE_ADMIN_API_URL=url))
        outcomes[name] = result
        _assert_secret_free(f"`claudescope reconcile` ({name}) stdout", result.stdout)
        _assert_secret_free(f"`claudescope reconcile` ({name}) stderr", result.stderr)
    assert outcomes["accepted"].returncode == 0, outcomes["accepted"].stderr
    assert outcomes["refused"].returncode == 1 and "401" in outcomes["refused"].stderr
    assert outcomes["unreachable"].returncode == 1 and "cannot connect" in outcomes["unreachable"].stderr
    runs = running.query("SELECT trigger, error FROM reconcile_runs ORDER BY run_at")
    assert [r["trigger"] for r in runs] == ["daily", "command", "command", "command"]
    assert [r["error"] is None for r in runs] == [True, True, False, False]

    # every answer of the collector's API on the new tables, and its identity / health / metrics
    for table in RECONCILE_TABLES:
        answer = httpx.post(running.url + "/api/v1/query", json={"sql": f"SELECT * FROM {table}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        _assert_secret_free(f"/api/v1/query on {table}", answer.text)
    for path in ("/api/v1/store", "/api/v1/admin/tables", "/healthz", "/metrics"):
        _assert_secret_free(path, httpx.get(running.url + path, timeout=30).text)
    _assert_secret_free("the fake's ledger", httpx.get(accepting + "/v1/fake/ledger", timeout=30).text)
    _assert_secret_free("the fake's billing state", httpx.get(accepting + "/v1/fake/billing", timeout=30).text)

    assert running.stop() == 0
    _assert_secret_free("the collector's log", running.log())

    # every row of every table, and the store's files byte for byte
    store = Store.open(data / "claudescope.duckdb", read_only=True)
    try:
        names = store.table_names()
        assert set(RECONCILE_TABLES) - {"reconciliation_latest"} <= set(names)
        for name, table in store.snapshot(names).items():
            _assert_secret_free(f"table {name}", repr(table.to_pylist()))
    finally:
        store.close()
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        _assert_secret_free(f"file {path.name}", path.read_bytes())


def test_help_config_errors_and_the_config_repr_never_show_the_key(tmp_path: Path) -> None:
    env = _env(ANTHROPIC_ADMIN_API_KEY=KEY)
    for args in (("--help",), ("reconcile", "--help"), ("collector", "--help")):
        result = _cli(*args, cwd=tmp_path, env=env)
        assert result.returncode == 0
        _assert_secret_free(f"claudescope {' '.join(args)}", result.stdout + result.stderr)

    # a key written into a file is refused, naming the variable to use, without echoing it
    config_file = tmp_path / "claudescope.toml"
    config_file.write_text(f'[reconcile]\nadmin_key = "{KEY}"\n')
    for command in (("collector", "--port", str(free_port()), "--grpc-port", "0"), ("reconcile",)):
        result = _cli(*command, "--config", str(config_file), "--data", str(tmp_path / "data"), cwd=tmp_path, env=_env())
        assert result.returncode == 2, result.stdout + result.stderr
        assert "ANTHROPIC_ADMIN_API_KEY" in result.stderr and "admin_key" in result.stderr
        assert "Traceback" not in result.stderr
        _assert_secret_free(f"`claudescope {command[0]}` config error", result.stdout + result.stderr)
    # pasted without quotes it is not TOML at all: the syntax error must not quote the line either
    config_file.write_text(f"[reconcile]\nadmin_key = {KEY}\n")
    result = _cli("reconcile", "--config", str(config_file), "--data", str(tmp_path / "data"), cwd=tmp_path, env=_env())
    assert result.returncode == 2 and "not valid TOML" in result.stderr, result.stderr
    _assert_secret_free("a TOML syntax error", result.stdout + result.stderr)

    (tmp_path / "empty.toml").write_text("")
    config = load_config(tmp_path / "empty.toml", env={"ANTHROPIC_ADMIN_API_KEY": KEY})
    assert config.reconcile.admin_key is not None and config.reconcile.admin_key.reveal() == KEY
    for shown in (repr(config), str(config), repr(config.reconcile), str(config.reconcile.admin_key), f"{config.reconcile.admin_key!r}"):
        _assert_secret_free("the configuration's repr", shown)
