"""The configuration's shape: frozen dataclasses, built once at the entry point and passed down.

``claudescope.config`` builds them (file < environment < command line) and range-checks every
value; this module holds only the types, their defaults and ``ConfigError``. Import them from
``claudescope.config`` (which re-exports every name here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = [
    "COMMAND_LINE", "DEFAULT_CONFIG_FILE", "DEFAULT_DATA_DIR", "ENV_PREFIX", "ENV_VAR_SOURCE", "AlertsConfig",
    "BudgetConfig", "ClaudeCodeConfig", "Config", "ConfigError", "DatedPrice", "Limits", "NotifyConfig", "PriceOverride", "PricingConfig",
    "QueryLimits", "ReconcileConfig", "RuleConfig", "AdminKey", "ADMIN_KEY_ENV",
]

DEFAULT_CONFIG_FILE = Path("claudescope.toml")
DEFAULT_DATA_DIR = Path("claudescope-data")
ENV_PREFIX = "CLAUDESCOPE_"
ENV_VAR_SOURCE = "environment variable "  # + the variable's name: the source of an env value
COMMAND_LINE = "command line"


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range.

    ``key`` is the dotted key (``budget.daily_usd``, ``alerts.rules[0].where``, ``port``) and
    ``source`` the file, ``environment variable CLAUDESCOPE_<NAME>`` or ``command line``. Every
    message has one form: ``claudescope.toml: [server] port: must be an integer 1-65535, got
    4318.5``, or ``environment variable CLAUDESCOPE_PORT: must be ...`` (the variable is the key).
    """

    def __init__(self, key: str, source: str, problem: str, *, shown: str | None = None) -> None:
        where = shown if shown is not None else _shown_key(key, source)
        super().__init__(": ".join(part for part in (source, where, problem) if part))
        self.key = key
        self.source = source
        self.problem = problem


def _shown_key(key: str, source: str) -> str:
    """``budget.daily_usd`` -> ``[budget] daily_usd``, as the user wrote it in the file."""
    if source.startswith(ENV_VAR_SOURCE):
        return ""  # the variable named in the source is the key
    if source == COMMAND_LINE or "." not in key:
        return key
    section, _, name = key.rpartition(".")
    return f"[{section}] {name}"


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
    max_answer_bytes: int = 64 << 20  # Arrow bytes of one answer; truncated beyond
    max_memory_bytes: int = 2 << 30  # the collector's data segment; a query needing more answers 413


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
class DatedPrice:
    """One ``[prices]`` row in force from ``start`` (inclusive) until ``end`` (exclusive), UTC.

    ``None`` is unbounded. ``rates`` holds the same keys as an undated row (USD per million tokens).
    """

    rates: Mapping[str, Decimal]
    start: datetime | None = None
    end: datetime | None = None


# A model's override: one undated row (in force at every date), or dated rows.
PriceOverride = Mapping[str, Decimal] | tuple[DatedPrice, ...]


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """User price overrides (USD per million tokens) and the disputed multiplier scopes."""

    overrides: Mapping[str, PriceOverride] = field(default_factory=dict)
    batch_applies_to_cache: bool = True
    geo_applies_to_cache: bool = True
    fast_applies_to_cache: bool = True


# Where a Claude Code call's ``feature`` comes from (docs/claude-code.md): the event attribute
# read first; ``query_source`` is the fallback whenever the chosen one is absent.
CLAUDE_CODE_FEATURE_KEYS = {"query_source": "query_source", "agent": "agent.name", "skill": "skill.name"}


@dataclass(frozen=True, slots=True)
class ClaudeCodeConfig:
    """How Claude Code's telemetry is attributed (``[claude_code]``)."""

    feature: str = "query_source"


# The only place the Anthropic Admin API key is read from (issue 17): never a file or a flag.
ADMIN_KEY_ENV = "ANTHROPIC_ADMIN_API_KEY"


class AdminKey:
    """The Anthropic Admin API key (``sk-ant-admin...``), read only from ``ANTHROPIC_ADMIN_API_KEY``.

    Its ``repr``/``str`` never show it, so a logged or printed configuration cannot leak it;
    only :meth:`reveal`, called where the request header is built, returns the value.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself, for the ``x-api-key`` header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "AdminKey('sk-ant-admin…')"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """Reconciliation with Anthropic's Usage & Cost Admin API (``[reconcile]``)."""

    # Base URL of the Admin API; tests and the demo point it at the bundled fake.
    admin_api_url: str = "https://api.anthropic.com"
    # Reconcile once a day inside the collector (needs ANTHROPIC_ADMIN_API_KEY in its environment).
    daily: bool = False
    # UTC hour of the daily run; the bill of a day settles some hours after it ends.
    daily_hour_utc: int = 6
    # Days reconciled when no --since is given (and by the daily run).
    lookback_days: int = 7
    # A day x model agrees with the bill when |claudescope - bill| <= tolerance x bill.
    tolerance: Decimal = Decimal("0.001")
    # How often the collector reads the spend limits (seconds; needs the admin key).
    spend_limits_every_s: float = 900.0
    admin_key: AdminKey | None = field(default=None, repr=False, compare=False)


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
    # Host names the collector and dashboard answer besides loopback and --host (DNS rebinding).
    allowed_hosts: tuple[str, ...] = ()
    budget: BudgetConfig = BudgetConfig()
    alerts: AlertsConfig = AlertsConfig()
    notify: NotifyConfig = NotifyConfig()
    pricing: PricingConfig = PricingConfig()
    limits: Limits = Limits()
    query: QueryLimits = QueryLimits()
    claude_code: ClaudeCodeConfig = ClaudeCodeConfig()
    reconcile: ReconcileConfig = ReconcileConfig()

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
