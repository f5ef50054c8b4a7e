"""Every configuration value is range-checked at load (issues 12 and 16).

Each bad value below used to be accepted and start a broken service (a rule that never fires,
every query a 500, no time limit, every span of a model a 500) or end in a raw traceback
(``decimal.InvalidOperation``, ``OverflowError``). Now each is a ``ConfigError`` in one form:
``<file>: [section] key: problem`` or ``environment variable CLAUDESCOPE_X: problem``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from claudescope.fakeapi.server import free_port
from claudescope.config import ConfigError, load_config
from claudescope.pricing import PriceTable, Usage
from claudescope.pricing.limits import MAX_RATE


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claudescope.toml"
    path.write_text(text, encoding="utf-8")
    return path


BAD_VALUES = [
    # issue 16: ports
    ("[server]\nport = 4318.5\n", "port", "[server] port: must be an integer 1-65535, got 4318.5"),
    ("[server]\nport = 99999\n", "port", "[server] port: must be an integer 1-65535, got 99999"),
    ("[server]\nport = 0\n", "port", "[server] port: must be an integer 1-65535, got 0"),
    ("[server]\ngrpc_port = -1\n", "grpc_port", "[server] grpc_port: must be an integer 0-65535 (0 = off), got -1"),
    ("[server]\ndashboard_port = 70000\n", "dashboard_port", "[server] dashboard_port: must be an integer 1-65535, got 70000"),
    ("[server]\nretention_days = 0\n", "retention_days", "[server] retention_days: must be an integer 1-36500, got 0"),
    ("[server]\ningest_workers = -2\n", "ingest_workers", "[server] ingest_workers: must be an integer -1-4096"),
    ("[server]\nlog_format = 'xml'\n", "log_format", "[server] log_format: must be one of ['text', 'json'], got 'xml'"),
    # issue 12: accepted, then broken
    ("[query]\nmax_rows = -5\n", "query.max_rows", "[query] max_rows: must be an integer 1-1000000000, got -5"),
    ("[query]\ntimeout_s = -1\n", "query.timeout_s", "[query] timeout_s: must be a number 0.001-86400.0 seconds, got -1"),
    ("[query]\ntimeout_s = inf\n", "query.timeout_s", "[query] timeout_s: must be a finite number 0.001-86400.0 seconds, got inf"),
    ("[prices]\n'm' = { input = 1e30, output = 2 }\n", "prices.m.input",
     '[prices] "m".input: must be at most 1,000,000 USD per million tokens, got 1E+30'),
    ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nthreshold = nan\n", "alerts.rules[0].threshold",
     "[alerts.rules[0]] threshold: must be a finite number, got nan"),
    # issue 12: raw tracebacks
    ("[budget]\ndaily_usd = nan\n", "budget.daily_usd", "[budget] daily_usd: must be a finite number 0-999999999.999999999 USD, got nan"),
    ("[prices]\n'm' = { input = nan, output = 2 }\n", "prices.m.input", '[prices] "m".input: must be a finite number, got nan'),
    ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nwindow = '99999999999w'\n", "alerts.rules[0].window",
     "[alerts.rules[0]] window: duration must be at most 366d, got '99999999999w'"),
    ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nwhere = \"regexp_matches(feature, '[')\"\n", "alerts.rules[0].where",
     "[alerts.rules[0]] where: invalid regular expression '[': unterminated character set"),
    ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nwhere = \"regexp_matches(feature, '(?=x)')\"\n", "alerts.rules[0].where",
     "[alerts.rules[0]] where: regular expression '(?=x)': lookahead ((?=) is not supported"),
    ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\ncooldown = '0s'\n", "alerts.rules[0].cooldown",
     "[alerts.rules[0]] cooldown: duration must be positive, got '0s'"),
    # the rest of the numeric keys
    ("[prices]\n'm' = { input = 1, output = -2 }\n", "prices.m.output", '[prices] "m".output: must not be negative, got -2'),
    ("[budget]\nmonthly_usd = -1\n", "budget.monthly_usd", "[budget] monthly_usd: must be a number 0-999999999.999999999 USD, got -1"),
    ("[budget]\nmonthly_usd = 1e12\n", "budget.monthly_usd", "[budget] monthly_usd: must be a number 0-999999999.999999999 USD"),
    ("[alerts]\nevaluate_every_s = 0\n", "alerts.evaluate_every_s", "[alerts] evaluate_every_s: must be a number 0.1-86400.0 seconds, got 0"),
    ("[limits]\nmax_body_bytes = 0\n", "limits.max_body_bytes", "[limits] max_body_bytes: must be an integer 1024-4294967296, got 0"),
    ("[limits]\nmax_queue_spans = -1\n", "limits.max_queue_spans", "[limits] max_queue_spans: must be an integer 1-100000000, got -1"),
    ("[limits]\ncommit_interval_ms = 1.5\n", "limits.commit_interval_ms", "[limits] commit_interval_ms: must be an integer 1-60000, got 1.5"),
    ("[limits]\nmax_attributes_per_span = true\n", "limits.max_attributes_per_span", "[limits] max_attributes_per_span: must be an integer 1-100000, got True"),
    # the admin key would cross the network in clear text
    ("[reconcile]\nadmin_api_url = 'http://admin-proxy.internal:8080'\n", "reconcile.admin_api_url",
     "[reconcile] admin_api_url: must be https:// for 'admin-proxy.internal': over http:// the admin key would cross the network"),
]


@pytest.mark.parametrize(("text", "key", "message"), BAD_VALUES, ids=[case[1] + ":" + case[0].split("=")[-1].strip() for case in BAD_VALUES])
def test_a_bad_value_is_refused_at_load_naming_key_and_file(tmp_path: Path, text: str, key: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    assert (caught.value.key, caught.value.source) == (key, str(path))
    assert str(caught.value).startswith(f"{path}: {message}")


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        ("CLAUDESCOPE_PORT", "abc", "must be an integer 1-65535, got 'abc'"),
        ("CLAUDESCOPE_PORT", "4318.5", "must be an integer 1-65535, got '4318.5'"),
        ("CLAUDESCOPE_GRPC_PORT", "99999", "must be an integer 0-65535 (0 = off), got '99999'"),
        ("CLAUDESCOPE_INGEST_WORKERS", "-7", "must be an integer -1-4096"),
        ("CLAUDESCOPE_ADMIN_API_URL", "http://10.0.0.7", "must be https:// for '10.0.0.7': over http:// the admin key"),
    ],
)
def test_a_bad_environment_value_names_the_variable(var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={var: value})
    assert str(caught.value).startswith(f"environment variable {var}: {message}")


def test_http_admin_url_is_for_loopback_only() -> None:
    for url in ("http://127.0.0.1:8123", "http://localhost:9", "http://[::1]:80", "https://admin.example.com"):
        assert load_config(None, env={"CLAUDESCOPE_ADMIN_API_URL": url}).reconcile.admin_api_url == url


def test_a_bad_command_line_value_says_so() -> None:
    with pytest.raises(ConfigError, match=r"^command line: port: must be an integer 1-65535, got 0$"):
        load_config(None, env={}, overrides={"port": 0})


def test_the_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    text = (
        "[server]\nport = 65535\ngrpc_port = 0\ndashboard_port = 1\n"
        "[budget]\ndaily_usd = 0\nmonthly_usd = 999999999.5\n"
        "[query]\ntimeout_s = 0.5\nmax_rows = 1\n"
        "[prices]\n'm' = { input = 0, output = 1000000 }\n"
    )
    config = load_config(write(tmp_path, text), env={"CLAUDESCOPE_PORT": "8080"})
    assert (config.port, config.grpc_port, config.dashboard_port) == (8080, 0, 1)
    assert config.budget.monthly_usd == Decimal("999999999.5")
    assert config.pricing.overrides["m"]["output"] == MAX_RATE
    # At the largest price the loader accepts, a million-token call in every category still
    # fits the store: the bound is what keeps a large call's cost storable.
    table = PriceTable.load(config.pricing)
    big = Usage(input_tokens=10**6, output_tokens=10**6, cache_read_tokens=10**6, cache_write_5m_tokens=10**6,
                cache_write_1h_tokens=10**6, web_search_requests=10**6)
    cost, *_, version = table.cost_columns("m", big)
    assert cost is not None and version == table.version


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 4318.5\n", "[server] port"),
        ("[prices]\n'claude-x' = { input = 1e30, output = 2 }\n", '[prices] "claude-x".input'),
        ("[budget]\ndaily_usd = nan\n", "[budget] daily_usd"),
        ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nwindow = '99999999999w'\n", "[alerts.rules[0]] window"),
        ("[[alerts.rules]]\nname = 'a'\nkind = 'error_rate'\nwhere = \"regexp_matches(feature, '(')\"\n", "[alerts.rules[0]] where"),
    ],
    ids=["port", "price", "budget", "window", "regex"],
)
def test_collector_with_a_bad_config_prints_one_line_and_exits_non_zero(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "BAD.toml"
    path.write_text(text, encoding="utf-8")
    # Alerts stay on: rule windows and filters are compiled when the alert engine starts.
    argv = [sys.executable, "-m", "claudescope", "collector", "--config", str(path), "--data", str(tmp_path / "data"),
            "--port", str(free_port()), "--grpc-port", "0"]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).strip()
    assert done.returncode != 0
    assert "Traceback" not in output
    assert len(output.splitlines()) == 1, output
    assert output.startswith(f"config error: {path}: {key}: "), output
    assert not (tmp_path / "data").exists()  # refused before the store was created


def test_collector_with_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "claudescope", "collector", "--data", str(tmp_path / "data"), "--grpc-port", "0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")} | {"CLAUDESCOPE_PORT": "abc"}
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert (done.stdout + done.stderr).strip() == (
        "config error: environment variable CLAUDESCOPE_PORT: must be an integer 1-65535, got 'abc'"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was created
