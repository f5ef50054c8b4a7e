"""A real collector reconciles reports handed to ``POST /api/v1/admin/reconcile`` with its calls.

Proves the store's side: which calls count (billed, not superseded: failed calls and
count_tokens do not; priority-tier tokens count but their cost is set apart), the UTC day, the
workspace read from ``anthropic.workspace.id``, one transaction per run in ``reconcile_runs`` /
``reconciliation``, the ``reconciliation_latest`` view, a failed run, and a bad body answered
400 while the collector keeps serving.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from claudescope import semconv as sc
from tests.fixtures_collector import RunningCollector, call_span

DAY = (datetime.now(UTC) - timedelta(days=2)).date()
AT = datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=UTC)


def _calls() -> list[dict[str, Any]]:
    sonnet = {"model": "claude-sonnet-5-5", "service": "api", "start": AT}
    return [
        *(call_span(input_tokens=1000, output_tokens=200, **sonnet) for _ in range(3)),
        # Failed and count_tokens calls bill nothing: the bill has none of their tokens.
        call_span(input_tokens=1000, output_tokens=0, error_type="overloaded_error", http_status=529, **sonnet),
        call_span(operation="count_tokens", input_tokens=0, output_tokens=0, **sonnet),
        # Priority tier: in the usage report, absent from the cost report.
        call_span(input_tokens=500, output_tokens=100, attributes={sc.ANTHROPIC_RESPONSE_SERVICE_TIER: "priority"}, **sonnet),
        # A call just before midnight UTC belongs to the day before: not in this comparison.
        call_span(input_tokens=7777, output_tokens=1, model="claude-sonnet-5-5", start=AT - timedelta(hours=10, seconds=1)),
        call_span(input_tokens=4000, output_tokens=400, model="claude-haiku-4-5-20251001", service="jobs", start=AT,
                  attributes={sc.ANTHROPIC_WORKSPACE_ID: "wrkspc_A"}),
    ]


def _cost(cents: str, token_type: str, model: str, workspace: str | None = None) -> dict[str, Any]:
    return {"amount": cents, "currency": "USD", "workspace_id": workspace, "description": f"{model} tokens", "cost_type": "tokens",
            "context_window": "0-200k", "model": model, "service_tier": "standard", "token_type": token_type, "inference_geo": None}


def _usage(model: str, inp: int, out: int, *, tier: str = "standard", workspace: str | None = None) -> dict[str, Any]:
    return {"uncached_input_tokens": inp, "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}, "output_tokens": out,
            "server_tool_use": {"web_search_requests": 0}, "api_key_id": None, "workspace_id": workspace, "model": model,
            "service_tier": tier, "context_window": None, "inference_geo": None}


def _bucket(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"starting_at": f"{DAY}T00:00:00Z", "ending_at": f"{DAY + timedelta(days=1)}T00:00:00Z", "results": results}]


def _request() -> dict[str, Any]:
    # sonnet-5-5 at $2 / $10 per MTok: 3000 input = 0.6 cents, 600 output = 0.6 cents.
    # haiku-4-5 at $1 / $5: wrkspc_A's 4000 / 400 = 0.4 + 0.2 cents; the default workspace's
    # 9000 / 1000 were made by no traced call.
    cost = [_cost("0.6", "uncached_input_tokens", "claude-sonnet-5-5"), _cost("0.6", "output_tokens", "claude-sonnet-5-5"),
            _cost("0.4", "uncached_input_tokens", "claude-haiku-4-5", "wrkspc_A"),
            _cost("0.2", "output_tokens", "claude-haiku-4-5", "wrkspc_A"),
            _cost("0.9", "uncached_input_tokens", "claude-haiku-4-5"), _cost("0.5", "output_tokens", "claude-haiku-4-5")]
    usage = [_usage("claude-sonnet-5-5", 3000, 600), _usage("claude-sonnet-5-5", 500, 100, tier="priority"),
             _usage("claude-haiku-4-5", 4000, 400, workspace="wrkspc_A"), _usage("claude-haiku-4-5", 9000, 1000)]
    return {"since": str(DAY), "until": str(DAY), "cost_report": _bucket(cost), "usage_report": _bucket(usage)}


def _post(collector: RunningCollector, body: Any) -> httpx.Response:
    return httpx.post(collector.url + "/api/v1/admin/reconcile", json=body, timeout=60)


def test_the_collector_compares_handed_reports_with_its_calls(collector: RunningCollector) -> None:
    assert collector.post_spans(_calls()).status_code == 200
    r = _post(collector, _request())
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["error"], report["rows_compared"], report["rows_mismatched"]) == (None, 3, 1)
    rows = {(x["model"], x["workspace_id"]): x for x in report["rows"]}
    sonnet = rows[("claude-sonnet-5-5", "*")]
    assert (sonnet["cause"], sonnet["matches"], sonnet["calls"]) == ("match", True, 4)
    assert (Decimal(sonnet["bill_usd"]), Decimal(sonnet["calls_usd"]), Decimal(sonnet["priority_usd"])) == (
        Decimal("0.012"), Decimal("0.012"), Decimal("0.002"))
    assert (sonnet["calls_input_tokens"], sonnet["bill_input_tokens"]) == (3500, 3500)
    assert rows[("claude-haiku-4-5", "wrkspc_A")]["cause"] == "match"
    untraced = rows[("claude-haiku-4-5", "default")]
    assert (untraced["cause"], untraced["calls"]) == ("untraced", 0)
    assert "10,000 more tokens" in untraced["explanation"] and "api, jobs" in untraced["explanation"]

    stored = collector.query(f"SELECT * FROM reconcile_runs WHERE run_id = '{report['run_id']}'")
    assert [(s["trigger"], s["rows_compared"], s["rows_mismatched"], s["error"]) for s in stored] == [("command", 3, 1, None)]
    assert Decimal(stored[0]["bill_usd"]) == Decimal("0.032")
    latest = collector.query("SELECT model, workspace_id, cause, run_id FROM reconciliation_latest ORDER BY ALL")
    assert [(x["model"], x["workspace_id"], x["cause"]) for x in latest] == [
        ("claude-haiku-4-5", "default", "untraced"), ("claude-haiku-4-5", "wrkspc_A", "match"), ("claude-sonnet-5-5", "*", "match")]

    # A second run of the same day supersedes the first in the latest view; both stay stored.
    second = _post(collector, _request()).json()
    latest_ids = {x["run_id"] for x in collector.query("SELECT run_id FROM reconciliation_latest")}
    assert latest_ids == {second["run_id"]}
    assert collector.query("SELECT count(*) AS n FROM reconciliation")[0]["n"] == 6


def test_a_failed_run_is_recorded_with_its_error_and_no_rows(collector: RunningCollector) -> None:
    body = {"since": str(DAY), "until": str(DAY), "error": "Admin API /v1/organizations/cost_report answered 401: nope"}
    report = _post(collector, body).json()
    assert report["error"].startswith("Admin API") and report["rows"] == []
    run = collector.query(f"SELECT error, rows_compared FROM reconcile_runs WHERE run_id = '{report['run_id']}'")
    assert run == [{"error": body["error"], "rows_compared": 0}]
    assert collector.query("SELECT count(*) AS n FROM reconciliation_latest")[0]["n"] == 0


def test_a_bad_body_is_400_and_the_collector_keeps_serving(collector: RunningCollector) -> None:
    for body in ([], {"since": "yesterday", "until": str(DAY)}, {"since": str(DAY), "until": str(DAY - timedelta(days=1)),
                                                                 "cost_report": [], "usage_report": []},
                 {"since": str(DAY), "until": str(DAY), "cost_report": {}, "usage_report": []},
                 {**_request(), "tolerance": "2"}, {**_request(), "tolerance": "NaN"},
                 {**_request(), "pricing": {"overrides": {"m": {"input": "-1", "output": "1"}}}}):
        r = _post(collector, body)
        assert r.status_code == 400 and r.json()["error"].startswith("bad request"), (body, r.text)
    bad_amount = _request()
    bad_amount["cost_report"][0]["results"][0]["amount"] = "twelve"
    report = _post(collector, bad_amount).json()
    assert "amount 'twelve'" in report["error"]  # a report of the wrong shape: a failed run, one line
    assert httpx.get(collector.url + "/healthz").status_code == 200
    assert collector.query("SELECT count(*) AS n FROM reconcile_runs")[0]["n"] == 1
