"""Admin jobs on the store, and their endpoints under /api/v1/admin/ for a running collector.

While a collector runs it holds the DuckDB lock, so `claudescope reprice / export / backup`
ask it through these endpoints (behind the same bearer token); when it is stopped they call
the same job functions on the file directly (see admin.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from claudescope.collector.query_api import ARROW_STREAM, to_arrow_ipc
from claudescope.collector.reconcile.job import ReconcileRequest
from claudescope.collector import estimates
from claudescope.collector.store import CALLS_TABLE, REPRICE_BOUNDS, QueryRefused, Store, StoreError
from claudescope.config import Config, DatedPrice, PricingConfig
from claudescope.config_model import PriceOverride
from claudescope.pricing import PriceTable, Usage
from claudescope.store_identity import ensure_store_id

if TYPE_CHECKING:
    from claudescope.collector.decode import IngestPool

_COST_COLUMNS = ("cost_usd", "cost_input_usd", "cost_output_usd", "cost_cache_read_usd", "cost_cache_write_usd", "cost_other_usd", "price_version")
_MONEY = pa.decimal128(18, 9)


@dataclass(frozen=True, slots=True)
class RepriceReport:
    """What a reprice changed."""

    calls: int
    changed: int
    before_usd: Decimal
    after_usd: Decimal
    newly_priced: int
    now_unpriced: int

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form (money as exact strings)."""
        return {
            "calls": self.calls, "changed": self.changed, "before_usd": str(self.before_usd),
            "after_usd": str(self.after_usd), "delta_usd": str(self.after_usd - self.before_usd),
            "newly_priced": self.newly_priced, "now_unpriced": self.now_unpriced,
        }


def parse_since(since: str | None) -> datetime | None:
    """A date or ISO date-time (UTC unless it says otherwise)."""
    if not since:
        return None
    moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reprice_store(store: Store, prices: PriceTable, since: datetime | None) -> RepriceReport:
    """Recompute every (non-superseded or not) stored call's cost with ``prices``."""
    rows = store.reprice_rows(_COST_COLUMNS, since)
    changed: list[dict[str, Any]] = []
    cost_changed = 0
    before = after = Decimal(0)
    newly_priced = now_unpriced = 0
    for row in rows:
        usage = _usage(row)
        new = _price_row(prices, row, usage)
        old_total = row["cost_usd"]
        if not row["superseded"]:
            before += old_total or 0
            after += new["cost_usd"] or 0
        if old_total is None and new["cost_usd"] is not None:
            newly_priced += 1
        if old_total is not None and new["cost_usd"] is None:
            now_unpriced += 1
        if any(new[c] != row[c] for c in _COST_COLUMNS[:-1]):
            cost_changed += 1
        bounds = _bounds_patch(prices, row, usage)
        if bounds is not None or any(new[c] != row[c] for c in _COST_COLUMNS):
            changed.append({"trace_id": row["trace_id"], "span_id": row["span_id"], **new, REPRICE_BOUNDS: bounds})
    if changed:
        schema = pa.schema([("trace_id", pa.string()), ("span_id", pa.string())] + [(c, _MONEY) for c in _COST_COLUMNS[:-1]]
                           + [("price_version", pa.string()), (REPRICE_BOUNDS, pa.string())])
        store.reprice_costs(pa.Table.from_pylist(changed, schema=schema), since)
    return RepriceReport(len(rows), cost_changed, before, after, newly_priced, now_unpriced)


def _price_row(prices: PriceTable, row: dict[str, Any], usage: Usage) -> dict[str, Any]:
    # The ingest rule (PriceTable.bill): unbilled operations zero, NULL when unpriced or unstorable.
    # Prices by date: the call pays the prices in force at its start_time, as at ingest.
    columns = prices.bill(row["operation"] or "", failed=row["status"] == "error",
                          model=_model(row), usage=usage, at=row["start_time"])
    return dict(zip(_COST_COLUMNS, columns, strict=True))


def _bounds_patch(prices: PriceTable, row: dict[str, Any], usage: Usage) -> str | None:
    """For an estimated cost whose bounds change with ``prices``: the JSON patch of its
    attributes (a bound that became unknown is removed); else None."""
    if not row["estimated"]:
        return None
    marks: dict[str, Any] = {}
    estimates.mark(marks, prices, row["operation"] or "", row["status"] == "error", _model(row), usage, at=row["start_time"])
    low, high = marks.get(estimates.COST_LOW), marks.get(estimates.COST_HIGH)
    if (low, high) == (row["cost_low"], row["cost_high"]):
        return None
    return json.dumps({estimates.COST_LOW: low, estimates.COST_HIGH: high})


def _model(row: dict[str, Any]) -> str | None:
    return row["response_model"] or row["request_model"]


def _usage(row: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=row["input_tokens"] or 0, cache_read_tokens=row["cache_read_tokens"] or 0,
        cache_write_5m_tokens=row["cache_write_5m_tokens"] or 0, cache_write_1h_tokens=row["cache_write_1h_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0, web_search_requests=row["web_search_requests"] or 0,
        service_tier=row["service_tier"], inference_geo=row["inference_geo"], speed=row["speed"],
    )


def pricing_to_json(pricing: PricingConfig) -> dict[str, Any]:
    """The CLI's price table settings, sent so a reprice uses the table the user just edited.

    An undated override is ``{key: "rate"}``; a dated one a list of those with ``from``/``until``.
    """
    return {
        "overrides": {m: _override_to_json(row) for m, row in pricing.overrides.items()},
        "batch_applies_to_cache": pricing.batch_applies_to_cache,
        "geo_applies_to_cache": pricing.geo_applies_to_cache,
        "fast_applies_to_cache": pricing.fast_applies_to_cache,
    }


def pricing_from_json(data: dict[str, Any]) -> PricingConfig:
    """Inverse of :func:`pricing_to_json` (money parsed as Decimal, never float)."""
    overrides = {str(m): _override_from_json(row) for m, row in data.get("overrides", {}).items()}
    flags = {k: bool(data[k]) for k in ("batch_applies_to_cache", "geo_applies_to_cache", "fast_applies_to_cache") if k in data}
    return PricingConfig(overrides=overrides, **flags)


def _override_to_json(row: PriceOverride) -> Any:
    if not isinstance(row, tuple):
        return {k: str(v) for k, v in row.items()}
    return [{**{k: str(v) for k, v in d.rates.items()}, **{name: when.isoformat() for name, when in
             (("from", d.start), ("until", d.end)) if when is not None}} for d in row]


def _override_from_json(row: Any) -> PriceOverride:
    if not isinstance(row, list):
        return {str(k): Decimal(str(v)) for k, v in row.items()}
    return tuple(DatedPrice(
        rates={str(k): Decimal(str(v)) for k, v in d.items() if k not in ("from", "until")},
        start=datetime.fromisoformat(d["from"]) if "from" in d else None,
        end=datetime.fromisoformat(d["until"]) if "until" in d else None,
    ) for d in row)


def _reconcile_settings(config: Config, payload: dict[str, Any]) -> Config:
    """The command's own price table and tolerance (its --config), as a reprice uses its table."""
    if "pricing" in payload:
        pricing = pricing_from_json(payload["pricing"])
        PriceTable.load(pricing)  # a table that does not load is a bad request, not a failed run
        config = replace(config, pricing=pricing)
    if "tolerance" in payload:
        tolerance = Decimal(str(payload["tolerance"]))
        if not 0 <= tolerance <= 1:
            raise ValueError(f"tolerance {tolerance} is not a fraction between 0 and 1")
        config = replace(config, reconcile=replace(config.reconcile, tolerance=tolerance))
    return config


def admin_routes(config: Config, store: Store, ingest: IngestPool) -> list[Route]:
    """Routes that run admin jobs inside the collector, which holds the DuckDB lock."""

    async def reprice(request: Request) -> Response:
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            since = parse_since(payload.get("since"))
            pricing = pricing_from_json(payload["pricing"]) if payload.get("pricing") else config.pricing
            prices = PriceTable.load(pricing)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, 400)
        # New spans first, then the stored ones: a span arriving meanwhile is priced by the new
        # table either way.
        await run_in_threadpool(ingest.use_pricing, pricing)
        report = await run_in_threadpool(reprice_store, store, prices, since)
        return JSONResponse(report.as_json())

    async def reconcile(request: Request) -> Response:
        # The CLI fetched the Admin API reports itself: the admin key never reaches the collector.
        try:
            payload = await request.json()
            job = ReconcileRequest.from_json(payload)
            settings = _reconcile_settings(config, payload)
        except (ValueError, TypeError, KeyError, ArithmeticError) as exc:
            return JSONResponse({"error": f"bad request: {exc}"}, 400)
        try:
            report = await run_in_threadpool(lambda: job.run(store, settings, trigger="command"))
        except StoreError as exc:
            return JSONResponse({"error": f"the store cannot record the run: {exc}"}, 503)
        return JSONResponse(report.as_json())

    async def tables(request: Request) -> Response:
        names = await run_in_threadpool(store.table_names)
        return JSONResponse({"tables": names, "migrations": [list(m) for m in await run_in_threadpool(store.applied_migrations)]})

    async def snapshot(request: Request) -> Response:
        names = request.query_params.get("tables", CALLS_TABLE).split(",")
        try:
            tables_ = await run_in_threadpool(store.snapshot, names)
        except QueryRefused as exc:
            return JSONResponse({"error": str(exc)}, 400)
        # One IPC stream per table, concatenated with a JSON index of byte lengths in a header.
        bodies = [await run_in_threadpool(to_arrow_ipc, tables_[n]) for n in names]
        index = json.dumps([[n, len(b)] for n, b in zip(names, bodies, strict=True)])
        return Response(b"".join(bodies), 200, media_type=ARROW_STREAM, headers={"X-Claudescope-Tables": index})

    # Which store this collector serves: commands given --data use it only when the ids match.
    identity = {"store_id": ensure_store_id(config.data_dir), "data_dir": str(config.data_dir.resolve())}

    async def store_identity(request: Request) -> Response:
        return JSONResponse(identity)

    return [
        Route("/api/v1/store", store_identity, methods=["GET"]),
        Route("/api/v1/admin/reprice", reprice, methods=["POST"]),
        Route("/api/v1/admin/reconcile", reconcile, methods=["POST"]),
        Route("/api/v1/admin/tables", tables, methods=["GET"]),
        Route("/api/v1/admin/snapshot", snapshot, methods=["GET"]),
    ]
