"""The fake's Admin API (Usage & Cost reports, spend limits) and its billing control endpoint.

Admin endpoints, answered from the ledger (:mod:`claudescope.fakeapi.ledger`) and the
injections (:mod:`claudescope.fakeapi.billing`), schemas in :mod:`claudescope.fakeapi.reports`:

``GET /v1/organizations/cost_report``
    ``starting_at``, ``ending_at``, ``bucket_width=1d``, ``group_by[]`` (workspace_id,
    description), ``limit``, ``page``.
``GET /v1/organizations/usage_report/messages``
    ``bucket_width`` 1m|1h|1d, ``group_by[]`` (api_key_id, workspace_id, model, service_tier,
    context_window, inference_geo), filters ``models[]``, ``workspace_ids[]``, ``api_key_ids[]``,
    ``service_tiers[]``, ``context_window[]``, ``inference_geos[]``, ``limit``, ``page``.
``GET /v1/organizations/spend_limits``
    Needs ``anthropic-beta: spend-limit-reads-2026-09-26``; ``limit`` (default 20, 1..100),
    ``page``; the configured limits as the SDK's ``BetaSpendLimit``.

They need ``x-api-key: sk-ant-admin...`` or ``authorization: Bearer sk-ant-admin...`` (as the
SDK's ``client.beta.organization`` sends it; ``admin_keys``, when given, is the exact set accepted):
a missing or unknown key is 401 authentication_error, a regular ``sk-ant-api...`` key 403
permission_error. Keys are compared, never stored or echoed.

Fake-only control (not part of Anthropic's API, no key needed):

``POST /v1/fake/billing``
    JSON ``{"untraced": [...], "prices": {...}, "spend_limits": [...]}``, each item either the
    text form of ``python -m claudescope.fakeapi`` (``"2026-12-01:claude-sonnet-4-6:input=5000,
    output=800"``, ``"claude-sonnet-4-6:cache_read=0.50"`` in a ``prices`` list, ``"organization:
    monthly:500"``) or an object: untraced ``{"day", "model", "workspace_id"?, "usage": {"input":
    N, ...}}``, prices ``{"MODEL": {"cache_read": "0.50"}}``, spend limit ``{"scope",
    "period", "amount_usd"}``. Added to what is in force; answers the whole state (as ``GET``).
    A malformed body is a 400 invalid_request_error naming the item; nothing is applied then.
``GET /v1/fake/billing``
    The injections in force. ``GET /v1/fake/ledger``: every ledger entry (no keys, only ids).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claudescope.fakeapi import billing as bl
from claudescope.fakeapi.control import error_response, new_id
from claudescope.fakeapi.ledger import Ledger
from claudescope.fakeapi.reports import (
    COST_GROUPS, USAGE_FILTERS, USAGE_GROUPS, ReportError, cost_report, parse_query, usage_report,
)

__all__ = ["admin_routes", "parse_billing_body"]

SPEND_LIMITS_BETA = "spend-limit-reads-2026-09-26"
ADMIN_PREFIX = "sk-ant-admin"
API_PREFIX = "sk-ant-api"

AdminHandler = Callable[[Request], Awaitable[Response]]


def _auth_error(request: Request, admin_keys: frozenset[str] | None) -> tuple[int, str, str] | None:
    # curl and claudescope send x-api-key; the SDK's organization resources send a bearer token.
    bearer = request.headers.get("authorization", "")
    key = request.headers.get("x-api-key") or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else "")
    if key.startswith(API_PREFIX):
        return 403, "permission_error", "This endpoint requires an Admin API key (sk-ant-admin...)."
    if not key.startswith(ADMIN_PREFIX):
        return 401, "authentication_error", "invalid x-api-key"
    if admin_keys is not None and not any(hmac.compare_digest(key, k) for k in admin_keys):
        return 401, "authentication_error", "invalid x-api-key"
    return None


def _admin(handler: AdminHandler, admin_keys: frozenset[str] | None) -> AdminHandler:
    async def endpoint(request: Request) -> Response:
        request_id = new_id("req_")
        problem = _auth_error(request, admin_keys)
        if problem is not None:
            response: Response = error_response(problem[0], problem[1], problem[2], request_id)
        else:
            try:
                response = await handler(request)
            except ReportError as exc:
                response = error_response(400, "invalid_request_error", str(exc), request_id)
        response.headers.setdefault("request-id", request_id)
        return response

    return endpoint


def admin_routes(ledger: Ledger, state: bl.BillingState, settle: Callable[[], None],
                 admin_keys: Iterable[str] | None = None) -> list[Route]:
    """The Admin API and control routes; ``settle`` bills the batches that have ended."""
    keys = frozenset(admin_keys) if admin_keys is not None else None

    async def costs(request: Request) -> Response:
        query = parse_query(request.query_params, widths=("1d",), groups=COST_GROUPS)
        settle()
        return JSONResponse(cost_report(query, ledger.entries(query.start, query.end), state.pricer))

    async def usage(request: Request) -> Response:
        query = parse_query(request.query_params, widths=("1m", "1h", "1d"), groups=USAGE_GROUPS, filters=USAGE_FILTERS)
        settle()
        return JSONResponse(usage_report(query, ledger.entries(query.start, query.end)))

    async def limits(request: Request) -> Response:
        betas = {b.strip() for b in ",".join(request.headers.getlist("anthropic-beta")).split(",")}
        if SPEND_LIMITS_BETA not in betas:
            raise ReportError(f"anthropic-beta: this endpoint is in beta; send {SPEND_LIMITS_BETA}")
        return JSONResponse(_limits_page(state.spend_limits(), request.query_params))

    async def control(request: Request) -> Response:
        if request.method == "POST":
            try:
                config = parse_billing_body(await request.body())
                for entry in state.apply(config):
                    ledger.record(entry)
            except bl.BillingError as exc:
                return error_response(400, "invalid_request_error", str(exc), new_id("req_"))
        return JSONResponse(state.describe())

    async def entries(request: Request) -> Response:
        settle()
        return JSONResponse({"data": [e.json() for e in ledger.entries()]})

    return [
        Route("/v1/organizations/cost_report", _admin(costs, keys), methods=["GET"]),
        Route("/v1/organizations/usage_report/messages", _admin(usage, keys), methods=["GET"]),
        Route("/v1/organizations/spend_limits", _admin(limits, keys), methods=["GET"]),
        Route("/v1/fake/billing", control, methods=["GET", "POST"]),
        Route("/v1/fake/ledger", entries, methods=["GET"]),
    ]


def _limits_page(items: list[dict[str, Any]], params: Any) -> dict[str, Any]:
    try:
        limit = int(params.get("limit") or 20)
    except ValueError:
        raise ReportError(f"limit: must be an integer, got {params.get('limit')!r}") from None
    if not 1 <= limit <= 100:
        raise ReportError(f"limit: must be between 1 and 100, got {limit}")
    first = 0
    page = params.get("page")
    if page:
        ids = [item["id"] for item in items]
        if not page.startswith("page_") or page[5:] not in ids:
            raise ReportError(f"page: not a next_page token of this list: {page!r}")
        first = ids.index(page[5:])
    chunk = items[first : first + limit]
    more = first + limit < len(items)
    return {"data": chunk, "has_more": more, "next_page": "page_" + items[first + limit]["id"] if more else None}


def parse_billing_body(raw: bytes) -> bl.BillingConfig:
    """The ``POST /v1/fake/billing`` body as a BillingConfig; raises BillingError."""
    try:
        body = json.loads(raw or b"{}", parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise bl.BillingError("the body must be JSON") from None
    if not isinstance(body, dict):
        raise bl.BillingError("the body must be a JSON object")
    unknown = set(body) - {"untraced", "prices", "spend_limits"}
    if unknown:
        raise bl.BillingError(f"unknown key {sorted(unknown)[0]!r} (keys: untraced, prices, spend_limits)")
    return bl.BillingConfig(
        untraced=tuple(_untraced(item) for item in _list(body, "untraced")),
        prices=_prices(body.get("prices")),
        spend_limits=tuple(_limit(item) for item in _list(body, "spend_limits")),
    )


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise bl.BillingError(f"{key}: must be a list")
    return value


def _untraced(item: Any) -> bl.UntracedBill:
    if isinstance(item, str):
        return bl.parse_untraced(item)
    if not isinstance(item, dict) or not isinstance(item.get("usage"), dict):
        raise bl.BillingError(f"untraced: {item!r} needs day, model and a usage object")
    return bl.untraced_bill(item.get("day"), item.get("model"), item.get("workspace_id"), item["usage"])


def _prices(value: Any) -> dict[str, dict[str, Decimal]]:
    merged: dict[str, dict[str, Decimal]] = {}
    if value is None:
        return merged
    if isinstance(value, list):
        for text in value:
            if not isinstance(text, str):
                raise bl.BillingError(f"prices: {text!r} is not MODEL:key=USD_PER_MTOK")
            model, rates = bl.parse_price(text)
            merged.setdefault(model, {}).update(rates)
        return merged
    if not isinstance(value, dict):
        raise bl.BillingError("prices: must be an object {model: {key: USD per MTok}} or a list of strings")
    for model, rates in value.items():
        if not isinstance(rates, dict):
            raise bl.BillingError(f"prices.{model}: must be an object {{key: USD per MTok}}")
        merged[model] = bl.price_rates(model, rates)
    return merged


def _limit(item: Any) -> bl.SpendLimitSpec:
    if isinstance(item, str):
        return bl.parse_spend_limit(item)
    if not isinstance(item, dict):
        raise bl.BillingError(f"spend_limits: {item!r} needs scope, period and amount_usd")
    return bl.spend_limit(item.get("scope"), item.get("period"), item.get("amount_usd"))
