"""The collector's daily reconcile run: when it runs (pure functions, no waiting for a day), and
the start-up catch-up run end to end with a real collector against the bundled fake Admin API."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import anthropic
import pytest

from claudescope.collector.reconcile.job import reconcile_from_api
from claudescope.collector.reconcile.schedule import DailyReconcile, catch_up_due, next_daily_run, reconcile_window
from claudescope.collector.store import Store
from claudescope.config import load_config
from claudescope.fakeapi.app import create_fake_api
from claudescope.fakeapi.server import ServerThread
from tests.fixtures_collector import call_span
from tests.fixtures_alerts import wait_for

WAIT_S = 30.0  # the collector's background threads get this long to act


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("now", "hour", "expected"), [
    ("2026-12-02 05:59:59", 6, "2026-12-02 06:00:00"),   # later today
    ("2026-12-02 06:00:00", 6, "2026-12-03 06:00:00"),   # exactly at the hour: the run is being made now, next is tomorrow
    ("2026-12-02 06:00:01", 6, "2026-12-03 06:00:00"),
    ("2026-12-02 23:30:00", 0, "2026-12-03 00:00:00"),   # midnight UTC
    ("2026-12-31 23:59:59", 23, "2027-01-01 23:00:00"),  # year end
    ("2027-02-28 07:00:00", 6, "2027-03-01 06:00:00"),   # month end
])
def test_next_daily_run_is_the_next_hour_utc_strictly_after_now(now: str, hour: int, expected: str) -> None:
    assert next_daily_run(_at(now), hour) == _at(expected)


def test_next_daily_run_reads_the_hour_in_utc_whatever_the_zone_of_now() -> None:
    # 07:30 in UTC+2 is 05:30 UTC: the 06:00 UTC run is still ahead today
    now = datetime(2026, 12, 2, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    due = next_daily_run(now, 6)
    assert due == _at("2026-12-02 06:00:00") and due.utcoffset() == timedelta(0)


def test_catch_up_is_due_without_a_finished_run_younger_than_a_day() -> None:
    now = _at("2026-12-02 12:00:00")
    assert catch_up_due(None, now)
    assert catch_up_due(now - timedelta(hours=24), now)
    assert catch_up_due(now - timedelta(days=9), now)
    assert not catch_up_due(now - timedelta(hours=23, minutes=59), now)
    assert not catch_up_due(now - timedelta(minutes=1), now)


def test_the_window_is_the_last_lookback_days_utc_days_and_today() -> None:
    assert reconcile_window(_at("2026-12-02 06:00:00"), 7) == (date(2026, 11, 25), date(2026, 12, 2))
    assert reconcile_window(_at("2026-12-02 06:00:00"), 1) == (date(2026, 12, 1), date(2026, 12, 2))
    # 01:00 on the 3rd in UTC+3 is still the 2nd in UTC
    assert reconcile_window(datetime(2026, 12, 3, 1, 0, tzinfo=timezone(timedelta(hours=3))), 2) == (date(2026, 11, 30), date(2026, 12, 2))


# --- a real collector process against the bundled fake Admin API -------------------------------

KEY = "sk-ant-admin01-SECRET-" + uuid.uuid4().hex
DAILY = "[reconcile]\ndaily = true\ndaily_hour_utc = {hour}\nlookback_days = 2\n"



def _far_hour() -> int:
    """A daily hour at least 2 hours away, so only the catch-up can run during the test."""
    return (datetime.now(UTC).hour + 12) % 24


@pytest.fixture
def admin_fake() -> Iterator[str]:
    """A private fake API accepting only KEY on its Admin API, with one billed call today."""
    with ServerThread(create_fake_api(latency_scale=0.0, admin_keys=[KEY]), log_level="error") as server:
        client = anthropic.Anthropic(base_url=server.base_url, api_key="sk-ant-api03-app", max_retries=0)
        client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
        client.close()
        yield server.base_url


def _runs(running: Any) -> list[dict[str, Any]]:
    return running.query("SELECT trigger, since, until, rows_compared, error FROM reconcile_runs ORDER BY run_at")


def _env(url: str, key: str = KEY) -> dict[str, str]:
    return {"ANTHROPIC_ADMIN_API_KEY": key, "CLAUDESCOPE_ADMIN_API_URL": url}


def test_a_collector_with_no_recent_run_catches_up_shortly_after_start(collector_factory: Any, admin_fake: str, tmp_path: Path) -> None:
    running = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake), data_dir=tmp_path / "data")
    runs = wait_for(lambda: _runs(running), timeout=WAIT_S, what="the catch-up run")
    today = datetime.now(UTC).date()
    assert runs == [{"trigger": "daily", "since": str(today - timedelta(days=2)), "until": str(today),
                     "rows_compared": runs[0]["rows_compared"], "error": None}]
    assert runs[0]["rows_compared"] >= 1  # the fake's bill of today's call was compared
    wait_for(lambda: "next daily reconcile at" in running.log(), timeout=WAIT_S, what="the schedule after the catch-up")
    assert running.stop() == 0
    log = running.log()
    assert len([line for line in log.splitlines() if "daily reconcile" in line and "done" in line]) == 1
    # a restart within 24 h of a finished run does not reconcile again: it only schedules
    again = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake), data_dir=tmp_path / "data")
    wait_for(lambda: "next daily reconcile at" in again.log(), timeout=WAIT_S, what="the schedule")
    assert len(_runs(again)) == 1
    assert not [line for line in again.log().splitlines() if "daily reconcile" in line and ("done" in line or "failed" in line)]


def test_a_finished_command_run_counts_so_the_start_does_not_repeat_it(collector_factory: Any, admin_fake: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    plain = collector_factory(data_dir=data)  # no key: the command reads the Admin API, the collector stores the run
    result = subprocess.run(
        [sys.executable, "-m", "claudescope", "reconcile", "--data", str(data), "--api", plain.url], cwd=tmp_path,
        env={**_clean_env(), **_env(admin_fake)}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert plain.stop() == 0
    running = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake), data_dir=data)
    wait_for(lambda: "next daily reconcile at" in running.log(), timeout=WAIT_S, what="the schedule")
    assert [r["trigger"] for r in _runs(running)] == ["command"]


def test_a_failed_daily_run_is_recorded_logged_in_one_line_and_retried_at_the_next_start(
    collector_factory: Any, admin_fake: str, tmp_path: Path,
) -> None:
    refused = "sk-ant-admin01-REFUSED-" + uuid.uuid4().hex  # an admin key the fake does not know: 401
    running = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake, refused), data_dir=tmp_path / "data")
    runs = wait_for(lambda: _runs(running), timeout=WAIT_S, what="the failed catch-up run")
    assert runs[0]["trigger"] == "daily" and "401" in runs[0]["error"] and runs[0]["rows_compared"] == 0
    assert running.post_spans([call_span()]).status_code == 200  # ingest is not held by it
    wait_for(lambda: running.query("SELECT count(*) AS n FROM calls")[0]["n"] == 1, timeout=WAIT_S, what="the span stored")
    wait_for(lambda: "next daily reconcile at" in running.log(), timeout=WAIT_S, what="the schedule after the failure")
    assert running.stop() == 0
    failures = [line for line in running.log().splitlines() if "daily reconcile" in line and "failed" in line]
    assert len(failures) == 1 and "401" in failures[0]
    assert refused not in running.log() and refused[:20] not in running.log()
    # a failed run is no reason to wait a day: the next start tries again, and with the right key it works
    again = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake), data_dir=tmp_path / "data")
    runs = wait_for(lambda: len(got := _runs(again)) == 2 and got, timeout=WAIT_S, what="the retry")
    assert runs[1]["error"] is None and runs[1]["trigger"] == "daily"


def test_the_daily_threads_stop_promptly_on_shutdown(collector_factory: Any, admin_fake: str) -> None:
    running = collector_factory(DAILY.format(hour=_far_hour()), env=_env(admin_fake))
    wait_for(lambda: "next daily reconcile at" in running.log() or _runs(running), timeout=WAIT_S, what="the daily thread running")
    started = time.monotonic()
    assert running.stop() == 0
    assert time.monotonic() - started < 8


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("CLAUDESCOPE_", "OTEL_", "ANTHROPIC_"))}


def test_the_schedule_runs_at_the_daily_hour(admin_fake: str, tmp_path: Path) -> None:
    """The thread itself, with a clock that starts two seconds before 06:00 UTC and then runs at
    real speed: it sleeps until the hour and reconciles once (in process, a real store and the fake)."""
    today = datetime.now(UTC).date()
    start, t0 = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=6, seconds=-2), time.monotonic()
    (tmp_path / "claudescope.toml").write_text(DAILY.format(hour=6).replace("lookback_days = 2", "lookback_days = 1"))
    config = replace(load_config(tmp_path / "claudescope.toml", env=_env(admin_fake)), data_dir=tmp_path / "data")
    store = Store.open(config.db_path)
    stop = threading.Event()
    try:
        reconcile_from_api(store, config, since=today, until=today, trigger="command")  # a finished run: no catch-up
        daily = DailyReconcile(store, config, stop, clock=lambda: start + timedelta(seconds=time.monotonic() - t0)).start()
        time.sleep(1.0)
        assert _triggers(store) == ["command"]  # 05:59:59: not yet
        wait_for(lambda: _triggers(store) == ["command", "daily"], timeout=15, what="the 06:00 run")
        assert store.read_arrow("SELECT since, until FROM reconcile_runs WHERE trigger = 'daily'").to_pylist() == [
            {"since": today - timedelta(days=1), "until": today}]
        stop.set()
        daily.join(5)
    finally:
        stop.set()
        store.close()


def _triggers(store: Store) -> list[str]:
    return [r["trigger"] for r in store.read_arrow("SELECT trigger FROM reconcile_runs ORDER BY run_at").to_pylist()]
