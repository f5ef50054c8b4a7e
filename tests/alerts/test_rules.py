"""Pure pieces: durations, where-clause validation, rule compilation errors, the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from claudescope.alerts.durations import format_duration, parse_duration
from claudescope.alerts.rules import compile_rules
from claudescope.alerts.state import Status, step
from claudescope.alerts.whereclause import WhereError, validate_where
from claudescope.config import AlertsConfig, BudgetConfig, Config, ConfigError, RuleConfig, load_config


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), ("1.5h", 5400), ("2w", 1209600)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "15", "m", "0m", "-1h", "1y", "1 hour", "15m; drop"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    assert [format_duration(parse_duration(t)) for t in ("15m", "1h", "1d", "90s")] == ["15m", "1h", "1d", "90s"]


@pytest.mark.parametrize("where", [
    "feature = 'support_chat'",
    "feature IN ('a', 'b') AND NOT (user_id IS NULL)",
    "lower(request_model) LIKE 'claude-opus%' OR duration_ms > 1000",
    "attributes->>'tenant' = 'it''s'",
    "cost_usd BETWEEN 0.01 AND 1e3",
])
def test_where_accepts_expressions(where: str) -> None:
    assert validate_where(where) == where


@pytest.mark.parametrize(("where", "problem"), [
    ("feature = 'a'; DROP TABLE call_spans", "second statement"),
    ("feature = 'a' -- comment", "comment"),
    ("feature = 'a' /* x */", "comment"),
    ("feature IN (SELECT feature FROM alert_events)", "unknown column 'SELECT'"),
    ("feature = 'a') UNION ALL (SELECT 1", "unbalanced"),
    ("read_csv('/etc/passwd') IS NOT NULL", "function 'read_csv'"),
    ("secret_column = 1", "unknown column 'secret_column'"),
    ('"feature" = 1', "quoted identifiers"),
    ("feature = 'unterminated", "unexpected character"),
    ("", "empty"),
])
def test_where_rejects_injection(where: str, problem: str) -> None:
    with pytest.raises(WhereError, match=problem):
        validate_where(where)


def _config(*rules: RuleConfig, **budget: Decimal) -> Config:
    return Config(config_file=Path("claudescope.toml"), budget=BudgetConfig(**budget), alerts=AlertsConfig(rules=rules))


@pytest.mark.parametrize(("rule", "key"), [
    (RuleConfig(name="x", kind="nope"), "alerts.rules[0].kind"),
    (RuleConfig(name="x", kind="max_tokens_rate", window="15 minutes"), "alerts.rules[0].window"),
    (RuleConfig(name="x", kind="max_tokens_rate", for_="soon"), "alerts.rules[0].for"),
    (RuleConfig(name="x", kind="max_tokens_rate", cooldown="-5m"), "alerts.rules[0].cooldown"),
    (RuleConfig(name="x", kind="max_tokens_rate", where="1=1; DELETE FROM call_spans"), "alerts.rules[0].where"),
    (RuleConfig(name="x", kind="max_tokens_rate", severity="urgent"), "alerts.rules[0].severity"),
    (RuleConfig(name="x", kind="max_tokens_rate", params={"colour": "red"}), "alerts.rules[0].colour"),
    (RuleConfig(name="x", kind="error_rate", params={"error": "418"}), "alerts.rules[0].error"),
    (RuleConfig(name="x", kind="budget"), "alerts.rules[0].budget_usd"),
    (RuleConfig(name="x", kind="latency_p95", params={"group_by": "prompt"}), "alerts.rules[0].group_by"),
    (RuleConfig(name="x", kind="stop_reason_rate"), "alerts.rules[0].stop_reason"),
    (RuleConfig(name="x", kind="max_tokens_rate", threshold=5.0), "alerts.rules[0].threshold"),
    (RuleConfig(name="x", kind="latency_p95", threshold=-1.0), "alerts.rules[0].threshold"),
    (RuleConfig(name="x", kind="budget", params={"budget_usd": 5, "levels": [0.5, "lots"]}), "alerts.rules[0].levels"),
    (RuleConfig(name="x", kind="burn_rate", params={"budget_usd": 5, "windows": ["1h", "soon"]}), "alerts.rules[0].windows"),
    (RuleConfig(name="x", kind="cost_anomaly", params={"group_by": ["feature"]}), "alerts.rules[0].group_by"),
])
def test_bad_rule_names_the_key_and_file(rule: RuleConfig, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        compile_rules(_config(rule))
    assert info.value.key == key
    assert "claudescope.toml" in str(info.value)


def test_builtins_follow_the_budget() -> None:
    names = [r.name for r in compile_rules(_config())]
    assert "max_tokens_rate" in names and "unpriced_model" in names
    assert "budget_daily" not in names and "budget_monthly" not in names
    names = [r.name for r in compile_rules(_config(daily_usd=Decimal(5)))]
    assert "budget_daily" in names and "burn_rate_daily" in names and "budget_monthly" not in names


def test_a_configured_rule_replaces_the_builtin_of_that_name(tmp_path: Path) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text('[[alerts.rules]]\nname = "max_tokens_rate"\nkind = "max_tokens_rate"\nthreshold = 0.5\n'
                    'where = "feature = \'support\'"\ngroup_by = "prompt_version"\n'
                    '[[alerts.rules]]\nname = "refusals"\nkind = "refusal"\n')
    rules = {r.name: r for r in compile_rules(load_config(path))}
    assert rules["max_tokens_rate"].threshold == 0.5 and not rules["max_tokens_rate"].builtin
    assert rules["max_tokens_rate"].group_by == "prompt_version"
    assert rules["refusals"].kind == "refusal_rate"


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_state_fires_once_and_resolves() -> None:
    s, t = step(Status(), 1, T0, for_=timedelta(0), cooldown=timedelta(0))
    assert (s.phase, t) == ("firing", "firing")
    s, t = step(s, 1, T0 + timedelta(minutes=1), for_=timedelta(0), cooldown=timedelta(0))
    assert (s.phase, t) == ("firing", None)  # no repeat while firing
    s, t = step(s, 0, T0 + timedelta(minutes=2), for_=timedelta(0), cooldown=timedelta(0))
    assert (s.phase, t) == ("ok", "resolved")


def test_state_for_duration_holds_pending() -> None:
    kw = {"for_": timedelta(minutes=5), "cooldown": timedelta(0)}
    s, t = step(Status(), 1, T0, **kw)
    assert (s.phase, t) == ("pending", None)
    s, t = step(s, 1, T0 + timedelta(minutes=4), **kw)
    assert t is None
    s, t = step(s, 1, T0 + timedelta(minutes=5), **kw)
    assert (s.phase, t) == ("firing", "firing")
    s2, t2 = step(Status(), 1, T0, **kw)
    s2, t2 = step(s2, 0, T0 + timedelta(minutes=1), **kw)  # a blip shorter than `for` never fires
    assert (s2.phase, t2) == ("ok", None)


def test_state_cooldown_and_escalation() -> None:
    kw = {"for_": timedelta(0), "cooldown": timedelta(minutes=10)}
    s, _ = step(Status(), 1, T0, **kw)
    s, t = step(s, 2, T0 + timedelta(minutes=1), **kw)
    assert t == "firing" and s.level == 2  # budget 50% -> 80% notifies again
    s, t = step(s, 0, T0 + timedelta(minutes=2), **kw)
    assert t == "resolved"
    s, t = step(s, 1, T0 + timedelta(minutes=5), **kw)
    assert t is None and s.phase == "pending"  # within cooldown of the last firing
    s, t = step(s, 1, T0 + timedelta(minutes=11), **kw)
    assert t == "firing"
