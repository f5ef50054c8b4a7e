"""`claudescope demo` at its edges: rate limits on the demo's clock, an honest progress bar, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from rich.console import Console

from claudescope.demo import run_demo
from claudescope.demo.scenario import rate_limits


def _quiet() -> Console:
    return Console(file=open(os.devnull, "w"), force_terminal=False)  # noqa: SIM115


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDESCOPE_", "OTEL_"))}


def _rows(collector: Any) -> int:
    return int(collector.query("SELECT count(*) AS n FROM calls")[0]["n"])


_REQUESTS = "claudescope.ratelimit.requests"
_ISOLATED_CALLS = f"""
WITH admitted AS (
    SELECT start_time,
           TRY_CAST(json_extract_string(attributes, '$."{_REQUESTS}.remaining"') AS BIGINT) AS remaining,
           TRY_CAST(json_extract_string(attributes, '$."{_REQUESTS}.limit"') AS BIGINT) AS lim,
           lag(start_time) OVER (ORDER BY start_time) AS previous
    FROM calls WHERE operation = 'chat' AND status = 'ok'
)
SELECT count(*) AS isolated,
       count(*) FILTER (WHERE remaining = lim - 1) AS full_bucket,
       min(lim) AS lim
FROM admitted WHERE previous IS NOT NULL AND start_time - previous > INTERVAL 61 SECOND
"""


def test_rate_limits_run_on_the_demo_clock(collector: Any) -> None:
    # A call made after a quiet simulated minute finds the fake's buckets full again: its
    # `requests` headroom is the limit minus itself. On real time (the bug) the whole day ran
    # in seconds, every call drained the buckets further, and headroom sank to 0 all evening.
    calls = 150
    summary = run_demo(endpoint=collector.url, calls=calls, seed=7, live_api_key=None, concurrency=6, console=_quiet())
    expected = summary.calls + summary.batch_results
    deadline = time.monotonic() + 30
    while _rows(collector) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    row = collector.query(_ISOLATED_CALLS)[0]
    assert int(row["lim"]) == rate_limits(calls)["requests_per_minute"]
    assert int(row["isolated"]) >= 20, row
    # Concurrent callers reach the fake slightly out of simulated order, so not every one.
    assert int(row["full_bucket"]) >= 0.6 * int(row["isolated"]), row


def test_progress_bar_counts_the_calls_it_makes(collector: Any) -> None:
    # 60 calls plus the day's Message Batch (made from 50 calls up): the bar says 60/60, not 61/61.
    done = subprocess.run(
        [sys.executable, "-m", "claudescope", "demo", "--endpoint", collector.url, "--calls", "60", "--seed", "3",
         "--concurrency", "4"], capture_output=True, text=True, timeout=180, env=_env())
    assert done.returncode == 0, done.stderr
    assert "60/60 calls" in done.stderr + done.stdout, done.stderr
    assert "61/61" not in done.stderr + done.stdout


def test_ctrl_c_stops_the_demo_with_one_line(collector: Any) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "claudescope", "demo", "--endpoint", collector.url, "--calls", "3000",
         "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.monotonic() + 120
        while _rows(collector) < 10:  # the day is under way: its first spans are stored
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("demo:")]
    assert len(lines) == 1 and "interrupted after" in lines[0] and "of 3,000 calls" in lines[0], err
    made = int(lines[0].split("interrupted after ", 1)[1].split(" ", 1)[0].replace(",", ""))
    assert 10 <= made < 3000
    assert "claudescope demo" not in out  # no summary of a day that did not happen
    deadline = time.monotonic() + 10
    while _rows(collector) < made and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _rows(collector) >= made  # the spans of every call made were flushed before exiting


def test_fake_rate_limits_follow_x_fake_now(fake_api_server: Any) -> None:
    # The limiter refills on the request's simulated time (x-fake-now), not on the wall clock.
    import anthropic

    url = fake_api_server(seed=1, requests_per_minute=10)
    client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    day = 1_800_000_000.0

    def remaining(at: float) -> int:
        raw = client.messages.with_raw_response.create(
            model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-fake-now": f"{at:.3f}"})
        return int(raw.headers["anthropic-ratelimit-requests-remaining"])

    try:
        assert [remaining(day), remaining(day + 1), remaining(day + 2)] == [9, 8, 7]
        assert remaining(day + 120) == 9  # two simulated minutes later: full again, in no real time
        assert remaining(day + 60) == 8  # an earlier simulated time does not run the clock back
    finally:
        client.close()
