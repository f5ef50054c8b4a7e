"""Configuration: one frozen dataclass, built once at the entry point and passed down.

Precedence (SPEC §3): built-in defaults < ``claudescope.toml`` < ``CLAUDESCOPE_<OPTION>``
environment variables < command-line options. Nothing else reads the environment: the entry
point hands ``load_config`` the mapping it should use.

Every error names the offending key and the file it came from (``ConfigError``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_FILE = Path("claudescope.toml")
DEFAULT_DATA_DIR = Path("claudescope-data")
ENV_PREFIX = "CLAUDESCOPE_"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or of the wrong type; names key and source."""

    def __init__(self, key: str, source: str, problem: str) -> None:
        super().__init__(f"{source}: {key}: {problem}")
        self.key = key
        self.source = source
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Limits:
    """Ingest limits (SPEC §3)."""

    max_body_bytes: int = 64 * 1024 * 1024
    max_attribute_value_bytes: int = 64 * 1024
    max_attributes_per_span: int = 512
    max_queue_spans: int = 200_000
    commit_interval_ms: int = 50


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Read-only query API limits."""

    timeout_s: float = 10.0
    max_rows: int = 100_000


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """Budgets for the built-in ``budget_daily`` / ``budget_monthly`` rules (UTC unless timezone)."""

    daily_usd: Decimal | None = None
    monthly_usd: Decimal | None = None
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """One ``[[alerts.rules]]`` entry. Kind-specific keys go to ``params``."""

    name: str
    kind: str
    where: str | None = None
    threshold: float | None = None
    window: str | None = None
    severity: str = "warning"
    for_: str | None = None
    cooldown: str | None = None
    tags: tuple[str, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    """Alert engine settings."""

    rules: tuple[RuleConfig, ...] = ()
    builtins: bool = True
    evaluate_every_s: float = 10.0


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Where alerts go: apprise URLs, optionally tagged as ``"tag=url"``."""

    urls: tuple[str, ...] = ()
    dashboard_url: str | None = None


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """User price overrides (USD per million tokens) and the disputed multiplier scopes."""

    overrides: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    batch_applies_to_cache: bool = True
    geo_applies_to_cache: bool = True
    fast_applies_to_cache: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    """Everything a claudescope process needs to know, resolved once."""

    data_dir: Path = DEFAULT_DATA_DIR
    config_file: Path | None = None
    host: str = "127.0.0.1"
    port: int = 4318
    grpc_port: int = 4317
    dashboard_port: int = 8501
    token: str | None = None
    retention_days: int | None = None
    log_format: str = "text"
    # Processes that decode and price OTLP bodies: -1 = one per core but one, 0 = in-process.
    ingest_workers: int = -1
    budget: BudgetConfig = BudgetConfig()
    alerts: AlertsConfig = AlertsConfig()
    notify: NotifyConfig = NotifyConfig()
    pricing: PricingConfig = PricingConfig()
    limits: Limits = Limits()
    query: QueryLimits = QueryLimits()

    @property
    def db_path(self) -> Path:
        """The collector's DuckDB file."""
        return self.data_dir / "claudescope.duckdb"

    @property
    def api_url(self) -> str:
        """Base URL of this configuration's collector."""
        return f"http://{self._reachable_host}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """Base URL of this configuration's dashboard."""
        return f"http://{self._reachable_host}:{self.dashboard_port}"

    @property
    def _reachable_host(self) -> str:
        # A wildcard bind address is not something a client can connect to.
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host


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
}
# Env names that differ from the field name (SPEC says `--data`, so CLAUDESCOPE_DATA).
_ENV_NAMES = {"data_dir": "DATA"}


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
    config = _apply_scalars(config, _env_values(env), source="environment")
    config = _apply_env_notify(config, env)
    config = _apply_scalars(config, {k: v for k, v in (overrides or {}).items() if v is not None}, source="command line")
    return config


def _apply_env_notify(config: Config, env: Mapping[str, str]) -> Config:
    """``CLAUDESCOPE_NOTIFY_URLS``: whitespace-separated apprise URLs, replacing ``[notify] urls``.

    Notify URLs carry credentials (webhook tokens, SMTP passwords), so deployments keep them
    in an env file (compose/claudescope.env) rather than in a committed config file.
    """
    raw = env.get(ENV_PREFIX + "NOTIFY_URLS", "")
    if not raw.strip():
        return config
    return replace(config, notify=replace(config.notify, urls=tuple(raw.split())))


def _env_values(env: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for name in _SCALAR_OPTIONS:
        var = ENV_PREFIX + _ENV_NAMES.get(name, name.upper())
        if var in env and env[var] != "":
            values[name] = env[var]
    return values


def _apply_scalars(config: Config, values: Mapping[str, Any], *, source: str) -> Config:
    changes = {}
    for name, raw in values.items():
        kind = _SCALAR_OPTIONS.get(name)
        if kind is None:
            raise ConfigError(name, source, "unknown option")
        changes[name] = _coerce(raw, kind, name, source)
    if changes.get("ingest_workers", -1) < -1:
        raise ConfigError("ingest_workers", source, "must be -1 (auto), 0 (in-process) or a number of processes")
    return replace(config, **changes)


def _coerce(raw: Any, kind: type, key: str, source: str) -> Any:
    try:
        if kind is int:
            if isinstance(raw, bool):
                raise ValueError
            return int(raw)
        if kind is float:
            return float(raw)
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if kind is Decimal:
            if isinstance(raw, bool):
                raise ValueError
            return Decimal(str(raw))
        if kind is Path:
            return Path(str(raw))
        if kind is str:
            if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
                raise ValueError
            return str(raw)
    except (ValueError, InvalidOperation):
        pass
    else:
        raise AssertionError(f"unsupported option type {kind}")
    raise ConfigError(key, source, f"expected {kind.__name__}, got {raw!r}")


def _apply_file(config: Config, path: Path) -> Config:
    source = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("--config", source, "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", source, str(exc)) from None
    known = {"server", "budget", "alerts", "notify", "prices", "pricing", "limits", "query"}
    for key in document:
        if key not in known:
            raise ConfigError(key, source, f"unknown section; expected one of {sorted(known)}")
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
    )


def _table(document: Mapping[str, Any], key: str, source: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(key, source, "expected a table")
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


_PRICE_KEYS = {"input", "output", "cache_write_5m", "cache_write_1h", "cache_read"}


def _pricing(prices: Mapping[str, Any], switches: Mapping[str, Any], source: str) -> PricingConfig:
    overrides: dict[str, dict[str, Decimal]] = {}
    for model, row in prices.items():
        if not isinstance(row, dict):
            raise ConfigError(f"prices.{model}", source, "expected an inline table of USD per million tokens")
        parsed = {}
        for key, value in row.items():
            if key not in _PRICE_KEYS:
                raise ConfigError(f"prices.{model}.{key}", source, f"unknown price key; expected {sorted(_PRICE_KEYS)}")
            parsed[key] = _coerce(value, Decimal, f"prices.{model}.{key}", source)
            if parsed[key] < 0:
                raise ConfigError(f"prices.{model}.{key}", source, "must not be negative")
        if "input" not in parsed or "output" not in parsed:
            raise ConfigError(f"prices.{model}", source, "needs at least input and output")
        overrides[model] = parsed
    base = _section(PricingConfig, {}, "pricing", source)
    flags = {}
    for key, value in switches.items():
        if key not in ("batch_applies_to_cache", "geo_applies_to_cache", "fast_applies_to_cache"):
            raise ConfigError(f"pricing.{key}", source, "unknown key")
        flags[key] = _coerce(value, bool, f"pricing.{key}", source)
    return replace(base, overrides=overrides, **flags)
