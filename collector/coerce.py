"""Attribute values -> column values: lenient, because senders disagree on types.

A value of the wrong type or range becomes "unknown" (None, or 0 for counts) rather than failing
the span. Counts are the exception for range: a negative or huge count is returned as it is, so
the pricing rule (``pricing_limits.count_problem``) rejects that span with its reason instead of
storing a made-up 0. These run several times per span on the ingest hot path, so the common
case (the value already has the column's type) is tested first.
"""

from __future__ import annotations

from typing import Any

_INF = float("inf")


def as_str(value: Any) -> str | None:
    """Text, or None when absent or empty (a list is joined with commas)."""
    if value.__class__ is str:  # the common case first: this runs ~15 times per span
        return value or None
    if value is None:
        return None
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or None
    return str(value) or None


def as_num(value: Any) -> float | None:
    """A float, or None when absent or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def as_count(value: Any) -> int:
    """A token/request count as an int: 0 when absent or not a number; any range passes through.

    A count outside 0..MAX_CALL_COUNT is for the caller to reject (``count_problem``): turning a
    negative or absurd count into 0 would store a cheaper call than the one reported.
    """
    if value.__class__ is int:
        return value
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, float) and value in (_INF, -_INF):
        return 2**63 if value > 0 else -1  # out of range either way, so rejected with a reason
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def as_int32(value: Any) -> int | None:
    """An INTEGER column value, or None when absent, not an integer or out of range."""
    if value.__class__ is int:
        return value if -(2**31) <= value < 2**31 else None
    if isinstance(value, bool) or value is None:
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        return None
    return n if -(2**31) <= n < 2**31 else None


def as_bool(value: Any) -> bool | None:
    """A bool (also from "true"/"1"/"yes" text), or None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("true", "1", "yes")
