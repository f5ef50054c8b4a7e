"""Parse the short durations used in alert rules: the core's parser (``claudescope.durations``),
so the config loader and the alert engine read a duration the same way."""

from __future__ import annotations

from claudescope.durations import MAX_DURATION, format_duration, parse_duration

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]
