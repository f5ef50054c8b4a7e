"""Notification text: what crossed what, by how much, who contributed, and where to look.

Feature, user and model names come from spans, so anyone who can send a span writes part of
the message. Each such value is quoted (a reader sees where it begins and ends), kept to one
line with hidden characters shown as escapes (``claudescope.safetext``), bounded, and
neutralised for the channel's dialect; the whole message is bounded per channel too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from claudescope.alerts.judge import money
from claudescope.safetext import VALUE_LIMIT, quoted, visible

_NOTIFY_TYPES = {"critical": "failure", "warning": "warning", "info": "info"}

# Dialects: "plain" (generic webhooks), "email", "chat" (Slack and other chat services: apprise
# turns our plain text into their markup safely), "discord" (we send Markdown: Discord renders
# message content as Markdown and pings on @everyone, so we escape it ourselves).
DIALECTS = ("plain", "email", "chat", "discord")
MESSAGE_LIMITS = {"plain": 4000, "email": 20000, "chat": 3500, "discord": 2000}
SUMMARY_LIMIT = 300
NAME_LIMIT = 80  # rule names and severities come from the configuration, still bounded
TOP_ENTRIES = 3
_MENTION_AT = "\uff20"  # FULLWIDTH COMMERCIAL AT: reads as "@", pings no one, matches no mention syntax
_DISCORD_MARKUP = re.compile(r"([\\*_~`|<>\[\]():#@-])")


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


def render(events: Sequence[Event], dashboard_url: str | None, dialect: str = "plain") -> tuple[str, str, str]:
    """(title, body, apprise notify type) of one message carrying ``events`` (a group).

    ``body`` is Markdown for the ``discord`` dialect and plain text otherwise; title and body
    together stay within ``MESSAGE_LIMITS[dialect]`` characters.
    """
    firing = [e for e in events if e.state == "firing"]
    resolved = [e for e in events if e.state != "firing"]
    if len(events) == 1:
        event = events[0]
        title = (f"[{'FIRING' if firing else 'RESOLVED'}] {visible(event.rule, NAME_LIMIT)} "
                 f"({visible(event.severity, NAME_LIMIT)})")
    else:
        counts = [f"{len(firing)} firing"] if firing else []
        counts += [f"{len(resolved)} resolved"] if resolved else []
        title = f"[claudescope] {len(events)} alerts: {', '.join(counts)}"
    blocks = [_block(e, dashboard_url, dialect) for e in (*firing, *resolved)]
    return title, _fit(blocks, MESSAGE_LIMITS[dialect] - len(title) - 2), _notify_type(firing)


def _notify_type(firing: Sequence[Event]) -> str:
    if not firing:
        return "success"
    worst = max(firing, key=lambda e: ("info", "warning", "critical").index(e.severity) if e.severity in _NOTIFY_TYPES else 1)
    return _NOTIFY_TYPES.get(worst.severity, "warning")


def _fit(blocks: list[str], limit: int) -> str:
    """Whole blocks while they fit in ``limit`` characters, then one line saying how many are left out."""
    size = kept = 0
    for block in blocks:
        grown = size + len(block) + (2 if kept else 0)
        left = len(blocks) - kept - 1
        if grown + (len(_more(left)) + 2 if left else 0) > limit:
            break
        size, kept = grown, kept + 1
    left = len(blocks) - kept
    if kept:
        return "\n\n".join(blocks[:kept] + ([_more(left)] if left else []))
    more = "\n\n" + _more(left - 1) if left > 1 else ""
    return _cut(blocks[0], limit - len(more)) + more  # a single block too long for the channel


def _more(count: int) -> str:
    return f"... and {count} more alert{'s' if count != 1 else ''}: see the dashboard"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _block(event: Event, dashboard_url: str | None, dialect: str) -> str:
    state = "FIRING" if event.state == "firing" else "RESOLVED"
    lines = [_text(f"{state} [{visible(event.severity, NAME_LIMIT)}] ", dialect) + _summary(event, dialect)]
    top = event.details.get("top") or {}
    for dim in ("feature", "user_id", "model"):
        entries = list(top.get(dim) or [])[:TOP_ENTRIES]
        if entries:
            parts = [(_value(e["value"], dialect) if e["value"] is not None else _text("(none)", dialect))
                     + _text(f" ({_amount(e)})", dialect) for e in entries]
            lines.append(_text(f"  top {dim.replace('_id', '')}s: ", dialect) + _text(", ", dialect).join(parts))
    for entry in list(event.details.get("compare") or [])[:TOP_ENTRIES]:
        lines.append(_text("  feature ", dialect) + _value(entry.get("feature"), dialect)
                     + _text(": " + _before_after(entry), dialect))
    link = dashboard_link(event, dashboard_url)
    if link:
        lines.append(_text("  dashboard: ", dialect) + link)  # URL-encoded: nothing in it to neutralise
    return "\n".join(lines)


def _summary(event: Event, dialect: str) -> str:
    """The stored summary with the span value it embeds (the alert's key) quoted and bounded."""
    parts = event.details.get("summary_parts")
    if isinstance(parts, list) and parts:
        # Fixed text, and span values as one-element lists: each value quoted and inert.
        # A value may carry its own bound as a second element (a reconciliation's explanation).
        return "".join(_value(p[0], dialect, *p[1:2]) if isinstance(p, list) and p
                       else _text(visible(p, SUMMARY_LIMIT), dialect) for p in parts)
    summary = event.summary
    key, group_by = event.details.get("key"), event.details.get("group_by")
    markers = []
    if isinstance(key, str) and key:
        if group_by:
            markers.append((f"[{group_by}=", f"{key}]"))
        markers.append((" to ", f"{key} have"))  # unpriced_model: "N calls to MODEL have no price"
    for before, marker in markers:
        at = summary.rfind(before + marker)
        if at >= 0:
            start = at + len(before)
            head = _text(visible(summary[:start], SUMMARY_LIMIT), dialect)
            tail = _text(visible(summary[start + len(key):], SUMMARY_LIMIT), dialect)
            return head + _value(key, dialect) + tail
    return _text(visible(summary, SUMMARY_LIMIT), dialect)


_COMPARED = (("cost_per_call_usd", "cost/call"), ("output_tokens", "output tokens"), ("max_tokens_rate", "max_tokens"),
             ("refusal_rate", "refusals"), ("p95_latency_ms", "p95"), ("error_rate", "errors"))


def _before_after(entry: Mapping[str, Any]) -> str:
    """One feature's metrics before -> after a model change (model_changed)."""
    before, after = entry.get("before") or {}, entry.get("after") or {}
    shown = [f"calls {before.get('calls', 0)} -> {after.get('calls', 0)}"]
    for key, label in _COMPARED:
        shown.append(f"{label} {_metric(key, before.get(key))} -> {_metric(key, after.get(key))}")
    return ", ".join(shown)


def _metric(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "cost_per_call_usd":
        return money(Decimal(str(value)))
    if key.endswith("_rate"):
        return f"{float(value):.1%}"
    if key == "p95_latency_ms":
        return f"{float(value) / 1000:.2f} s"
    return f"{float(value):.0f}"


def _value(value: object, dialect: str, limit: int = VALUE_LIMIT) -> str:
    """A span value: quoted, one line, bounded, and inert in ``dialect``."""
    text = quoted(value, limit)
    if dialect in ("chat", "discord"):
        text = text.replace("@", _MENTION_AT)
    return _text(text, dialect)


def _text(text: str, dialect: str) -> str:
    """Text for ``dialect``: Discord's Markdown characters escaped, other dialects unchanged."""
    return _DISCORD_MARKUP.sub(r"\\\1", text) if dialect == "discord" else text


def _amount(entry: Mapping[str, Any]) -> str:
    calls = f"{entry['n']} call{'s' if entry['n'] != 1 else ''}"
    return f"{money(Decimal(entry['cost']))}, {calls}" if entry.get("cost") is not None else calls


# Dashboard URL parameters (dashboard/filters.py: range and one parameter per dimension).
_DASHBOARD_DIMENSIONS = {"feature": "feature", "user_id": "user", "user": "user", "model": "model",
                         "request_model": "model", "service_name": "service", "service": "service",
                         "prompt_version": "pv"}


def dashboard_link(event: Event, dashboard_url: str | None) -> str | None:
    """A dashboard URL narrowed to the alert's time range and group (the dashboard's own params).

    A key too long for a readable link is left out (the link then shows the whole range).
    """
    if not dashboard_url:
        return None
    params = {"range": _range(event.details), "alert": event.rule}
    group_by, key = event.details.get("group_by"), event.details.get("key")
    if group_by in _DASHBOARD_DIMENSIONS and key not in (None, "(none)") and len(str(key)) <= VALUE_LIMIT:
        params[_DASHBOARD_DIMENSIONS[group_by]] = key
    sep = "&" if "?" in dashboard_url else "?"
    return f"{dashboard_url}{sep}{urlencode(params)}"


def _range(details: Mapping[str, Any]) -> str:
    period = details.get("period")
    if period in ("day", "month"):
        return "today" if period == "day" else "30d"
    window = str(details.get("window") or "")
    return "1h" if window.endswith(("s", "m")) or window == "1h" else "7d"
