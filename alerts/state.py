"""The per-series alert state machine: ok -> (pending) -> firing -> resolved, with cooldown.

Pure: :func:`step` takes the current status and a verdict level and returns the next status
and the notification to send, if any. The engine rebuilds statuses from ``alert_events`` at
start, so a restart neither forgets a firing alert nor fires it again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

Phase = Literal["ok", "pending", "firing"]
Transition = Literal["firing", "resolved"]


@dataclass(frozen=True, slots=True)
class Status:
    """Where one series (rule + key) stands."""

    phase: Phase = "ok"
    since: datetime | None = None  # pending since, or firing since
    level: int = 0  # highest level notified while firing (budgets escalate 50% -> 80% -> 100%)
    last_fired: datetime | None = None  # last firing notification, for the cooldown


def step(status: Status, level: int, now: datetime, *, for_: timedelta, cooldown: timedelta) -> tuple[Status, Transition | None]:
    """Advance one series by one measurement.

    A condition must hold for ``for_`` before it fires; a series that resolved cannot fire
    again until ``cooldown`` after its last firing notification. While firing, only a higher
    level notifies again (an escalation), never the same one.
    """
    if level <= 0:
        if status.phase == "firing":
            return Status("ok", None, 0, status.last_fired), "resolved"
        return Status("ok", None, 0, status.last_fired), None
    if status.phase == "firing":
        if level > status.level:
            return replace(status, level=level, last_fired=now), "firing"
        return status, None
    pending_since = status.since if status.phase == "pending" and status.since else now
    cooled = status.last_fired is None or now - status.last_fired >= cooldown
    if now - pending_since >= for_ and cooled:
        return Status("firing", now, level, now), "firing"
    return Status("pending", pending_since, 0, status.last_fired), None


def restored(state: str, level: int | None, last_time: datetime, last_fired: datetime | None) -> Status:
    """The status a series had, from its latest ``alert_events`` row."""
    if state == "firing":
        return Status("firing", last_time, int(level or 1), last_fired or last_time)
    return Status("ok", None, 0, last_fired)
