"""Budget arithmetic: today's and this month's windows in the budget's timezone, burn, projection."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

_SECONDS = Decimal(1)


@dataclass(frozen=True, slots=True)
class Windows:
    """UTC bounds of the budget day and month containing ``now``."""

    day_start: datetime
    month_start: datetime
    month_end: datetime
    now: datetime


def windows(now: datetime, timezone: str = "UTC") -> Windows:
    """Today and this month in ``timezone`` (days and months are UTC unless configured)."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    day_start = datetime.combine(local.date(), time(), tzinfo=zone)
    month_start = day_start.replace(day=1)
    days = calendar.monthrange(local.year, local.month)[1]
    month_end = (month_start + timedelta(days=days + 1)).replace(day=1)
    return Windows(day_start.astimezone(UTC), month_start.astimezone(UTC), month_end.astimezone(UTC), now)


def burn_per_hour(spent: Decimal, since: datetime, now: datetime) -> Decimal:
    """Average spend per hour since ``since``."""
    hours = Decimal(max((now - since).total_seconds(), 60)) / 3600
    return (spent / hours).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def projected_month_end(month_to_date: Decimal, w: Windows) -> Decimal:
    """Month-to-date spend extrapolated linearly to the month's end."""
    elapsed = Decimal(max((w.now - w.month_start).total_seconds(), 3600))
    total = Decimal((w.month_end - w.month_start).total_seconds())
    return (month_to_date * total / elapsed).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def share(spent: Decimal, limit: Decimal | None) -> float | None:
    """Spent as a fraction of the budget, or None when there is no budget."""
    if limit is None or limit <= 0:
        return None
    return float(spent / limit)
