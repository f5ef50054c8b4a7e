"""Configuration loading: built once at the entry point, every value range-checked.

Precedence (SPEC §3): built-in defaults < ``claudescope.toml`` < ``CLAUDESCOPE_<OPTION>``
environment variables < command-line options. Nothing else reads the environment: the entry
point hands ``load_config`` the mapping it should use.

Every value is checked at load, for type and range (finite numbers, ports 1-65535, prices that
keep a call's cost storable, ...), so a bad value stops start-up with one ``ConfigError`` naming
the key and the file (or the environment variable) instead of starting a broken service. The
dataclasses themselves live in ``config_model`` and are re-exported here.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from claudescope.config_model import (
    COMMAND_LINE,
    DEFAULT_CONFIG_FILE,
    CLAUDE_CODE_FEATURE_KEYS,
    DEFAULT_DATA_DIR,
    ENV_PREFIX,
    ENV_VAR_SOURCE,
    AlertsConfig,
    BudgetConfig,
    ClaudeCodeConfig,
    Config,
    ConfigError,
    DatedPrice,
    Limits,
    NotifyConfig,
    PricingConfig,
    QueryLimits,
    ADMIN_KEY_ENV,
    AdminKey,
    ReconcileConfig,
    RuleConfig,
)
from claudescope.config_env import admin_url, apply_env_admin, apply_env_notify
from claudescope.config_prices import parse_prices
from claudescope.durations import parse_duration
from claudescope.pricing.limits import MAX_STORED_USD
from claudescope.web_hosts import parse_host_names
from claudescope.whereclause import validate_where

__all__ = [
    "DEFAULT_CONFIG_FILE", "DEFAULT_DATA_DIR", "ENV_PREFIX", "AlertsConfig", "BudgetConfig", "ClaudeCodeConfig", "Config", "ConfigError",
    "DatedPrice", "Limits", "NotifyConfig", "PricingConfig", "QueryLimits", "ReconcileConfig", "RuleConfig", "AdminKey",
    "ADMIN_KEY_ENV", "load_config",
]

# Top-level options settable as CLI flags, CLAUDESCOPE_<NAME> env vars and [server] keys.
_SCALAR_OPTIONS: dict[str, type] = {
    "data_dir": Path,
    "host": str,
    "port": int,
    "grpc_port": int,
    "dashboard_port": int,
    "token": str,
    "retention_days": int,
    "log_format": str,
    "ingest_workers": int,
    "allowed_hosts": tuple,
}
# Env names that differ from the field name (SPEC says `--data`, so CLAUDESCOPE_DATA).
_ENV_NAMES = {"data_dir": "DATA"}

# Inclusive bounds of every numeric key, by dotted key (server options by bare name). Each
# bound is what the consumer can use: a port the OS can bind, a timeout that times out, a
# budget the store's DECIMAL(18,9) can hold.
_RANGES: dict[str, tuple[float | int | Decimal, float | int | Decimal, str]] = {
    "port": (1, 65535, ""),
    "grpc_port": (0, 65535, " (0 = off)"),
    "dashboard_port": (1, 65535, ""),
    "retention_days": (1, 36_500, ""),
    "ingest_workers": (-1, 4096, " (-1 = one per core but one, 0 = in-process)"),
    "limits.max_body_bytes": (1024, 2**32, ""),
    "limits.max_attribute_value_bytes": (16, 2**26, ""),
    "limits.max_attributes_per_span": (1, 100_000, ""),
    "limits.max_queue_spans": (1, 10**8, ""),
    "limits.commit_interval_ms": (1, 60_000, ""),
    "query.timeout_s": (0.001, 86_400.0, " seconds"),
    "query.max_rows": (1, 10**9, ""),
    "query.max_answer_bytes": (1024, 2**36, ""),
    "query.max_memory_bytes": (0, 2**46, " (0 = no cap)"),
    "alerts.evaluate_every_s": (0.1, 86_400.0, " seconds"),
    "budget.daily_usd": (Decimal(0), MAX_STORED_USD - Decimal("1e-9"), " USD"),
    "budget.monthly_usd": (Decimal(0), MAX_STORED_USD - Decimal("1e-9"), " USD"),
    "reconcile.daily_hour_utc": (0, 23, ""),
    "reconcile.lookback_days": (1, 366, " days"),
    "reconcile.tolerance": (Decimal(0), Decimal(1), " (a fraction: 0.001 = 0.1 %)"),
    "reconcile.spend_limits_every_s": (10.0, 86_400.0, " seconds"),
}
_CHOICES = {"log_format": ("text", "json"), "claude_code.feature": tuple(CLAUDE_CODE_FEATURE_KEYS)}


def load_config(
    config_file: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration from file, environment and command-line overrides.

    Args:
        config_file: explicit ``--config``; when None, ``./claudescope.toml`` is used if present.
        env: the environment to read ``CLAUDESCOPE_*`` from (the entry point passes os.environ).
        overrides: command-line values by field name; None values are ignored.

    Raises:
        ConfigError: naming the key and file (or variable) at fault.
    """
    env = env or {}
    path = config_file
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    config = Config(config_file=path)
    if path is not None:
        config = _apply_file(config, path)
    for name, (var, raw) in _env_values(env).items():
        config = _apply_scalars(config, {name: raw}, source=ENV_VAR_SOURCE + var)
    config = apply_env_notify(config, env)
    config = apply_env_admin(config, env)
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    return _apply_scalars(config, flags, source=COMMAND_LINE)


def _reconcile(table: Mapping[str, Any], source: str) -> ReconcileConfig:
    if "admin_key" in table:
        raise ConfigError("reconcile.admin_key", source,
                          f"the admin key is read only from the environment variable {ADMIN_KEY_ENV}, never from a file")
    section = _section(ReconcileConfig, table, "reconcile", source)
    if "admin_api_url" in table:
        section = replace(section, admin_api_url=admin_url(section.admin_api_url, source))
    return section


def _env_values(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """{option: (variable, value)} for every CLAUDESCOPE_<OPTION> that is set and not empty."""
    values = {}
    for name in _SCALAR_OPTIONS:
        var = ENV_PREFIX + _ENV_NAMES.get(name, name.upper())
        if var in env and env[var] != "":
            values[name] = (var, env[var])
    return values


def _apply_scalars(config: Config, values: Mapping[str, Any], *, source: str) -> Config:
    changes = {}
    for name, raw in values.items():
        kind = _SCALAR_OPTIONS.get(name)
        from_file = source != COMMAND_LINE and not source.startswith(ENV_VAR_SOURCE)
        shown = f"[server] {name}" if from_file else None
        if kind is None:
            raise ConfigError(name, source, "unknown option", shown=shown)
        changes[name] = _coerce(raw, kind, name, source, shown=shown)
    return replace(config, **changes)


def _coerce(raw: Any, kind: type, key: str, source: str, *, shown: str | None = None) -> Any:
    """``raw`` as ``kind``, range-checked against ``_RANGES`` / ``_CHOICES`` when listed there."""
    try:
        value = _convert(raw, kind)
    except (ValueError, TypeError, InvalidOperation, OverflowError) as exc:
        # Host names explain themselves; for the rest, say what is wanted and what was given.
        problem = (str(exc) if kind is tuple else "") or _expected(kind, key, raw)
        raise ConfigError(key, source, problem, shown=shown) from None
    problem = _out_of_range(key, value, raw)
    if problem:
        raise ConfigError(key, source, problem, shown=shown)
    return value


def _convert(raw: Any, kind: type) -> Any:
    """``raw`` as ``kind``; raises ValueError (or the conversion's own error) when it is not one."""
    if isinstance(raw, bool) and kind is not bool:
        raise ValueError("")
    if kind is tuple:
        return parse_host_names(raw)
    if kind is int:
        if isinstance(raw, float) or not isinstance(raw, (int, str)):
            raise ValueError("")  # 4318.5 is not a port, and neither is 4318.0
        return int(raw)
    if kind is float:
        value = float(raw)
        if not math.isfinite(value):
            raise ValueError("")
        return value
    if kind is Decimal:
        value = Decimal(str(raw)) if isinstance(raw, (int, float, str)) else None
        if value is None or not value.is_finite():
            raise ValueError("")
        return value
    if kind is bool:
        text = str(raw).lower()
        if isinstance(raw, bool) or text in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return raw if isinstance(raw, bool) else text in ("1", "true", "yes", "on")
        raise ValueError("")
    if kind is Path:
        return Path(str(raw))
    if kind is str and isinstance(raw, (str, int, float)):
        return str(raw)
    raise ValueError("")


def _expected(kind: type, key: str, raw: Any) -> str:
    low, high, unit = _RANGES.get(key, (None, None, ""))
    noun = {int: "an integer", float: "a finite number", Decimal: "a finite number", bool: "true or false",
            str: "a string", Path: "a path", tuple: "a list of host names"}.get(kind, kind.__name__)
    span = f" {low}-{high}{unit}" if low is not None else ""
    return f"must be {noun}{span}, got {raw!r}"


def _out_of_range(key: str, value: Any, raw: Any) -> str | None:
    if key in _CHOICES and value not in _CHOICES[key]:
        return f"must be one of {list(_CHOICES[key])}, got {raw!r}"
    if key not in _RANGES:
        return None
    low, high, unit = _RANGES[key]
    if low <= value <= high:
        return None
    noun = "an integer" if isinstance(value, int) else "a number"
    return f"must be {noun} {low}-{high}{unit}, got {raw!r}"


def _apply_file(config: Config, path: Path) -> Config:
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", source, "file not found", shown="") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", source, f"cannot be read: {exc}", shown="") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", source, f"not valid TOML: {exc}", shown="") from None
    known = {"server", "budget", "alerts", "notify", "prices", "pricing", "limits", "query", "claude_code", "reconcile"}
    for key in document:
        if key not in known:
            raise ConfigError(key, source, f"unknown section; expected one of {sorted(known)}", shown=f"[{key}]")
    server = _table(document, "server", source)
    config = _apply_scalars(config, server, source=source)
    return replace(
        config,
        budget=_section(BudgetConfig, _table(document, "budget", source), "budget", source),
        alerts=_alerts(_table(document, "alerts", source), source),
        notify=_notify(_table(document, "notify", source), source),
        pricing=_pricing(_table(document, "prices", source), _table(document, "pricing", source), source),
        limits=_section(Limits, _table(document, "limits", source), "limits", source),
        query=_section(QueryLimits, _table(document, "query", source), "query", source),
        claude_code=_section(ClaudeCodeConfig, _table(document, "claude_code", source), "claude_code", source),
        reconcile=_reconcile(_table(document, "reconcile", source), source),
    )


def _table(document: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, source, "expected a table", shown=f"[{key}]")
    return value


_FIELD_TYPES: dict[str, type] = {
    "int": int, "float": float, "bool": bool, "str": str, "Decimal | None": Decimal,
    "str | None": str, "float | None": float, "int | None": int, "Decimal": Decimal,
}


def _section(cls: type, table: Mapping[str, Any], prefix: str, source: str) -> Any:
    by_name = {f.name: f for f in fields(cls)}
    values = {}
    for key, raw in table.items():
        spec = by_name.get(key)
        if spec is None:
            raise ConfigError(f"{prefix}.{key}", source, f"unknown key; expected one of {sorted(by_name)}")
        kind = _FIELD_TYPES.get(str(spec.type))
        if kind is None:
            raise ConfigError(f"{prefix}.{key}", source, "cannot be set here")
        values[key] = _coerce(raw, kind, f"{prefix}.{key}", source)
    return cls(**values)


def _alerts(table: Mapping[str, Any], source: str) -> AlertsConfig:
    rules_raw = table.get("rules", [])
    if not isinstance(rules_raw, list):
        raise ConfigError("alerts.rules", source, "expected an array of tables ([[alerts.rules]])")
    rest = {k: v for k, v in table.items() if k != "rules"}
    base = _section(AlertsConfig, rest, "alerts", source)
    rules = tuple(_rule(raw, i, source) for i, raw in enumerate(rules_raw))
    names = [r.name for r in rules]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError("alerts.rules.name", source, f"duplicate rule name {name!r}")
    return replace(base, rules=rules)


_RULE_KEYS = {"name", "kind", "where", "threshold", "window", "severity", "for", "cooldown", "tags"}


def _rule(raw: Any, index: int, source: str) -> RuleConfig:
    key = f"alerts.rules[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(key, source, "expected a table")
    for required in ("name", "kind"):
        if not isinstance(raw.get(required), str) or not raw[required]:
            raise ConfigError(f"{key}.{required}", source, "required string")
    tags = raw.get("tags", ())
    if isinstance(tags, str):
        tags = (tags,)
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{key}.tags", source, "expected a list of strings")
    threshold = raw.get("threshold")
    if threshold is not None:
        threshold = _coerce(threshold, float, f"{key}.threshold", source)
    optional = {name: raw.get(name) for name in ("where", "window", "for", "cooldown")}
    for name, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{key}.{name}", source, "expected a string")
        # The alert engine's own parsers: a filter or duration it would refuse stops the load.
        check = validate_where if name == "where" else parse_duration
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            raise ConfigError(f"{key}.{name}", source, str(exc)) from None
    return RuleConfig(
        name=raw["name"],
        kind=raw["kind"],
        where=optional["where"],
        threshold=threshold,
        window=optional["window"],
        severity=str(raw.get("severity", "warning")),
        for_=optional["for"],
        cooldown=optional["cooldown"],
        tags=tuple(tags),
        params={k: v for k, v in raw.items() if k not in _RULE_KEYS},
    )


def _notify(table: Mapping[str, Any], source: str) -> NotifyConfig:
    for key in table:
        if key not in ("urls", "dashboard_url"):
            raise ConfigError(f"notify.{key}", source, "unknown key; expected urls or dashboard_url")
    urls = table.get("urls", [])
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ConfigError("notify.urls", source, "expected a list of apprise URL strings")
    dashboard_url = table.get("dashboard_url")
    if dashboard_url is not None and not isinstance(dashboard_url, str):
        raise ConfigError("notify.dashboard_url", source, "expected a string")
    return NotifyConfig(urls=tuple(urls), dashboard_url=dashboard_url)


def _pricing(prices: Mapping[str, Any], switches: Mapping[str, Any], source: str) -> PricingConfig:
    overrides = parse_prices(prices, source)  # undated or by date: claudescope/config_prices.py
    base = _section(PricingConfig, {}, "pricing", source)
    flags = {}
    for key, value in switches.items():
        if key not in ("batch_applies_to_cache", "geo_applies_to_cache", "fast_applies_to_cache"):
            raise ConfigError(f"pricing.{key}", source, "unknown key")
        flags[key] = _coerce(value, bool, f"pricing.{key}", source)
    return replace(base, overrides=overrides, **flags)
