"""Parse the short durations used in alert rules ("30s", "15m", "1h", "1d", "1w").

In the core, so the config loader checks every rule's durations at load with this same parser.
"""

from __future__ import annotations

import re
from datetime import timedelta

# The longest rule window, for, cooldown or baseline: past a year a rule is a report, not an alert.
MAX_DURATION = timedelta(days=366)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for ``"<number><unit>"`` with unit one of s, m, h, d, w.

    Raises:
        ValueError: for anything else, including zero, negative and over-a-year durations.
    """
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"expected a duration like '30s', '15m', '1h', '1d' or '1w', got {text!r}")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    if seconds > MAX_DURATION.total_seconds():  # also keeps "99999999999w" from overflowing timedelta
        raise ValueError(f"duration must be at most {format_duration(MAX_DURATION)}, got {text!r}")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest exact ``"<n><unit>"`` form of ``delta`` (for messages)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
