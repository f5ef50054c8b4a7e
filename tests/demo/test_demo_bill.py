"""`claudescope demo --fake-api URL --untraced-calls N`: a demo day's bill matches what was traced.

A real fake API process (``python -m claudescope.fakeapi``), a real collector process and the
real ``claudescope demo`` command: afterwards the fake's Admin API reports, read over HTTP,
agree with the collector's ``calls`` per UTC day and model (tokens exactly, cost to the
store's 1e-9 quantum per call), and the untraced service is billed but never stored.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from claudescope.fakeapi.ledger import api_key_id
from claudescope.pricing import UNBILLED_OPERATIONS

ADMIN = {"x-api-key": "sk-ant-admin01-demo-test", "anthropic-version": "2023-06-01"}
UNTRACED = 6
CLASSES = ("input_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens",
           "web_search_requests")


def _start_fake(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "claudescope.fakeapi", "--port", "0"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = (proc.stdout.readline() if proc.stdout else "").strip()
    assert url.startswith("http://127.0.0.1:")
    return proc, url


def _report(url: str, path: str, start: str, end: str, groups: list[str], extra: list[tuple[str, str]] = [],  # noqa: B006
            width: str = "1d") -> list[dict[str, Any]]:
    params = [("starting_at", start), ("ending_at", end), ("bucket_width", width), ("limit", "168" if width == "1h" else "31"),
              *(("group_by[]", g) for g in groups), *extra]
    answer = httpx.get(url + path, params=params, headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["has_more"] is False
    size = 13 if width == "1h" else 10  # "2026-12-01T09" or "2026-12-01"
    return [dict(r, day=b["starting_at"][:size]) for b in answer.json()["data"] for r in b["results"]]


def _traced(collector: Any, fmt: str = "%Y-%m-%d") -> dict[tuple[str, str], dict[str, Any]]:
    unbilled = ", ".join(f"'{op}'" for op in sorted(UNBILLED_OPERATIONS))
    rows = collector.query(
        f"SELECT strftime(start_time AT TIME ZONE 'UTC', '{fmt}') AS day, response_model AS model, count(*) AS n, "
        + ", ".join(f"sum({c}) AS {c}" for c in CLASSES)
        + ", sum(cost_usd) AS cost, count(cost_usd) AS priced FROM calls "
        f"WHERE status <> 'error' AND operation NOT IN ({unbilled}) GROUP BY 1, 2")
    return {(r["day"], r["model"]): r for r in rows}


def _wait_rows(collector: Any, expected: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if int(collector.query("SELECT count(*) AS n FROM calls")[0]["n"]) >= expected:
            return
        time.sleep(0.2)


def test_demo_day_reconciles_and_untraced_calls_are_billed(collector: Any, tmp_path: Path) -> None:
    proc, url = _start_fake(tmp_path)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "claudescope", "demo", "--endpoint", collector.url, "--fake-api", url,
             "--calls", "60", "--seed", "5", "--concurrency", "4", "--untraced-calls", str(UNTRACED)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "untraced calls" in done.stdout
        ledger = httpx.get(url + "/v1/fake/ledger", timeout=30).json()["data"]
        demo_id, untraced_id = api_key_id("demo"), api_key_id("untraced-service")
        assert {e["api_key_id"] for e in ledger} == {demo_id, untraced_id}  # the warm-up is not billed
        assert sum(e["api_key_id"] == untraced_id for e in ledger) == UNTRACED
        traced_entries = [e for e in ledger if e["api_key_id"] == demo_id]
        assert any(e["source"] == "batch" for e in traced_entries)
        _wait_rows(collector, len(traced_entries))
        traced = _traced(collector)
        assert sum(int(r["n"]) for r in traced.values()) == len(traced_entries)  # nothing untraced was stored

        days = sorted({e["at"][:10] for e in ledger})
        start, end = days[0] + "T00:00:00Z", days[-1] + "T23:59:59Z"
        # Tokens match to the hour: each answer is billed at the moment claudescope dates it.
        hourly = _traced(collector, "%Y-%m-%dT%H")
        usage = _report(url, "/v1/organizations/usage_report/messages", start, end, ["model"],
                        [("api_key_ids[]", demo_id)], width="1h")
        assert {(r["day"], r["model"]) for r in usage} == set(hourly) and len(hourly) > 10
        for row in usage:
            mine = hourly[(row["day"], row["model"])]
            bill = (row["uncached_input_tokens"], row["cache_read_input_tokens"],
                    row["cache_creation"]["ephemeral_5m_input_tokens"], row["cache_creation"]["ephemeral_1h_input_tokens"],
                    row["output_tokens"], row["server_tool_use"]["web_search_requests"])
            assert bill == tuple(int(mine[c] or 0) for c in CLASSES), (row["day"], row["model"])

        costs: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in _report(url, "/v1/organizations/cost_report", start, end, ["description"]):
            costs[(row["day"], row["model"])] += Decimal(row["amount"]) / 100
        # The untraced service's share, from list prices (no cache, no search, standard tier):
        # Sonnet 4.6 $3 / $15 and Haiku 4.5 $1 / $5 per million input / output tokens.
        rates = {"claude-sonnet-4-6": (3, 15), "claude-haiku-4-5-20251001": (1, 5)}
        untraced_usd: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in _report(url, "/v1/organizations/usage_report/messages", start, end, ["model"],
                           [("api_key_ids[]", untraced_id)]):
            rate_in, rate_out = rates[row["model"]]
            untraced_usd[(row["day"], row["model"])] += (
                Decimal(row["uncached_input_tokens"] * rate_in + row["output_tokens"] * rate_out) / 10**6)
        assert sum(untraced_usd.values()) > 0
        compared = 0
        for key, mine in traced.items():
            if int(mine["priced"]) == 0:
                assert key not in costs  # the unpriced model: neither side can price it
                continue
            quantum = Decimal("1e-9") * 6 * int(mine["n"])  # the store rounds each call's parts to 1e-9
            assert abs(Decimal(str(mine["cost"])) + untraced_usd[key] - costs[key]) <= quantum, key
            compared += 1
        assert compared >= 4 and set(costs) <= set(traced) | set(untraced_usd)
        whole = _report(url, "/v1/organizations/usage_report/messages", start, end, ["api_key_id"])
        extra = sum(r["uncached_input_tokens"] for r in whole if r["api_key_id"] == untraced_id)
        assert extra == sum(e["uncached_input_tokens"] for e in ledger if e["api_key_id"] == untraced_id) > 0
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_no_fake_at_the_url_is_a_one_line_error(tmp_path: Path) -> None:
    from claudescope.fakeapi.server import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "claudescope", "demo", "--endpoint", dead, "--fake-api", dead, "--calls", "5"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip()
    assert len(said.splitlines()) == 1
    assert "no claudescope fake API answers at" in said and "python -m claudescope.fakeapi" in said
