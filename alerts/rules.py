"""Alert rules: compile ``RuleConfig`` into validated ``Rule`` objects, and judge measurements.

Everything here is pure (no I/O): the SQL that measures a rule lives in :mod:`.sql`, and the
engine feeds the measured rows back into :func:`judge`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

from claudescope.alerts.durations import parse_duration
from claudescope.alerts.whereclause import WhereError, validate_where
from claudescope.call_facts import RATELIMIT_RESOURCES, WORKSPACE_ID_SQL
from claudescope.config import BudgetConfig, Config, ConfigError, RuleConfig
from claudescope.pricing.limits import MAX_STORED_USD

SEVERITIES = ("info", "warning", "critical")
# What a rule may group by: name -> SQL expression over calls (fixed strings, never user text).
GROUP_BY = {
    "feature": "feature",
    "service_name": "service_name",
    "service": "service_name",
    "user_id": "user_id",
    "user": "user_id",
    "prompt_version": "prompt_version",
    "operation": "operation",
    "request_model": "request_model",
    "model": "coalesce(response_model, request_model)",
    "workspace": WORKSPACE_ID_SQL,
}
ERROR_CLASSES = ("any", "429", "529", "5xx", "timeout", "connection")


@dataclass(frozen=True, slots=True)
class KindSpec:
    """Defaults and allowed params of one rule kind."""

    threshold: float | None
    window: str | None
    params: frozenset[str]
    group_by: str | None = None
    on_ingest: bool = True  # cheap enough to run on every commit (baseline kinds are not)
    stop_reason: str | None = None


_RATE = frozenset({"group_by", "min_calls", "critical_features"})
KINDS: dict[str, KindSpec] = {
    "budget": KindSpec(None, None, frozenset({"group_by", "period", "budget_usd", "levels"})),
    "burn_rate": KindSpec(1.0, None, frozenset({"group_by", "period", "budget_usd", "windows"})),
    "max_tokens_rate": KindSpec(0.05, "15m", _RATE, stop_reason="max_tokens"),
    "refusal_rate": KindSpec(0.05, "15m", _RATE, stop_reason="refusal"),
    "context_window_rate": KindSpec(0.02, "15m", _RATE, stop_reason="model_context_window_exceeded"),
    "stop_reason_rate": KindSpec(0.05, "15m", _RATE | {"stop_reason"}),
    "error_rate": KindSpec(0.1, "15m", frozenset({"group_by", "min_calls", "error"})),
    "latency_p95": KindSpec(60_000.0, "15m", frozenset({"group_by", "min_calls"}), group_by="model"),
    "ttft_p95": KindSpec(15_000.0, "15m", frozenset({"group_by", "min_calls"}), group_by="model"),
    "cache_hit_rate": KindSpec(0.5, "1h", frozenset({"group_by", "baseline", "min_tokens"}), on_ingest=False),
    "rate_limit_headroom": KindSpec(0.1, "15m", frozenset({"group_by", "resource"}), group_by="model"),
    "unpriced_model": KindSpec(0.0, "1h", frozenset(), group_by="model"),
    "cost_anomaly": KindSpec(3.0, "1h", frozenset({"group_by", "baseline", "min_usd"}), group_by="feature", on_ingest=False),
    # threshold: how many spend-limit refusals in the window fire it (one, by default).
    "spend_limit_reached": KindSpec(1.0, "1h", frozenset({"group_by"}), group_by="workspace"),
    # Per alias (request_model); window: how recent the switch must be, and the span compared on each side.
    "model_changed": KindSpec(0.0, "1d", frozenset({"baseline", "min_calls"}), group_by="request_model",
                              on_ingest=False),
    # Per model and UTC day of reconciliation_latest: |claudescope - bill| / bill over the days in the window.
    "bill_drift": KindSpec(0.001, "7d", frozenset({"min_usd"}), on_ingest=False),
    # Per spend limit read from the Admin API: the share of its cap left in its current period.
    "spend_limit_headroom": KindSpec(0.2, None, frozenset(), on_ingest=False),
}
# Kinds that read other tables than calls: a ``where`` filter over calls has nothing to narrow.
NOT_CALLS = frozenset({"bill_drift", "spend_limit_headroom"})
# Names users may also write, as in the issue ("refusal", "model_context_window_exceeded").
KIND_ALIASES = {"refusal": "refusal_rate", "model_context_window_exceeded": "context_window_rate",
                "enforced_spend_limit_reached": "spend_limit_reached"}


@dataclass(frozen=True, slots=True)
class Rule:
    """A validated rule, ready to measure."""

    name: str
    kind: str
    severity: str
    threshold: float
    window: timedelta | None
    where: str | None = None
    group_by: str | None = None
    for_: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)
    tags: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    builtin: bool = False

    @property
    def spec(self) -> KindSpec:
        """The kind's defaults."""
        return KINDS[self.kind]

    @property
    def group_sql(self) -> str | None:
        """SQL expression of the grouping column, or None for one global series."""
        return GROUP_BY[self.group_by] if self.group_by else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one series (rule + group key) measured right now. ``level`` 0 means fine."""

    key: str
    level: int
    value: float
    threshold: float
    summary: str
    details: Mapping[str, Any]


def compile_rules(config: Config) -> tuple[Rule, ...]:
    """The built-in rules (unless disabled or overridden by name) plus the configured ones.

    Raises:
        ConfigError: naming ``alerts.rules[i].<key>`` and the config file.
    """
    source = str(config.config_file or "configuration")
    user = [compile_rule(rc, f"alerts.rules[{i}]", source, config.budget) for i, rc in enumerate(config.alerts.rules)]
    names = {r.name for r in user}
    builtins = builtin_rules(config) if config.alerts.builtins else ()
    return tuple(r for r in builtins if r.name not in names) + tuple(user)


def compile_rule(rc: RuleConfig, key: str, source: str, budget: BudgetConfig) -> Rule:
    """Validate one configured rule; errors name ``key`` (e.g. ``alerts.rules[0]``)."""
    kind = KIND_ALIASES.get(rc.kind, rc.kind)
    spec = KINDS.get(kind)
    if spec is None:
        raise ConfigError(f"{key}.kind", source, f"unknown kind {rc.kind!r}; expected one of {sorted(KINDS)}")
    for param in rc.params:
        if param not in spec.params:
            raise ConfigError(f"{key}.{param}", source, f"unknown key for kind {kind!r}; allowed: {sorted(spec.params) or 'none'}")
    if rc.severity not in SEVERITIES:
        raise ConfigError(f"{key}.severity", source, f"expected one of {list(SEVERITIES)}")
    where = None
    if rc.where is not None and kind in NOT_CALLS:
        raise ConfigError(f"{key}.where", source, f"kind {kind!r} does not read calls: a where filter does not apply")
    if rc.where is not None:
        try:
            where = validate_where(rc.where)
        except WhereError as exc:
            raise ConfigError(f"{key}.where", source, str(exc)) from None
    params = dict(rc.params)
    if kind == "budget" and rc.threshold is not None:
        # For a budget rule the threshold is the budget itself, in USD.
        params.setdefault("budget_usd", rc.threshold)
    _check_params(kind, params, key, source, budget)
    group_by = params.get("group_by", spec.group_by)
    if params.get("critical_features") and group_by is None:
        group_by = "feature"
    if group_by is not None and (not isinstance(group_by, str) or group_by not in GROUP_BY):
        raise ConfigError(f"{key}.group_by", source, f"expected one of {sorted(GROUP_BY)}")
    threshold = rc.threshold if rc.threshold is not None else spec.threshold
    if kind == "budget":
        threshold = float(params["budget_usd"])
    _check_threshold(kind, threshold, f"{key}.threshold", source)
    return Rule(
        name=rc.name, kind=kind, severity=rc.severity, threshold=float(threshold or 0.0),
        window=_duration(rc.window or spec.window, f"{key}.window", source),
        where=where, group_by=group_by,
        for_=_duration(rc.for_, f"{key}.for", source) or timedelta(0),
        cooldown=_duration(rc.cooldown, f"{key}.cooldown", source) or timedelta(0),
        tags=tuple(rc.tags), params=params,
    )


_SHARE_KINDS = frozenset({"max_tokens_rate", "refusal_rate", "context_window_rate", "stop_reason_rate",
                          "error_rate", "cache_hit_rate", "rate_limit_headroom", "bill_drift",
                          "spend_limit_headroom"})


def _check_threshold(kind: str, threshold: float | None, key: str, source: str) -> None:
    # NaN compares false with everything: a rule with it would load and never fire.
    if threshold is None or not math.isfinite(threshold) or threshold < 0:
        raise ConfigError(key, source, f"must be a finite non-negative number, got {threshold!r}")
    if kind in _SHARE_KINDS and threshold > 1:
        raise ConfigError(key, source, f"is a share for kind {kind!r}: between 0 and 1 (0.05 means 5%)")


def _duration(text: str | None, key: str, source: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)  # bounded to MAX_DURATION: "99999999999w" is an error, not an overflow
    except ValueError as exc:
        raise ConfigError(key, source, str(exc)) from None


def _check_params(kind: str, params: dict[str, Any], key: str, source: str, budget: BudgetConfig) -> None:
    """Kind-specific params: fill defaults, reject bad values (naming the key)."""
    def bad(name: str, problem: str) -> ConfigError:
        return ConfigError(f"{key}.{name}", source, problem)

    if kind in ("budget", "burn_rate"):
        period = params.setdefault("period", "day")
        if period not in ("day", "month"):
            raise bad("period", "expected 'day' or 'month'")
        default = budget.daily_usd if period == "day" else budget.monthly_usd
        amount = params.get("budget_usd", default)
        if amount is None:
            raise bad("budget_usd", f"needs a budget: set it here or budget.{'daily' if period == 'day' else 'monthly'}_usd")
        try:
            params["budget_usd"] = Decimal(str(amount))
        except Exception:
            raise bad("budget_usd", f"expected a number of USD, got {amount!r}") from None
        if not params["budget_usd"].is_finite() or params["budget_usd"] >= MAX_STORED_USD:
            raise bad("budget_usd", f"expected a finite number of USD below {MAX_STORED_USD:,}, got {amount!r}")
        if params["budget_usd"] <= 0:
            raise bad("budget_usd", f"needs a positive budget (set it here or budget.{'daily' if period == 'day' else 'monthly'}_usd)")
        levels = params.setdefault("levels", [0.5, 0.8, 1.0])
        if not isinstance(levels, list) or not levels or not all(_positive_number(x) for x in levels):
            raise bad("levels", "expected a list of positive fractions, e.g. [0.5, 0.8, 1.0]")
        params["levels"] = sorted(float(x) for x in levels)
        windows = params.setdefault("windows", ["1h", "6h"])
        if not isinstance(windows, list) or not windows:
            raise bad("windows", "expected a list of durations, e.g. ['1h', '6h']")
        params["windows"] = [_duration(str(w), f"{key}.windows", source) for w in windows]
    if kind == "stop_reason_rate" and not isinstance(params.get("stop_reason"), str):
        raise bad("stop_reason", "required: the stop_reason to watch, e.g. 'refusal'")
    if kind == "error_rate" and params.setdefault("error", "any") not in ERROR_CLASSES:
        raise bad("error", f"expected one of {list(ERROR_CLASSES)}")
    if kind == "rate_limit_headroom" and params.setdefault("resource", "tokens") not in RATELIMIT_RESOURCES:
        raise bad("resource", f"expected one of {list(RATELIMIT_RESOURCES)}")
    if "baseline" in KINDS[kind].params:
        params["baseline"] = _duration(str(params.get("baseline", "7d")), f"{key}.baseline", source)
    min_usd = 0.01 if kind == "bill_drift" else 1.0  # a cent of drift is worth a look; a cost spike is not
    for name, default in (("min_calls", 1), ("min_tokens", 10_000), ("min_usd", min_usd)):
        if name in KINDS[kind].params:
            value = params.setdefault(name, default)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise bad(name, "expected a finite non-negative number")
    critical = params.get("critical_features", [])
    if not isinstance(critical, list) or not all(isinstance(f, str) for f in critical):
        raise bad("critical_features", "expected a list of feature names")


def _positive_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def builtin_rules(config: Config) -> tuple[Rule, ...]:
    """The rules that are on by default (SPEC §5), budgets only when a budget is set."""
    raw: list[dict[str, Any]] = []
    if config.budget.daily_usd:
        raw += [{"name": "budget_daily", "kind": "budget", "period": "day"},
                {"name": "burn_rate_daily", "kind": "burn_rate", "period": "day", "windows": ["15m", "1h"]}]
    if config.budget.monthly_usd:
        raw += [{"name": "budget_monthly", "kind": "budget", "period": "month"},
                {"name": "burn_rate_monthly", "kind": "burn_rate", "period": "month", "windows": ["1h", "6h"]}]
    raw += [
        {"name": "max_tokens_rate", "kind": "max_tokens_rate", "min_calls": 5},
        {"name": "refusal_rate", "kind": "refusal_rate", "min_calls": 5},
        {"name": "context_window_rate", "kind": "context_window_rate", "min_calls": 5},
        {"name": "error_rate_429", "kind": "error_rate", "error": "429", "min_calls": 10},
        {"name": "error_rate_529", "kind": "error_rate", "error": "529", "min_calls": 10},
        {"name": "error_rate_5xx", "kind": "error_rate", "error": "5xx", "min_calls": 10},
        {"name": "error_rate_timeout", "kind": "error_rate", "error": "timeout", "min_calls": 10},
        {"name": "latency_p95", "kind": "latency_p95", "min_calls": 10},
        {"name": "ttft_p95", "kind": "ttft_p95", "min_calls": 10},
        {"name": "cache_hit_rate", "kind": "cache_hit_rate", "group_by": "feature"},
        {"name": "rate_limit_headroom", "kind": "rate_limit_headroom", "resource": "tokens"},
        {"name": "rate_limit_headroom_requests", "kind": "rate_limit_headroom", "resource": "requests"},
        {"name": "unpriced_model", "kind": "unpriced_model", "severity": "info"},
        {"name": "cost_anomaly", "kind": "cost_anomaly"},
        {"name": "spend_limit_reached", "kind": "spend_limit_reached", "severity": "critical"},
        {"name": "model_changed", "kind": "model_changed", "min_calls": 5},
        # Both read tables only a reconcile run or the Admin API fill: silent until then.
        {"name": "bill_drift", "kind": "bill_drift"},
        {"name": "spend_limit_headroom", "kind": "spend_limit_headroom"},
    ]
    rules = []
    for entry in raw:
        known = {"name", "kind", "severity"}
        rc = RuleConfig(name=entry["name"], kind=entry["kind"], severity=entry.get("severity", "warning"),
                        cooldown="10m", params={k: v for k, v in entry.items() if k not in known})
        rule = compile_rule(rc, f"builtin {entry['name']}", "built-in rules", config.budget)
        rules.append(replace(rule, builtin=True))
    return tuple(rules)
