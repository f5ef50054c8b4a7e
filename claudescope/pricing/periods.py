"""Prices by date: when a row of prices was in force, and which row prices a call.

A model's prices are a list of :class:`Period` rows, each in force from ``start`` (inclusive)
until ``end`` (exclusive), both UTC; ``None`` is unbounded. A call is priced by the period in
force at its ``start_time``; ``at=None`` asks for the current price (the open-ended period).
Only the data model and date handling live here: parsing is in :mod:`claudescope.pricing.table`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["LongContext", "Period", "Rates", "Window", "as_utc", "moment", "day_text", "overlap_problem", "span"]


@dataclass(frozen=True, slots=True)
class Rates:
    """One band of prices, USD per million tokens."""

    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal


@dataclass(frozen=True, slots=True)
class LongContext:
    """A prompt-size band: above ``above`` prompt tokens, every category uses ``rates``."""

    above: int
    rates: Rates


@dataclass(frozen=True, slots=True)
class Period:
    """A model's prices in force from ``start`` (inclusive) until ``end`` (exclusive), UTC."""

    start: dt.datetime | None
    end: dt.datetime | None
    rates: Rates
    long_context: LongContext | None = None
    # usage.speed == "fast" multiplier; None = fast mode not priced (a fast call is NULL);
    # 1 = fast mode withdrawn: a fast request runs and bills at standard speed.
    fast: Decimal | None = None
    overridden: bool = False
    note: str = ""

    def covers(self, at: dt.datetime | None) -> bool:
        """Whether this period prices a call started at ``at`` (None: the current price)."""
        if at is None:
            return self.end is None
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)

    def span(self) -> str:
        """``2026-06-29 .. 2026-10-07`` style text for tables and errors."""
        return span(self.start, self.end)


Window = tuple[dt.datetime | None, dt.datetime | None]  # (from, until); None = unbounded


def span(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """A period as text: ``2026-06-29 .. 2026-10-07``, ``… .. 2026-10-07``, ``2026-10-07 .. now``."""
    return f"{day_text(start) if start else '…'} .. {day_text(end) if end else 'now'}"


def as_utc(at: dt.datetime) -> dt.datetime:
    """``at`` as an aware datetime; a naive one is taken as UTC (claudescope's time is UTC)."""
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at


def moment(value: Any) -> dt.datetime | str:
    """A TOML date or date-time as an aware UTC datetime, or why it is not one.

    A date is midnight UTC of that day; a date-time without an offset is taken as UTC.
    """
    if isinstance(value, dt.datetime):
        return as_utc(value).astimezone(dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        try:
            return moment(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            pass
    return f"expected a date (YYYY-MM-DD) or a UTC date-time, got {value!r}"


def overlap_problem(windows: Sequence[Window]) -> str | None:
    """Why ``windows`` (``(from, until)`` pairs, any order) cannot be one model's prices, or None.

    Each must start before it ends, and no instant may be priced by two of them.
    """
    for start, end in windows:
        if start is not None and end is not None and start >= end:
            return f"`from` {day_text(start)} is not before `until` {day_text(end)}"
    ordered = sorted(windows, key=lambda w: (w[0] is not None, w[0] or dt.datetime.min))
    for (start, end), (later_start, later_end) in zip(ordered, ordered[1:]):
        if end is None or later_start is None or later_start < end:
            return f"periods {span(start, end)} and {span(later_start, later_end)} overlap"
    return None


def day_text(when: dt.datetime) -> str:
    """A moment as `2026-10-07` (midnight UTC) or `2026-10-07T12:00:00Z`."""
    if when.time() == dt.time(0):
        return when.date().isoformat()
    return when.isoformat().replace("+00:00", "Z")
