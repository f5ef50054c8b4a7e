"""The fake's Admin API reports over real HTTP: buckets, group_by, filters, pages, cents, auth."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import anthropic
import pytest

from claudescope.fakeapi.ledger import api_key_id

from tests.fakeapi.conftest import ADMIN, ADMIN_KEY, APP_KEY, now_header

COST = "/v1/organizations/cost_report"
USAGE = "/v1/organizations/usage_report/messages"
D = datetime(2026, 11, 28, tzinfo=timezone.utc)  # a UTC midnight
OTHER_KEY = "sk-ant-api03-reporting-service"


def _q(start: datetime, end: datetime | None = None, **extra: Any) -> list[tuple[str, str]]:
    params = [("starting_at", start.strftime("%Y-%m-%dT%H:%M:%SZ"))]
    if end is not None:
        params.append(("ending_at", end.strftime("%Y-%m-%dT%H:%M:%SZ")))
    for key, value in extra.items():
        values = value if isinstance(value, list) else [value]
        params += [(key.replace("__", "[]"), str(v)) for v in values]
    return params


def _results(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for bucket in report["data"] for r in bucket["results"]]


def test_cents_are_exact_for_a_hand_computed_call(fake: Any) -> None:
    api = fake()
    # claude-sonnet-4-6 list prices (platform.claude.com pricing page), USD per million tokens:
    # input 3, output 15, 5m cache write 3.75, 1h cache write 6, cache read 0.30; web search $10 / 1000.
    api.call(headers={**now_header(D + timedelta(hours=10)),
                      "x-fake-usage": "input=1000,cache_read=2000,cache_write_5m=400,cache_write_1h=100,output=500,web_search=3"})
    api.call(headers={**now_header(D + timedelta(hours=11)), "x-fake-usage": "input=1,output=0"})
    expected = {  # cents
        "Claude Sonnet 4.6 Usage - Input Tokens": Decimal("1001") * 3 / 10**6 * 100,
        "Claude Sonnet 4.6 Usage - Output Tokens": Decimal(500) * 15 / 10**6 * 100,
        "Claude Sonnet 4.6 Usage - Cache Read": Decimal(2000) * Decimal("0.30") / 10**6 * 100,
        "Claude Sonnet 4.6 Usage - Cache Write (5m)": Decimal(400) * Decimal("3.75") / 10**6 * 100,
        "Claude Sonnet 4.6 Usage - Cache Write (1h)": Decimal(100) * 6 / 10**6 * 100,
        "Web Search": Decimal(3) * Decimal("0.01") * 100,
    }
    report = api.report(COST, _q(D, D + timedelta(days=1), group_by__="description"))
    rows = _results(report)
    assert {r["description"]: Decimal(r["amount"]) for r in rows} == expected
    assert {r["description"]: r["amount"] for r in rows}["Claude Sonnet 4.6 Usage - Input Tokens"] == "0.3003"
    input_row = next(r for r in rows if r["token_type"] == "uncached_input_tokens")
    assert input_row == {"amount": "0.3003", "currency": "USD", "workspace_id": None,
                         "description": "Claude Sonnet 4.6 Usage - Input Tokens", "cost_type": "tokens",
                         "context_window": "0-200k", "model": "claude-sonnet-4-6", "service_tier": "standard",
                         "token_type": "uncached_input_tokens", "inference_geo": "global"}
    search = next(r for r in rows if r["description"] == "Web Search")
    assert search["cost_type"] == "web_search" and search["token_type"] is None
    total = _results(api.report(COST, _q(D, D + timedelta(days=1))))
    assert total == [{"amount": "4.3203", "currency": "USD", "workspace_id": None, "description": None,
                      "cost_type": None, "context_window": None, "model": None, "service_tier": None,
                      "token_type": None, "inference_geo": None}]
    assert sum(expected.values()) == Decimal("4.3203")


def test_batch_geo_priority_and_unpriced(fake: Any) -> None:
    api = fake()
    at = now_header(D + timedelta(hours=3))
    api.call(headers={**at, "x-fake-usage": "input=1000000,output=0", "x-fake-service-tier": "batch"})
    api.call(headers={**at, "x-fake-usage": "input=1000000,output=0", "x-fake-inference-geo": "us"})
    api.call(headers={**at, "x-fake-usage": "input=1000000,output=0", "x-fake-service-tier": "priority"})
    api.call(headers={**at, "x-fake-usage": "input=777,output=5", "x-fake-model": "claude-nimbus-preview"})
    rows = _results(api.report(COST, _q(D, D + timedelta(days=1), group_by__="description")))
    # batch halves ($1.50 = 150 cents), US-only inference is 1.1x on Claude 4.6 ($3.30); priority is
    # not in the cost report, and the fake cannot price a model its table lacks.
    assert sorted((r["service_tier"], r["inference_geo"], r["amount"]) for r in rows) == [
        ("batch", "global", "150"), ("standard", "us", "330")]
    usage = _results(api.report(USAGE, _q(D, D + timedelta(days=1), group_by__=["model", "service_tier"])))
    assert {(r["model"], r["service_tier"]): r["uncached_input_tokens"] for r in usage} == {
        ("claude-sonnet-4-6", "batch"): 1000000, ("claude-sonnet-4-6", "standard"): 1000000,
        ("claude-sonnet-4-6", "priority"): 1000000, ("claude-nimbus-preview", "standard"): 777}


def _traffic(api: Any) -> None:
    """Varied entries on D: two keys, two workspaces, two models, tiers, geos, bands."""
    base = D + timedelta(hours=9, minutes=30)
    plan = [
        ({"x-fake-usage": "input=100,output=10"}, APP_KEY, "claude-sonnet-4-6"),
        ({"x-fake-usage": "input=200,output=20", "x-fake-workspace": "wrkspc_A"}, APP_KEY, "claude-sonnet-4-6"),
        ({"x-fake-usage": "input=300,output=30", "x-fake-workspace": "wrkspc_A"}, OTHER_KEY, "claude-haiku-4-5"),
        ({"x-fake-usage": "input=400,output=40", "x-fake-service-tier": "priority"}, OTHER_KEY, "claude-haiku-4-5"),
        ({"x-fake-usage": "input=250000,output=50", "x-fake-inference-geo": "us"}, APP_KEY, "claude-sonnet-4-6"),
    ]
    for n, (headers, key, model) in enumerate(plan):
        api.call(model=model, key=key, headers={**headers, **now_header(base + timedelta(minutes=n))})


def _sums(report: dict[str, Any], dim: str) -> dict[Any, int]:
    out: Counter[Any] = Counter()
    for row in _results(report):
        out[row[dim]] += row["uncached_input_tokens"]
    return dict(out)


def test_usage_group_by_every_dimension(fake: Any) -> None:
    api = fake()
    _traffic(api)
    day = _q(D, D + timedelta(days=1))
    assert _results(api.report(USAGE, day)) == [{
        "uncached_input_tokens": 251000, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 150, "server_tool_use": {"web_search_requests": 0}, "api_key_id": None,
        "workspace_id": None, "model": None, "service_tier": None, "context_window": None, "inference_geo": None}]
    expected = {
        "api_key_id": {api_key_id(APP_KEY): 250300, api_key_id(OTHER_KEY): 700},
        "workspace_id": {None: 250500, "wrkspc_A": 500},
        "model": {"claude-sonnet-4-6": 250300, "claude-haiku-4-5-20251001": 700},
        "service_tier": {"standard": 250600, "priority": 400},
        "context_window": {"0-200k": 1000, "200k-1M": 250000},
        "inference_geo": {"global": 1000, "us": 250000},
    }
    for dim, sums in expected.items():
        report = api.report(USAGE, day + [("group_by[]", dim)])
        assert _sums(report, dim) == sums, dim
        others = [d for d in expected if d != dim]
        assert all(row[d] is None for row in _results(report) for d in others)
    both = api.report(USAGE, day + [("group_by[]", "workspace_id"), ("group_by[]", "model")])
    assert {(r["workspace_id"], r["model"]): r["uncached_input_tokens"] for r in _results(both)} == {
        (None, "claude-sonnet-4-6"): 250100, ("wrkspc_A", "claude-sonnet-4-6"): 200,
        ("wrkspc_A", "claude-haiku-4-5-20251001"): 300, (None, "claude-haiku-4-5-20251001"): 400}


def test_usage_filters(fake: Any) -> None:
    api = fake()
    _traffic(api)
    day = _q(D, D + timedelta(days=1))
    cases = [
        ("models[]", ["claude-haiku-4-5-20251001"], 700),
        ("workspace_ids[]", ["wrkspc_A"], 500),
        ("api_key_ids[]", [api_key_id(OTHER_KEY)], 700),
        ("service_tiers[]", ["priority"], 400),
        ("service_tiers[]", ["standard", "priority"], 251000),
        ("context_window[]", ["200k-1M"], 250000),
        ("inference_geos[]", ["global"], 1000),
        ("models[]", ["claude-opus-4-6"], 0),
    ]
    for name, values, tokens in cases:
        rows = _results(api.report(USAGE, day + [(name, v) for v in values]))
        assert sum(r["uncached_input_tokens"] for r in rows) == tokens, (name, values)
    combined = api.report(USAGE, day + [("api_key_ids[]", api_key_id(APP_KEY)), ("workspace_ids[]", "wrkspc_A")])
    assert sum(r["uncached_input_tokens"] for r in _results(combined)) == 200


def test_cost_group_by_workspace_and_description(fake: Any) -> None:
    api = fake()
    _traffic(api)
    day = _q(D, D + timedelta(days=1))
    by_ws = _results(api.report(COST, day + [("group_by[]", "workspace_id")]))
    assert {r["workspace_id"] for r in by_ws} == {None, "wrkspc_A"}
    assert all(r["description"] is None and r["model"] is None for r in by_ws)
    both = _results(api.report(COST, day + [("group_by[]", "workspace_id"), ("group_by[]", "description")]))
    assert {(r["workspace_id"], r["description"]) for r in both} >= {
        ("wrkspc_A", "Claude Haiku 4.5 Usage - Input Tokens"), (None, "Claude Sonnet 4.6 Usage - Output Tokens")}
    assert not any(r["service_tier"] == "priority" for r in both)
    total = sum(Decimal(r["amount"]) for r in _results(api.report(COST, day)))
    assert total == sum(Decimal(r["amount"]) for r in by_ws) == sum(Decimal(r["amount"]) for r in both)
    long_band = [r for r in both if r["context_window"] == "200k-1M"]
    assert long_band and all(r["inference_geo"] == "us" for r in long_band)


def test_buckets_align_on_utc_midnight_hours_and_minutes(fake: Any) -> None:
    api = fake()
    api.call(headers={**now_header(D - timedelta(seconds=0.5)), "x-fake-usage": "input=7,output=1"})
    api.call(headers={**now_header(D), "x-fake-usage": "input=11,output=1"})
    api.call(headers={**now_header(D + timedelta(hours=1, seconds=59)), "x-fake-usage": "input=13,output=1"})
    days = api.report(USAGE, _q(D - timedelta(hours=13, minutes=37), D + timedelta(days=2)))
    assert [(b["starting_at"], b["ending_at"]) for b in days["data"]] == [
        ("2026-11-27T00:00:00Z", "2026-11-28T00:00:00Z"), ("2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"),
        ("2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z")]
    assert [[r["uncached_input_tokens"] for r in b["results"]] for b in days["data"]] == [[7], [24], []]
    hours = api.report(USAGE, _q(D - timedelta(minutes=30), D + timedelta(hours=3), bucket_width="1h"))
    assert hours["data"][0]["starting_at"] == "2026-11-27T23:00:00Z"
    assert [[r["uncached_input_tokens"] for r in b["results"]] for b in hours["data"]] == [[7], [11], [13], []]
    minutes = api.report(USAGE, _q(D + timedelta(hours=1, seconds=30), D + timedelta(hours=1, minutes=3), bucket_width="1m"))
    assert [b["starting_at"] for b in minutes["data"]] == ["2026-11-28T01:00:00Z", "2026-11-28T01:01:00Z", "2026-11-28T01:02:00Z"]
    assert [len(b["results"]) for b in minutes["data"]] == [1, 0, 0]
    cost_days = api.report(COST, _q(D - timedelta(days=1), D + timedelta(days=1)))
    assert [len(b["results"]) for b in cost_days["data"]] == [1, 1]


def test_pages_follow_next_page(fake: Any) -> None:
    api = fake()
    for n in range(10):
        api.call(headers={**now_header(D + timedelta(days=n, hours=5)), "x-fake-usage": f"input={n + 1},output=1"})
    whole = api.report(USAGE, _q(D, D + timedelta(days=10), limit=31))
    assert len(whole["data"]) == 10 and whole["has_more"] is False and whole["next_page"] is None
    assert len(api.report(USAGE, _q(D, D + timedelta(days=10)))["data"]) == 7  # the 1d default
    pages, token = [], None
    while True:
        page = api.report(USAGE, _q(D, D + timedelta(days=10), limit=3) + ([("page", token)] if token else []))
        pages.append(page)
        if not page["has_more"]:
            break
        token = page["next_page"]
        assert token.startswith("page_")
    assert [len(p["data"]) for p in pages] == [3, 3, 3, 1]
    assert [b for p in pages for b in p["data"]] == whole["data"]
    cost_pages = api.report(COST, _q(D, D + timedelta(days=10), limit=4))
    assert cost_pages["has_more"] and len(cost_pages["data"]) == 4
    rest = api.report(COST, _q(D, D + timedelta(days=10), limit=31, page=cost_pages["next_page"]))
    assert rest["data"][0]["starting_at"] == "2026-12-02T00:00:00Z" and len(rest["data"]) == 6
    assert len(api.report(USAGE, _q(D, D + timedelta(days=3), bucket_width="1h"))["data"]) == 24
    assert len(api.report(USAGE, _q(D, D + timedelta(days=3), bucket_width="1m"))["data"]) == 60
    assert len(api.report(USAGE, _q(D, D + timedelta(days=3), bucket_width="1m", limit=1440))["data"]) == 1440


@pytest.mark.parametrize("path,params,needle", [
    (USAGE, _q(D, D + timedelta(days=40), limit=32), "limit"),
    (USAGE, _q(D, D + timedelta(days=40), limit=0), "limit"),
    (USAGE, _q(D, D + timedelta(days=40), bucket_width="1h", limit=169), "limit"),
    (USAGE, _q(D, D + timedelta(days=40), bucket_width="1m", limit=1441), "limit"),
    (COST, _q(D, D + timedelta(days=40), limit=32), "limit"),
    (COST, _q(D, D + timedelta(days=1), bucket_width="1h"), "bucket_width"),
    (USAGE, _q(D, D + timedelta(days=1), bucket_width="2d"), "bucket_width"),
    (USAGE, [("ending_at", "2026-11-29T00:00:00Z")], "starting_at"),
    (USAGE, [("starting_at", "yesterday")], "starting_at"),
    (USAGE, _q(D, D - timedelta(days=1)), "ending_at"),
    (USAGE, _q(D, D + timedelta(days=1), group_by__="description"), "group_by"),
    (COST, _q(D, D + timedelta(days=1), group_by__="model"), "group_by"),
    (USAGE, _q(D, D + timedelta(days=1), page="page_bm9wZQ=="), "page"),
    (USAGE, _q(D, D + timedelta(days=1), page="page_MjAyNi0xMi0yNVQwMDowMDowMFo="), "page"),
])
def test_bad_queries_are_400(idle_fake: Any, path: str, params: list[tuple[str, str]], needle: str) -> None:
    answer = idle_fake.get(path, params)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and needle in error["message"]


def test_auth_401_and_403(fake: Any) -> None:
    api = fake()
    day = _q(D, D + timedelta(days=1))
    for headers, status, kind in [
        ({}, 401, "authentication_error"),
        ({"x-api-key": "not-a-key"}, 401, "authentication_error"),
        ({"x-api-key": APP_KEY}, 403, "permission_error"),
    ]:
        for path in (COST, USAGE, "/v1/organizations/spend_limits"):
            answer = api.get(path, day, headers={**headers, "anthropic-version": "2023-06-01"})
            assert answer.status_code == status and answer.json()["error"]["type"] == kind
            assert APP_KEY not in answer.text and answer.headers["request-id"].startswith("req_")
    strict = fake(admin_keys=[ADMIN_KEY])
    assert strict.get(COST, day).status_code == 200
    wrong = strict.get(COST, day, headers={"x-api-key": "sk-ant-admin01-someone-else"})
    assert wrong.status_code == 401 and "someone-else" not in wrong.text


def test_spend_limits_through_the_sdk(fake: Any) -> None:
    from claudescope.fakeapi.billing import BillingConfig

    api = fake(billing=BillingConfig.parse(spend_limits=["organization:monthly:500", "wrkspc_x:daily:20.50",
                                                         "wrkspc_y:weekly:none"]))
    with anthropic.Anthropic(base_url=api.url, api_key=ADMIN_KEY, max_retries=0) as admin:
        limits = list(admin.beta.organization.spend_limits.list(limit=2))  # auto-paginated over next_page
    assert len(limits) == 3 and len({l.id for l in limits}) == 3
    by_scope = {(l.scope.type, getattr(l.scope, "workspace_id", None)): l for l in limits}
    org = by_scope[("organization", None)]
    assert org.amount == "50000" and org.period == "monthly" and org.currency == "USD" and org.is_enabled
    assert by_scope[("workspace", "wrkspc_x")].amount == "2050"
    assert by_scope[("workspace", "wrkspc_y")].amount is None and all(l.id.startswith("spl_") for l in limits)
    no_beta = api.get("/v1/organizations/spend_limits", headers=ADMIN)
    assert no_beta.status_code == 400 and "spend-limit-reads-2026-09-26" in no_beta.json()["error"]["message"]
    empty = fake().get("/v1/organizations/spend_limits", headers={**ADMIN, "anthropic-beta": "spend-limit-reads-2026-09-26"})
    assert empty.json() == {"data": [], "has_more": False, "next_page": None}


def test_each_answer_is_priced_at_its_billing_date(fake: Any) -> None:
    api = fake()
    # claude-sonnet-5-5's cache read went from $0.20 to $0.10 per million tokens on 2026-10-07.
    before, after = datetime(2026, 10, 6, 23, 59, 59, tzinfo=timezone.utc), datetime(2026, 10, 7, tzinfo=timezone.utc)
    for moment in (before, after):
        api.call(model="claude-sonnet-5-5", headers={**now_header(moment), "x-fake-usage": "cache_read=1000000,output=0"})
    report = api.report(COST, _q(before, after + timedelta(days=1), group_by__="description"))
    assert [[r["amount"] for r in b["results"]] for b in report["data"]] == [["20"], ["10"]]
    assert report["data"][0]["results"][0]["description"] == "Claude Sonnet 5.5 Usage - Cache Read"
