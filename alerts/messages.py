"""Notification text: what crossed what, by how much, who contributed, and where to look."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from decimal import Decimal
from urllib.parse import urlencode

from claudescope.alerts.judge import money

_NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}


@dataclass(frozen=True, slots=True)
class Event:
    """One alert_events row as the deliverer sees it."""

    id: str
    time: datetime
    rule: str
    severity: str
    state: str
    summary: str
    details: Mapping[str, Any]


def render(events: Sequence[Event], dashboard_url: str | None) -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one message carrying ``events`` (a group)."""
    firing = [e for e in events if e.state == "firing"]
    resolved = [e for e in events if e.state != "firing"]
    if len(events) == 1:
        event = events[0]
        title = f"[{'FIRING' if firing else 'RESOLVED'}] {event.rule} ({event.severity})"
    else:
        counts = [f"{len(firing)} firing"] if firing else []
        counts += [f"{len(resolved)} resolved"] if resolved else []
        title = f"[claudescope] {len(events)} alerts: {', '.join(counts)}"
    blocks = [_block(e, dashboard_url) for e in (*firing, *resolved)]
    return title, "\n\n".join(blocks), _notify_type(firing)


def _notify_type(firing: Sequence[Event]) -> str:
    if not firing:
        return "success"
    worst = max(firing, key=lambda e: ("info", "warning", "critical").index(e.severity) if e.severity in _NOTIFY_TYPES else 1)
    return _NOTIFY_TYPES.get(worst.severity, "warning")


def _block(event: Event, dashboard_url: str | None) -> str:
    state = "FIRING" if event.state == "firing" else "RESOLVED"
    lines = [f"{state} [{event.severity}] {event.summary}"]
    top = event.details.get("top") or {}
    for dim in ("feature", "user_id", "model"):
        entries = top.get(dim) or []
        if entries:
            parts = [f"{e['value'] if e['value'] is not None else '(none)'} ({_amount(e)})" for e in entries]
            lines.append(f"  top {dim.replace('_id', '')}s: " + ", ".join(parts))
    link = dashboard_link(event, dashboard_url)
    if link:
        lines.append(f"  dashboard: {link}")
    return "\n".join(lines)


def _amount(entry: Mapping[str, Any]) -> str:
    calls = f"{entry['n']} call{'s' if entry['n'] != 1 else ''}"
    return f"{money(Decimal(entry['cost']))}, {calls}" if entry.get("cost") is not None else calls


# Dashboard URL parameters (dashboard/filters.py: range and one parameter per dimension).
_DASHBOARD_DIMENSIONS = {"feature": "feature", "user_id": "user", "user": "user", "model": "model",
                         "request_model": "model", "service_name": "service", "service": "service",
                         "prompt_version": "pv"}


def dashboard_link(event: Event, dashboard_url: str | None) -> str | None:
    """A dashboard URL narrowed to the alert's time range and group (the dashboard's own params)."""
    if not dashboard_url:
        return None
    params = {"range": _range(event.details), "alert": event.rule}
    group_by, key = event.details.get("group_by"), event.details.get("key")
    if group_by in _DASHBOARD_DIMENSIONS and key not in (None, "(none)"):
        params[_DASHBOARD_DIMENSIONS[group_by]] = key
    sep = "&" if "?" in dashboard_url else "?"
    return f"{dashboard_url}{sep}{urlencode(params)}"


def _range(details: Mapping[str, Any]) -> str:
    period = details.get("period")
    if period in ("day", "month"):
        return "today" if period == "day" else "30d"
    window = str(details.get("window") or "")
    return "1h" if window.endswith(("s", "m")) or window == "1h" else "7d"
