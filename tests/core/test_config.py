"""Configuration: precedence file < env < flags, and errors that name the key and the file."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from claudescope.config import Config, ConfigError, load_config

SPEC_EXAMPLE = """
[budget]
daily_usd = 50
monthly_usd = 1000

[[alerts.rules]]
name = "support truncation"
kind = "max_tokens_rate"
where = "feature = 'support_chat'"
threshold = 0.02
window = "15m"

[notify]
urls = ["slack://T000/B000/XXXX/#alerts", "mailtos://user:pass@smtp.example.com?to=oncall@example.com"]

[prices]
"claude-sonnet-4-5" = { input = 3.0, output = 15.0, cache_write_5m = 3.75, cache_write_1h = 6.0, cache_read = 0.3 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "claudescope.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_spec_example_parses_exactly(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, SPEC_EXAMPLE))
    assert config.budget.daily_usd == Decimal("50")
    assert config.budget.monthly_usd == Decimal("1000")
    (rule,) = config.alerts.rules
    assert (rule.name, rule.kind, rule.where, rule.threshold, rule.window) == (
        "support truncation", "max_tokens_rate", "feature = 'support_chat'", 0.02, "15m",
    )
    assert len(config.notify.urls) == 2
    assert config.pricing.overrides["claude-sonnet-4-5"]["cache_read"] == Decimal("0.3")
    assert isinstance(config.pricing.overrides["claude-sonnet-4-5"]["input"], Decimal)


def test_defaults_match_spec_ports() -> None:
    config = Config()
    assert (config.host, config.port, config.grpc_port, config.dashboard_port) == ("127.0.0.1", 4318, 4317, 8501)
    assert config.data_dir == Path("claudescope-data")
    assert config.api_url == "http://127.0.0.1:4318"


def test_env_overrides_file_and_flags_override_env(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 5000\nhost = '127.0.0.2'\n")
    from_file = load_config(path, env={})
    assert from_file.port == 5000
    from_env = load_config(path, env={"CLAUDESCOPE_PORT": "6000", "CLAUDESCOPE_DATA": "/x"})
    assert (from_env.port, from_env.host, from_env.data_dir) == (6000, "127.0.0.2", Path("/x"))
    from_flags = load_config(path, env={"CLAUDESCOPE_PORT": "6000"}, overrides={"port": 7000, "host": None})
    assert (from_flags.port, from_flags.host) == (7000, "127.0.0.2")


def test_config_file_from_env_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "[budget]\ndaily_usd = 5\n")
    assert load_config(None, env={"CLAUDESCOPE_CONFIG": str(path)}).budget.daily_usd == Decimal("5")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[budget]\ndaily_usd = 'lots'\n", "budget.daily_usd"),
        ("[budget]\ndaily = 5\n", "budget.daily"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[[alerts.rules]]\nkind = 'budget'\n", "alerts.rules[0].name"),
        ("[[alerts.rules]]\nname = 'a'\nkind = 'budget'\nthreshold = 'high'\n", "alerts.rules[0].threshold"),
        ("[notify]\nurls = [1, 2]\n", "notify.urls"),
        ("[prices]\n'm' = { input = 1, output = 2, bogus = 3 }\n", "prices.m.bogus"),
        ("[prices]\n'm' = { input = -1, output = 2 }\n", "prices.m.input"),
        ("[server]\nport = 'http'\n", "port"),
        ("[pricing]\nbatch_applies_to_cache = 'maybe'\n", "pricing.batch_applies_to_cache"),
    ],
)
def test_errors_name_the_key_and_the_file(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == key
    assert caught.value.source == str(path)
    # One form everywhere: "<file>: [section] name: problem" (see test_config_ranges.py).
    assert str(caught.value).startswith(f"{path}: ")
    assert key.rpartition(".")[2] in str(caught.value)


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[budget\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)


def test_bad_env_value_names_the_variable_source() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, env={"CLAUDESCOPE_PORT": "eighty"})
    assert caught.value.source == "environment variable CLAUDESCOPE_PORT"
    assert caught.value.key == "port"
    assert str(caught.value) == "environment variable CLAUDESCOPE_PORT: must be an integer 1-65535, got 'eighty'"


def test_duplicate_rule_names_rejected(tmp_path: Path) -> None:
    text = "[[alerts.rules]]\nname='a'\nkind='budget'\n[[alerts.rules]]\nname='a'\nkind='error_rate'\n"
    with pytest.raises(ConfigError, match="duplicate rule name"):
        load_config(write(tmp_path, text))


def test_extra_rule_keys_become_params(tmp_path: Path) -> None:
    text = "[[alerts.rules]]\nname='a'\nkind='error_rate'\nerror = '429'\nfor = '5m'\ntags = ['oncall']\n"
    (rule,) = load_config(write(tmp_path, text)).alerts.rules
    assert rule.params == {"error": "429"}
    assert rule.for_ == "5m" and rule.tags == ("oncall",)
