"""Spend limits read from the Admin API: the conversion (cents strings -> exact USD), the store's
whole-table replacement, and the collector polling the bundled fake Admin API (at start, on
schedule, keeping the previous rows when a read fails, never stopping ingest)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from claudescope.collector.reconcile.admin_client import AdminApiError
from claudescope.collector.reconcile.spend_limits import SpendLimit, parse_spend_limit
from claudescope.collector.store import Store, StoreError
from claudescope.fakeapi.app import create_fake_api
from claudescope.fakeapi.server import ServerThread, free_port
from tests.fixtures_collector import call_span
from tests.fixtures_alerts import wait_for

WAIT_S = 20.0  # the collector's background threads get this long to act


def _item(**over: Any) -> dict[str, Any]:
    item = {"id": "spl_01", "amount": "50000", "currency": "USD", "is_enabled": True, "period": "monthly",
            "scope": {"type": "organization"}, "type": "spend_limit",
            "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"}
    item.update(over)
    return item


@pytest.mark.parametrize(("amount", "usd"), [
    ("50000", Decimal("500.00")), ("1", Decimal("0.01")), ("0", Decimal("0.00")),
    ("123456789012345", Decimal("1234567890123.45")), (None, None),
])
def test_amount_in_cents_becomes_exact_usd(amount: str | None, usd: Decimal | None) -> None:
    limit = parse_spend_limit(_item(amount=amount))
    assert limit.amount_usd == usd
    assert limit.amount_usd is None or str(limit.amount_usd) == str(usd)  # exact digits, no float on the way


def test_scope_period_currency_and_enabled_are_kept() -> None:
    org = parse_spend_limit(_item(is_enabled=False, period="daily"))
    ws = parse_spend_limit(_item(id="spl_02", period="weekly", scope={"type": "workspace", "workspace_id": "wrkspc_01A"}))
    # scopes and periods the API may add later are kept as it names them (the alert skips what it does not know)
    other = parse_spend_limit(_item(id="spl_03", scope={"type": "usage_tier"}, period="quarterly"))
    assert org == SpendLimit("spl_01", "organization", None, "daily", Decimal("500.00"), "USD", False)
    assert ws == SpendLimit("spl_02", "workspace", "wrkspc_01A", "weekly", Decimal("500.00"), "USD", True)
    assert (other.scope_type, other.workspace_id, other.period) == ("usage_tier", None, "quarterly")


@pytest.mark.parametrize(("over", "named"), [
    ({"amount": "12.5"}, "amount"), ({"amount": "-100"}, "amount"), ({"amount": "lots"}, "amount"),
    ({"amount": 500}, "amount"), ({"amount": "NaN"}, "amount"), ({"period": None}, "period"), ({"period": ""}, "period"),
    ({"scope": {"type": "workspace"}}, "workspace_id"), ({"scope": None}, "scope"), ({"is_enabled": "yes"}, "is_enabled"),
])
def test_an_item_of_the_wrong_shape_is_refused_naming_the_field(over: dict[str, Any], named: str) -> None:
    with pytest.raises(AdminApiError, match=named):
        parse_spend_limit(_item(**over))


def test_the_store_replaces_the_whole_table_at_once(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    try:
        first = datetime(2026, 12, 2, 10, tzinfo=UTC)
        limits = [parse_spend_limit(_item()), parse_spend_limit(_item(id="spl_02", amount="1", scope={"type": "workspace", "workspace_id": "wrkspc_9"}))]
        store.replace_spend_limits([limit.row(first) for limit in limits])
        second = datetime(2026, 12, 2, 11, tzinfo=UTC)
        store.replace_spend_limits([parse_spend_limit(_item(id="spl_03", amount="99")).row(second)])
        rows = store.read_arrow("SELECT * FROM spend_limits").to_pylist()
        assert rows == [{"fetched_at": second, "limit_id": "spl_03", "scope_type": "organization", "workspace_id": None,
                         "period": "monthly", "amount_usd": Decimal("0.990000000"), "currency": "USD", "is_enabled": True}]
        store.replace_spend_limits([])  # the API says there are none: none are kept
        assert store.read_arrow("SELECT count(*) AS n FROM spend_limits").to_pylist() == [{"n": 0}]
    finally:
        store.close()


def test_a_replacement_that_fails_keeps_the_previous_rows(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    try:
        at = datetime(2026, 12, 2, 10, tzinfo=UTC)
        store.replace_spend_limits([parse_spend_limit(_item()).row(at)])
        # a cap of 10^12 USD does not fit DECIMAL(18,9): the second row fails after the delete ran
        too_big = parse_spend_limit(_item(id="spl_big", amount="100000000000000"))
        with pytest.raises(StoreError):
            store.replace_spend_limits([parse_spend_limit(_item(id="spl_02")).row(at), too_big.row(at)])
        assert store.read_arrow("SELECT limit_id FROM spend_limits").to_pylist() == [{"limit_id": "spl_01"}]
    finally:
        store.close()


# --- a real collector process ---------------------------------------------------------------

KEY = "sk-ant-admin01-SECRET-" + uuid.uuid4().hex



def _ingest_works(running: Any) -> None:
    assert running.post_spans([call_span(model="claude-sonnet-4-5")]).status_code == 200
    wait_for(lambda: running.query("SELECT count(*) AS n FROM calls")[0]["n"] >= 1, timeout=WAIT_S, what="the span stored")


def test_without_a_key_nothing_polls_and_one_line_says_so(collector_factory: Any) -> None:
    running = collector_factory(env={"CLAUDESCOPE_ADMIN_API_URL": "http://127.0.0.1:9"})
    _ingest_works(running)
    running.stop()
    log = running.log()
    assert log.count("reconciliation and spend limits are off (no ANTHROPIC_ADMIN_API_KEY in the environment)") == 1
    assert "spend limits not refreshed" not in log and "daily reconcile" not in log


def _garbage_admin_api() -> Starlette:
    async def not_json(request: Request) -> Response:
        return PlainTextResponse("<html>gateway error</html>", status_code=200)

    return Starlette(routes=[Route("/v1/organizations/spend_limits", not_json)])


@pytest.mark.parametrize("where", ["unreachable", "not json"])
def test_a_failed_read_logs_one_line_without_the_key_and_ingest_goes_on(collector_factory: Any, where: str) -> None:
    with ServerThread(_garbage_admin_api(), log_level="error") as garbage:
        url = "http://127.0.0.1:%d" % free_port() if where == "unreachable" else garbage.base_url
        running = collector_factory(env={"ANTHROPIC_ADMIN_API_KEY": KEY, "CLAUDESCOPE_ADMIN_API_URL": url})
        wait_for(lambda: "spend limits not refreshed" in running.log(), timeout=WAIT_S, what="the failed read logged")
        _ingest_works(running)
        assert running.query("SELECT count(*) AS n FROM spend_limits") == [{"n": 0}]
        assert running.stop() == 0
    log = running.log()
    failures = [line for line in log.splitlines() if "spend limits not refreshed" in line]
    assert len(failures) == 1, log
    assert ("cannot connect" if where == "unreachable" else "not JSON") in failures[0]
    assert KEY not in log and KEY[:20] not in log and "x-api-key" not in log.lower()


def _limits_in(running: Any) -> dict[tuple[str, str | None, str], tuple[str | None, str, bool]]:
    rows = running.query("SELECT scope_type, workspace_id, period, amount_usd, currency, is_enabled FROM spend_limits")
    return {(r["scope_type"], r["workspace_id"], r["period"]): (r["amount_usd"], r["currency"], r["is_enabled"]) for r in rows}


def test_the_collector_reads_the_limits_at_start_refreshes_them_and_keeps_them_when_the_api_goes(collector_factory: Any) -> None:
    fake = ServerThread(create_fake_api(latency_scale=0.0, admin_keys=[KEY]), log_level="error").start()
    try:
        r = httpx.post(fake.base_url + "/v1/fake/billing", json={"spend_limits": ["organization:monthly:500", "wrkspc_01A:daily:20.55"]})
        assert r.status_code == 200, r.text
        running = collector_factory(
            "[reconcile]\nspend_limits_every_s = 10\n",
            env={"ANTHROPIC_ADMIN_API_KEY": KEY, "CLAUDESCOPE_ADMIN_API_URL": fake.base_url},
        )
        first = wait_for(_limits_in_when(running, 2), timeout=WAIT_S, what="the limits read at start")
        assert first == {
            ("organization", None, "monthly"): ("500.000000000", "USD", True),
            ("workspace", "wrkspc_01A", "daily"): ("20.550000000", "USD", True),
        }
        # a changed cap in the console reaches the table at the next poll, the whole set replaced
        httpx.post(fake.base_url + "/v1/fake/billing", json={"spend_limits": ["organization:monthly:750.01"]}).raise_for_status()
        second = wait_for(lambda: _refreshed(_limits_in(running)), timeout=25, what="the refreshed limits")
        assert second[("workspace", "wrkspc_01A", "daily")] == ("20.550000000", "USD", True)
    finally:
        fake.stop()
    # the Admin API is gone: the next poll fails, the rows read before stay, ingest goes on
    wait_for(lambda: "spend limits not refreshed" in running.log(), timeout=25, what="the failed poll logged")
    assert _limits_in(running) == second
    _ingest_works(running)
    assert running.stop() == 0
    log = running.log()
    assert [line for line in log.splitlines() if "spend limits not refreshed" in line][0].count("cannot connect") == 1
    assert KEY not in log and KEY[:20] not in log


def _refreshed(got: dict[Any, Any]) -> dict[Any, Any] | None:
    return got if got.get(("organization", None, "monthly"), ("",))[0] == "750.010000000" else None


def _limits_in_when(running: Any, count: int) -> Callable[[], Any]:
    def ready() -> Any:
        got = _limits_in(running)
        return got if len(got) == count else None

    return ready
