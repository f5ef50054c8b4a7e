"""The durable outbox: alert_events rows waiting for their channels, retried with backoff.

An event is pending on a channel until ``alert_deliveries`` holds an ok attempt for it, so a
crash or a failing endpoint loses nothing, and a restart re-sends only what no channel took.
Pending events of one channel go out together as one message (grouping).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa

from claudescope.alerts import sql
from claudescope.alerts.delivery import Channel, Sender
from claudescope.alerts.messages import Event, render

log = logging.getLogger(__name__)

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 300.0


class StoreLike(Protocol):
    """What the engine needs of claudescope.collector.store.Store."""

    def read_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table: ...  # noqa: D102
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...  # noqa: D102


@dataclass(slots=True)
class _Backoff:
    failures: int = 0
    next_try: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An alert_events row about to be written."""

    event: Event
    alert_key: str
    routes: tuple[str, ...]


@dataclass(slots=True)
class Outbox:
    """Writes events and delivers them; call :meth:`deliver_due` from one thread."""

    store: StoreLike
    channels: Sequence[Channel]
    sender: Sender
    dashboard_url: str | None = None
    group_wait: timedelta = timedelta(seconds=0.5)
    min_interval: timedelta = timedelta(seconds=1)  # per channel, so a chat channel is not flooded
    _backoff: dict[str, _Backoff] = field(default_factory=dict)
    _last_sent: dict[str, datetime] = field(default_factory=dict)

    def record(self, events: Sequence[NewEvent]) -> None:
        """Write a pass's events in one statement (all or none)."""
        if not events:
            return
        params: list[Any] = []
        for new in events:
            e = new.event
            params += [e.id, e.time, e.rule, new.alert_key, e.severity, e.state, e.summary,
                       json.dumps(e.details, default=str), False, "", json.dumps(list(new.routes))]
        self.store.execute(sql.insert_events(len(events)), params)

    def deliver_due(self, now: datetime) -> float | None:
        """Send every channel's due pending events; seconds until the next retry, or None."""
        pending, done = self._pending()
        waits: list[float] = []
        by_id = {c.id: c for c in self.channels}
        for channel in self.channels:
            events = [e for e, routes in pending if channel.id in routes and (e.id, channel.id) not in done]
            if not events:
                continue
            wait = self._wait(channel, events, now)
            if wait > 0:
                waits.append(wait)
                continue
            self._send(channel, events, now, done, pending)
            backoff = self._backoff.get(channel.id)
            if backoff and backoff.next_try:
                waits.append((backoff.next_try - now).total_seconds())
        unknown = {r for _, routes in pending for r in routes} - set(by_id)
        if unknown:
            log.warning("alert events wait for channels no longer configured: %s", sorted(unknown))
        return max(min(waits), 0.05) if waits else None

    def _wait(self, channel: Channel, events: list[Event], now: datetime) -> float:
        backoff = self._backoff.get(channel.id)
        if backoff and backoff.next_try and backoff.next_try > now:
            return (backoff.next_try - now).total_seconds()
        if backoff:
            return 0.0
        # Hold a fresh burst briefly so related alerts travel as one message.
        ready = max(e.time for e in events) + self.group_wait
        last = self._last_sent.get(channel.id)
        if last is not None:
            ready = max(ready, last + self.min_interval)
        return max((ready - now).total_seconds(), 0.0)

    def _send(self, channel: Channel, events: list[Event], now: datetime,
              done: dict[tuple[str, str], str], pending: list[tuple[Event, tuple[str, ...]]]) -> None:
        title, body, notify_type = render(events, self.dashboard_url, channel.dialect)
        error = self.sender.send(channel, title, body, notify_type)
        params: list[Any] = []
        for e in events:
            params += [e.id, channel.id, channel.name, now, error is None, error]
        self.store.execute(sql.insert_deliveries(len(events)), params)
        if error is not None:
            state = self._backoff.setdefault(channel.id, _Backoff())
            state.failures += 1
            delay = min(BACKOFF_START_S * 2 ** (state.failures - 1), BACKOFF_MAX_S)
            state.next_try = now + timedelta(seconds=delay)
            log.warning("alert delivery to %s failed (%s); retry in %.0f s", channel.name, error, delay)
            return
        self._backoff.pop(channel.id, None)
        self._last_sent[channel.id] = now
        routes_of = {e.id: routes for e, routes in pending}
        for e in events:
            done[(e.id, channel.id)] = channel.name
            routes = routes_of[e.id]
            names = [done[(e.id, r)] for r in routes if (e.id, r) in done]
            delivered = all((e.id, r) in done for r in routes)
            self.store.execute(sql.MARK_EVENT, [delivered, ", ".join(names), e.id])

    def _pending(self) -> tuple[list[tuple[Event, tuple[str, ...]]], dict[tuple[str, str], str]]:
        rows = self.store.read_arrow(sql.PENDING_EVENTS).to_pylist()
        pending = []
        for r in rows:
            event = Event(r["id"], r["time"], r["rule"], r["severity"], r["state"], r["summary"],
                          json.loads(r["details"]) if r["details"] else {})
            pending.append((event, tuple(json.loads(r["routes"]))))
        done = {(r["event_id"], r["channel"]): r["channel_name"]
                for r in self.store.read_arrow(sql.DELIVERED_CHANNELS).to_pylist()} if pending else {}
        return pending, done
