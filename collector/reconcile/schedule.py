"""The collector's daily reconcile run (``[reconcile] daily = true`` and the admin key set).

Once a day at ``daily_hour_utc`` UTC the collector reconciles the last ``lookback_days`` full UTC
days and today against the Admin API, as ``claudescope reconcile`` would, and records
the run with trigger ``daily``. A collector that was down at that hour catches up shortly
after it starts when no run finished in the last 24 hours. A failed run logs one line, is
recorded as failed by the job, and is retried the next day (or at the next start).

The timing is pure functions (:func:`next_daily_run`, :func:`catch_up_due`,
:func:`reconcile_window`), so it is tested without waiting for a day.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from claudescope.collector.reconcile.admin_client import one_line
from claudescope.collector.reconcile.job import default_period, reconcile_from_api
from claudescope.collector.store import Store, StoreError
from claudescope.config import Config

__all__ = ["CATCH_UP_AFTER_S", "DailyReconcile", "catch_up_due", "next_daily_run", "reconcile_window"]

log = logging.getLogger("claudescope.collector.reconcile")
CATCH_UP_AFTER_S = 5.0  # let the collector come up and take its first spans before the catch-up run
RECHECK_EVERY_S = 300.0  # wake up this often to re-read the clock (suspend, a clock step)
_DAY = timedelta(days=1)


def next_daily_run(now: datetime, hour_utc: int) -> datetime:
    """The first ``hour_utc``:00 UTC strictly after ``now`` (an aware datetime)."""
    now = now.astimezone(UTC)
    today = datetime.combine(now.date(), time(hour_utc), tzinfo=UTC)
    return today if today > now else today + _DAY


def catch_up_due(last_finished: datetime | None, now: datetime) -> bool:
    """Whether a start-up run is due: no reconcile run finished in the 24 hours before ``now``."""
    return last_finished is None or now - last_finished >= _DAY


def reconcile_window(now: datetime, lookback_days: int) -> tuple[date, date]:
    """(since, until), inclusive UTC days, as ``claudescope reconcile`` without --since: the last
    ``lookback_days`` full UTC days and today."""
    return default_period(now.astimezone(UTC).date(), lookback_days)


class DailyReconcile:
    """A thread that runs the daily reconcile (and the start-up catch-up) until ``stop`` is set."""

    def __init__(self, store: Store, config: Config, stop: threading.Event,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._store = store
        self._config = config
        self._stop = stop
        self._clock = clock
        self._thread = threading.Thread(target=self._loop, name="claudescope-daily-reconcile", daemon=True)

    @classmethod
    def for_config(cls, store: Store, config: Config, stop: threading.Event) -> DailyReconcile | None:
        """The daily run for ``config``, or None when it is off or there is no admin key."""
        if not config.reconcile.daily or config.reconcile.admin_key is None:
            return None
        return cls(store, config, stop)

    def start(self) -> DailyReconcile:
        """Start the schedule in the background."""
        self._thread.start()
        return self

    def join(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the thread to end (after the stop event is set)."""
        self._thread.join(timeout_s)

    def run_once(self) -> None:
        """Reconcile the window ending today; a failure is logged in one line, never raised."""
        since, until = reconcile_window(self._clock(), self._config.reconcile.lookback_days)
        try:
            report = reconcile_from_api(self._store, self._config, since=since, until=until, trigger="daily")
        except Exception as exc:  # the job records the failed run; the schedule goes on
            log.warning("daily reconcile %s..%s failed: %s", since, until, one_line(exc))
            return
        if report.error:
            log.warning("daily reconcile %s..%s failed: %s", since, until, one_line(report.error))
        else:
            log.info("daily reconcile %s..%s done: %d rows compared, %d do not match the bill",
                     since, until, report.rows_compared, report.rows_mismatched)

    def _catch_up_due(self) -> bool:
        try:
            return catch_up_due(self._store.last_finished_reconcile_at(), self._clock())
        except StoreError as exc:
            log.warning("daily reconcile: cannot read the last run (%s); running one now", one_line(exc))
            return True

    def _loop(self) -> None:
        if self._catch_up_due() and not self._stop.wait(CATCH_UP_AFTER_S):
            self.run_once()
        while not self._stop.is_set():
            due = next_daily_run(self._clock(), self._config.reconcile.daily_hour_utc)
            log.info("next daily reconcile at %s", due.strftime("%Y-%m-%d %H:%M UTC"))
            if self._sleep_until(due):
                return
            self.run_once()

    def _sleep_until(self, due: datetime) -> bool:
        """Wait until ``due`` by the clock; True when stopped first."""
        while (left := (due - self._clock()).total_seconds()) > 0:
            if self._stop.wait(min(left, RECHECK_EVERY_S)):
                return True
        return self._stop.is_set()

