"""Rules built in code (not through the config loader) get the same range checks when the alert
engine compiles them at start-up: NaN thresholds and budgets, year-plus durations and patterns
DuckDB cannot compile are ``ConfigError``s naming the rule's key, never a rule that cannot fire,
errors at every evaluation, or an ``OverflowError``."""

from __future__ import annotations

from pathlib import Path

import pytest

from claudescope.alerts.rules import compile_rules
from claudescope.config import AlertsConfig, Config, ConfigError, RuleConfig


def _compile(rule: RuleConfig) -> None:
    compile_rules(Config(config_file=Path("claudescope.toml"), alerts=AlertsConfig(rules=(rule,), builtins=False)))


@pytest.mark.parametrize(
    ("rule", "key", "problem"),
    [
        (RuleConfig(name="a", kind="error_rate", threshold=float("nan")), "alerts.rules[0].threshold", "finite"),
        (RuleConfig(name="a", kind="latency_p95", threshold=float("inf")), "alerts.rules[0].threshold", "finite"),
        (RuleConfig(name="a", kind="error_rate", window="99999999999w"), "alerts.rules[0].window", "at most 366d"),
        (RuleConfig(name="a", kind="error_rate", for_="367d"), "alerts.rules[0].for", "at most 366d"),
        (RuleConfig(name="a", kind="error_rate", where="regexp_matches(feature, '(')"), "alerts.rules[0].where", "invalid regular expression"),
        (RuleConfig(name="a", kind="error_rate", where=r"regexp_matches(feature, '(a)\1')"), "alerts.rules[0].where", "backreferences"),
        (RuleConfig(name="a", kind="error_rate", where="regexp_matches(feature, user_id)"), "alerts.rules[0].where", "quoted pattern"),
        (RuleConfig(name="a", kind="budget", params={"budget_usd": "nan"}), "alerts.rules[0].budget_usd", "finite"),
        (RuleConfig(name="a", kind="budget", params={"budget_usd": 10, "levels": [0.5, float("nan")]}), "alerts.rules[0].levels", "positive"),
        (RuleConfig(name="a", kind="error_rate", params={"min_calls": float("inf")}), "alerts.rules[0].min_calls", "finite"),
        (RuleConfig(name="a", kind="burn_rate", params={"budget_usd": 10, "windows": ["1h", "99999999999w"]}), "alerts.rules[0].windows", "at most 366d"),
    ],
)
def test_a_bad_rule_fails_compilation_naming_its_key(rule: RuleConfig, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _compile(rule)
    assert caught.value.key == key and caught.value.source == "claudescope.toml"
    assert problem in caught.value.problem


def test_a_valid_pattern_and_long_window_compile() -> None:
    _compile(RuleConfig(name="a", kind="error_rate", window="366d", where="regexp_matches(feature, '^sup(port)?$', 'i')"))
