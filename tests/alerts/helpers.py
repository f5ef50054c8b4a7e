"""Shared helpers for the alert tests (the fixtures themselves are in tests/fixtures_alerts.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claudescope.alerts.engine import AlertEngine
from claudescope.config import AlertsConfig, BudgetConfig, Config, NotifyConfig, RuleConfig


@dataclass
class Clock:
    """A controllable UTC clock, starting now."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def make_engine(store: Any, *rules: RuleConfig, urls: tuple[str, ...] = (), builtins: bool = False,
                daily: str | None = None, monthly: str | None = None, clock: Clock | None = None,
                dashboard_url: str | None = "http://127.0.0.1:8501/", timezone: str = "UTC", group_wait_s: float = 0.0) -> AlertEngine:
    """An engine over ``store`` with only the given rules (plus built-ins when asked)."""
    config = Config(
        budget=BudgetConfig(daily_usd=Decimal(daily) if daily else None, monthly_usd=Decimal(monthly) if monthly else None,
                            timezone=timezone),
        alerts=AlertsConfig(rules=rules, builtins=builtins),
        notify=NotifyConfig(urls=urls, dashboard_url=dashboard_url),
    )
    return AlertEngine(config, store, clock=clock or Clock(), group_wait_s=group_wait_s)


def events(store: Any) -> list[dict[str, Any]]:
    """alert_events rows in time order."""
    return store.read_arrow("SELECT * FROM alert_events ORDER BY time, rule").to_pylist()
