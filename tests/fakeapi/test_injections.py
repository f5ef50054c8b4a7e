"""Billing injections (untraced usage, billing prices, spend limits), each of the three ways."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest

from claudescope.fakeapi.billing import BillingConfig, BillingError
from claudescope.fakeapi.ledger import api_key_id

from tests.fakeapi.conftest import ADMIN, APP_KEY, Fake, now_header

COST = "/v1/organizations/cost_report"
USAGE = "/v1/organizations/usage_report/messages"
D = datetime(2026, 11, 25, tzinfo=timezone.utc)
DAY = [("starting_at", "2026-11-25T00:00:00Z"), ("ending_at", "2026-11-26T00:00:00Z")]
BETA = {**ADMIN, "anthropic-beta": "spend-limit-reads-2026-09-26"}
UNTRACED_ID = api_key_id("untraced-service")


def _usage_by_key(api: Fake) -> dict[Any, tuple[int, int]]:
    report = api.report(USAGE, DAY + [("group_by[]", "api_key_id"), ("group_by[]", "model"), ("group_by[]", "workspace_id")])
    return {(r["api_key_id"], r["model"], r["workspace_id"]): (r["uncached_input_tokens"], r["output_tokens"])
            for b in report["data"] for r in b["results"]}


def _costs(api: Fake) -> dict[str, Decimal]:
    report = api.report(COST, DAY + [("group_by[]", "description")])
    return {r["description"]: Decimal(r["amount"]) for b in report["data"] for r in b["results"]}


def _check_injected(api: Fake) -> None:
    """50000 in / 8000 out of claude-sonnet-4-6 untraced on D (workspace wrkspc_U); cache read billed at 0.50."""
    api.call(headers={**now_header(D + timedelta(hours=8)), "x-fake-usage": "input=1000,cache_read=10000,output=100"})
    usage = _usage_by_key(api)
    assert usage[(UNTRACED_ID, "claude-sonnet-4-6", "wrkspc_U")] == (50000, 8000)
    assert usage[(api_key_id(APP_KEY), "claude-sonnet-4-6", None)] == (1000, 100)
    costs = _costs(api)
    # cache read at 0.50 USD/MTok instead of the table's 0.30: 10000 x 0.50 / 1e6 USD = 0.5 cents
    assert costs["Claude Sonnet 4.6 Usage - Cache Read"] == Decimal("0.5")
    assert costs["Claude Sonnet 4.6 Usage - Input Tokens"] == Decimal(51000) * 3 / 10**6 * 100  # unchanged price
    assert costs["Claude Sonnet 4.6 Usage - Output Tokens"] == Decimal(8100) * 15 / 10**6 * 100
    limits = api.get("/v1/organizations/spend_limits", headers=BETA).json()["data"]
    assert sorted((l["scope"]["type"], l["scope"].get("workspace_id"), l["period"], l["amount"]) for l in limits) == [
        ("organization", None, "monthly", "50000"), ("workspace", "wrkspc_x", "daily", "2000")]


UNTRACED = "2026-11-25:claude-sonnet-4-6:wrkspc_U:input=50000,output=8000"
PRICE = "claude-sonnet-4-6:cache_read=0.50"
LIMITS = ["organization:monthly:500", "wrkspc_x:daily:20"]


def test_injected_through_create_fake_api(fake: Any) -> None:
    _check_injected(fake(billing=BillingConfig.parse([UNTRACED], [PRICE], LIMITS)))
    with pytest.raises(BillingError, match="period"):
        fake(billing=BillingConfig.parse(spend_limits=["organization:yearly:5"]))


def test_injected_through_the_control_endpoint(fake: Any) -> None:
    api = fake()
    body = {
        "untraced": [{"day": "2026-11-25", "model": "claude-sonnet-4-6", "workspace_id": "wrkspc_U",
                      "usage": {"input": 30000, "output": 8000}}, "2026-11-25:claude-sonnet-4-6:wrkspc_U:input=20000"],
        "prices": {"claude-sonnet-4-6": {"cache_read": 0.50}},
        "spend_limits": [LIMITS[0], {"scope": "wrkspc_x", "period": "daily", "amount_usd": "20"}],
    }
    answer = httpx.post(api.url + "/v1/fake/billing", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["prices"] == {"claude-sonnet-4-6": {"cache_read": "0.5"}}
    assert len(answer.json()["untraced"]) == 2
    _check_injected(api)
    assert httpx.get(api.url + "/v1/fake/billing").json()["spend_limits"] == \
        api.get("/v1/organizations/spend_limits", headers=BETA).json()["data"]


@pytest.mark.parametrize("body,needle", [
    ({"untraced": ["2026-13-01:claude-sonnet-4-6:input=5"]}, "day"),
    ({"untraced": ["2026-11-25:claude-sonnet-4-6:input=0"]}, "bills nothing"),
    ({"untraced": [{"day": "2026-11-25", "model": "m", "usage": {"tokens": 5}}]}, "tokens"),
    ({"prices": {"claude-sonnet-4-6": {"cache_read": -1}}}, "negative"),
    ({"prices": ["claude-nimbus-preview:cache_read=1"]}, "input and output"),
    ({"spend_limits": ["wrkspc_x:daily:20.001"]}, "cents"),
    ({"spend_limits": ["team:daily:20"]}, "scope"),
    ({"refunds": []}, "refunds"),
    ("not json", "JSON"),
])
def test_malformed_control_body_is_400_and_applies_nothing(idle_fake: Fake, body: Any, needle: str) -> None:
    api = idle_fake
    good = {"untraced": [UNTRACED], "spend_limits": LIMITS}
    if isinstance(body, dict):
        body = {**good, **body}  # the good items beside the bad one are not applied either
    answer = httpx.post(api.url + "/v1/fake/billing", **({"json": body} if isinstance(body, dict) else {"content": body}))
    assert answer.status_code == 400 and answer.json()["error"]["type"] == "invalid_request_error"
    assert needle in answer.json()["error"]["message"]
    assert httpx.get(api.url + "/v1/fake/billing").json() == {"untraced": [], "prices": {}, "spend_limits": []}
    assert api.ledger() == []


def test_injected_through_the_command_line() -> None:
    cmd = [sys.executable, "-m", "claudescope.fakeapi", "--port", "0", "--latency-scale", "0",
           "--bill-untraced", UNTRACED, "--bill-price", PRICE, *(a for lim in LIMITS for a in ("--spend-limit", lim))]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = (proc.stdout.readline() if proc.stdout else "").strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        _check_injected(Fake(url, None))
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_malformed_flag_is_a_one_line_error() -> None:
    done = subprocess.run([sys.executable, "-m", "claudescope.fakeapi", "--spend-limit", "organization:monthly:lots"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m claudescope.fakeapi: error: spend limit") and "amount" in last


@pytest.mark.parametrize("flag,value,needle", [
    ("--bill-untraced", "2026-11-25:claude-sonnet-4-6", "expected DAY:MODEL"),
    ("--bill-untraced", "2026-11-25:claude-sonnet-4-6:input=-5", "negative"),
    ("--bill-price", "claude-sonnet-4-6:cache_reed=0.5", "cache_reed"),
    ("--bill-price", "claude-sonnet-4-6:cache_read=cheap", "number"),
    ("--spend-limit", "wrkspc_x:hourly:20", "period"),
])
def test_each_malformed_flag_names_the_problem(capsys: Any, flag: str, value: str, needle: str) -> None:
    from claudescope.fakeapi.cli import main

    with pytest.raises(SystemExit) as stopped:
        main([flag, value])  # the parser refuses before anything is served
    assert stopped.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("python -m claudescope.fakeapi: error:") and needle in last
