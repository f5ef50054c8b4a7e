"""The alert engine: evaluate rules on ingest and on a timer, record events, deliver them.

Two background threads: the evaluator (woken by :meth:`AlertEngine.on_commit` for the cheap
rules, and every ``alerts.evaluate_every_s`` for all rules, which is what resolves alerts
when traffic stops) and the deliverer (drains the durable outbox, retrying with backoff), so
a slow channel never delays evaluation.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from claudescope.alerts import sql
from claudescope.alerts.delivery import Channel, Sender, parse_channels
from claudescope.alerts.judge import changed, judge
from claudescope.alerts.judge import severity as severity_of
from claudescope.alerts.messages import Event
from claudescope.alerts.outbox import NewEvent, Outbox, StoreLike
from claudescope.alerts.rules import NOT_CALLS, Rule, Verdict, compile_rules
from claudescope.alerts.state import Status, restored, step
from claudescope.config import Config, ConfigError

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MIN_GAP_S = 0.1  # coalesce bursts of commits into one evaluation


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlertEngine:
    """Evaluates alert rules against the store and delivers notifications through apprise.

    Args:
        config: the resolved configuration (rules, budgets, channels).
        store: ``claudescope.collector.store.Store`` (reads on any thread, serialized writes).
        clock: current UTC time; tests pass a controllable one.
        group_wait_s: how long a fresh alert waits for related ones to share its message.

    Raises:
        ConfigError: an unusable notify URL, rule, where clause or budget timezone, naming the key.
    """

    def __init__(self, config: Config, store: StoreLike, *, clock: Clock = _utcnow, group_wait_s: float = 1.0) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self.rules: tuple[Rule, ...] = compile_rules(config)
        self.channels: tuple[Channel, ...] = parse_channels(config)
        self._tz = _timezone(config)
        self._probe_where_clauses()
        self._outbox = Outbox(store, self.channels, Sender(self.channels, app_url=config.notify.dashboard_url),
                              config.notify.dashboard_url, timedelta(seconds=group_wait_s))
        self._status: dict[str, Status] = {}
        # Per firing series: the event that fired it and the value its summary states.
        self._shown: dict[str, tuple[str, float | None]] = {}
        self._loaded = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ingest = threading.Event()
        self._deliver = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- the collector's interface ---------------------------------------------------
    def on_commit(self, batch: pa.Table) -> None:
        """New ``calls`` rows are durable: wake the evaluator (cheap, called on the ingest path)."""
        self._ingest.set()

    def start(self) -> None:
        """Restore state from ``alert_events`` and start the background threads."""
        self._restore()
        for target, name in ((self._evaluate_loop, "alerts-evaluate"), (self._deliver_loop, "alerts-deliver")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._deliver.set()  # whatever a previous run left pending

    def stop(self) -> None:
        """Stop both threads; undelivered events stay in the outbox for the next start."""
        self._stop.set()
        self._ingest.set()
        self._deliver.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()

    # --- one pass each (the threads call these; tests may call them directly) -------
    def evaluate(self, *, ingest: bool = False) -> list[Event]:
        """Measure the rules (only the cheap ones when ``ingest``) and record transitions."""
        with self._lock:
            self._restore()
            now = self._clock()
            pending: list[NewEvent] = []
            statuses: dict[str, Status] = {}
            refreshes: dict[str, Verdict] = {}
            for rule in self.rules:
                if ingest and not rule.spec.on_ingest:
                    continue
                rule_statuses: dict[str, Status] = {}
                rule_refreshes: dict[str, Verdict] = {}
                try:
                    pending += self._evaluate_rule(rule, now, rule_statuses, rule_refreshes)
                except Exception:  # one broken rule must not silence the others
                    log.exception("alert rule %s failed to evaluate", rule.name)
                    continue
                statuses.update(rule_statuses)
                refreshes.update(rule_refreshes)
            self._outbox.record(pending)
            self._status.update(statuses)
            self._remember(pending)
            self._refresh(refreshes)
        if pending:
            self._deliver.set()
        return [p.event for p in pending]

    def deliver(self) -> float | None:
        """Send what is due; seconds until the next retry is due (None: nothing waiting)."""
        return self._outbox.deliver_due(self._clock())

    # --- internals -----------------------------------------------------------------------
    def _remember(self, recorded: list[NewEvent]) -> None:
        """Note which event each series fired with (a resolved series has none)."""
        for new in recorded:
            if new.event.state == "firing":
                self._shown[new.alert_key] = (new.event.id, new.event.details.get("value"))
            else:
                self._shown.pop(new.alert_key, None)

    def _refresh(self, verdicts: dict[str, Verdict]) -> None:
        """Rewrite the stored summary of series still firing whose numbers moved materially.

        The dashboard shows a firing alert's stored text: without this an ``unpriced_model``
        alert would say "1 calls" while 41 are unpriced. Nothing is sent again (the same alert,
        no new event), and an event still waiting for its channel goes out with the fresh text.
        """
        for alert_key, verdict in verdicts.items():
            event_id, _ = self._shown[alert_key]
            patch = json.dumps({k: v for k, v in verdict.details.items() if k != "level"}, default=str)
            self._store.execute(sql.REFRESH_EVENT, [verdict.summary, patch, event_id])
            self._shown[alert_key] = (event_id, verdict.value)

    def _evaluate_rule(self, rule: Rule, now: datetime, statuses: dict[str, Status],
                       refreshes: dict[str, Verdict]) -> list[NewEvent]:
        start, end = self._period(rule, now)
        query, params = sql.measure(rule, now, start)
        verdicts = {v.key: v for v in judge(rule, self._store.read_arrow(query, params).to_pylist(), now, end)}
        prefix = f"{rule.name}|"
        keys = set(verdicts) | {k[len(prefix):] for k, s in self._status.items() if k.startswith(prefix) and s.phase != "ok"}
        events = []
        for key in sorted(keys):
            alert_key = prefix + key
            verdict = verdicts.get(key)
            status = self._status.get(alert_key, Status())
            new, transition = step(status, verdict.level if verdict else 0, now, for_=rule.for_, cooldown=rule.cooldown)
            statuses[alert_key] = new
            if transition is not None:
                since = start or (now - rule.window if rule.window else now)
                events.append(self._event(rule, key, alert_key, transition, verdict, now, since, status.level))
            elif new.phase == "firing" and verdict is not None and alert_key in self._shown \
                    and changed(rule, self._shown[alert_key][1], verdict.value):
                refreshes[alert_key] = verdict
        return events

    def _event(self, rule: Rule, key: str, alert_key: str, transition: str, verdict: Verdict | None,
               now: datetime, since: datetime, fired_level: int = 0) -> NewEvent:
        details: dict[str, Any] = dict(verdict.details) if verdict else {"kind": rule.kind, "key": key, "group_by": rule.group_by, "level": 0}
        details["since"] = since.isoformat()
        if transition == "firing":
            if rule.kind not in NOT_CALLS:  # the top spenders of calls say nothing about a bill or a cap
                details["top"] = self._contributors(rule, key, since)
            summary = verdict.summary if verdict else rule.name
        else:
            summary = f"resolved: {verdict.summary}" if verdict else f"resolved: {rule.name}" + _label(rule, key)
        # A resolution goes where the firing went: at the highest level the series fired with.
        severity = severity_of(rule, verdict.level if transition == "firing" and verdict else fired_level)
        event = Event(uuid.uuid4().hex, now, rule.name, severity, transition, summary, details)
        routes = tuple(c.id for c in self.channels if c.wants(rule.name, severity, rule.tags))
        return NewEvent(event, alert_key, routes)

    def _contributors(self, rule: Rule, key: str, since: datetime) -> dict[str, list[dict[str, Any]]]:
        query, params = sql.contributors(rule, key, since)
        top: dict[str, list[dict[str, Any]]] = {}
        for row in self._store.read_arrow(query, params).to_pylist():
            cost = row["cost"]
            top.setdefault(row["dim"], []).append({"value": row["value"], "n": row["n"], "cost": str(cost) if cost is not None else None})
        return top

    def _period(self, rule: Rule, now: datetime) -> tuple[datetime | None, datetime | None]:
        period = rule.params.get("period") if rule.kind in ("budget", "burn_rate") else None
        if period is None:
            return None, None
        local = now.astimezone(self._tz)
        if period == "day":
            start = local.replace(hour=0, minute=0, second=0, microsecond=0)
            end = start + timedelta(days=1)  # wall-clock arithmetic: right across DST changes
        else:
            start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            end = (start + timedelta(days=32)).replace(day=1)
        return start.astimezone(UTC), end.astimezone(UTC)

    def _restore(self) -> None:
        if self._loaded:
            return
        for row in self._store.read_arrow(sql.LATEST_STATES).to_pylist():
            self._status[row["alert_key"]] = restored(row["state"], row["level"], row["last_time"], row["last_fired"])
            if row["state"] == "firing" and row["fired_id"]:
                self._shown[row["alert_key"]] = (row["fired_id"], row["fired_value"])
        self._loaded = True

    def _probe_where_clauses(self) -> None:
        """Let DuckDB bind each filter once, so a type error surfaces at start, not at 3 a.m."""
        keys = {rc.name: f"alerts.rules[{i}].where" for i, rc in enumerate(self._config.alerts.rules)}
        source = str(self._config.config_file or "configuration")
        for rule in self.rules:
            if rule.where:
                try:
                    self._store.read_arrow(f"SELECT count(*) FROM calls WHERE ({rule.where}) AND false")
                except Exception as exc:
                    raise ConfigError(keys.get(rule.name, rule.name), source, str(exc).splitlines()[0]) from None

    def _evaluate_loop(self) -> None:
        every = self._config.alerts.evaluate_every_s
        next_full = 0.0
        while not self._stop.is_set():
            woke = self._ingest.wait(timeout=max(next_full - time.monotonic(), 0.0))
            if self._stop.is_set():
                return
            self._ingest.clear()
            full = time.monotonic() >= next_full
            started = time.monotonic()
            try:
                self.evaluate(ingest=woke and not full)
            except Exception:  # e.g. the store is briefly unwritable: try again next round
                log.exception("alert evaluation pass failed")
            if full:
                next_full = time.monotonic() + every
            # Under constant ingest, rest as long as a pass took: at most half a core on alerts.
            self._stop.wait(max(MIN_GAP_S, time.monotonic() - started))

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            self._deliver.clear()
            try:
                wait = self.deliver()
            except Exception:
                log.exception("alert delivery pass failed")
                wait = 5.0
            self._deliver.wait(timeout=wait if wait is not None else 60.0)


def _label(rule: Rule, key: str) -> str:
    """Which series resolved with no measurement left (e.g. a bill_drift day out of the window)."""
    if rule.group_by:
        return f" [{rule.group_by}={key}]"
    return f" [{key}]" if key != "all" else ""


def _timezone(config: Config) -> ZoneInfo:
    try:
        return ZoneInfo(config.budget.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("budget.timezone", str(config.config_file or "configuration"),
                          f"unknown time zone {config.budget.timezone!r}") from None


__all__ = ("AlertEngine",)
