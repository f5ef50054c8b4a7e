"""Several producers' copies of one call -> the one row the ``calls`` view shows, field by field.

The most complete facts win (docs/producers.md): each fact comes from the most preferred copy
(lowest source rank) that knows it; the 5m/1h cache-write split from a copy that was told it;
tokens, status and timing from the most preferred copy as a whole. The cost is billed again from
the merged usage, by the one billing rule.
"""

from __future__ import annotations

import json
from typing import Any

from claudescope import semconv as sc
from claudescope.collector import estimates
from claudescope.collector import producers as pr
from claudescope.pricing import PriceTable, Usage

Row = dict[str, Any]
# Facts taken from the most preferred copy that has a value (NULL = that copy does not know).
_FIRST_KNOWN = (
    "ttft_ms", "service_name", "request_model", "response_model", "stream", "retries", "stop_reason",
    "max_tokens", "service_tier", "inference_geo", "speed", "user_id", "feature", "prompt_version",
    "response_id", "request_id",
)
# Facts of the preferred copy as a whole: one producer's account of the call.
_FROM_BEST = ("operation", "status", "error_type", "http_status", "input_tokens", "cache_read_tokens",
              "output_tokens", "web_search_requests", "source", "source_rank", "start_time", "end_time", "duration_ms")
_COST = ("cost_usd", "cost_input_usd", "cost_output_usd", "cost_cache_read_usd", "cost_cache_write_usd",
         "cost_other_usd", "price_version")
# What a merge may change: when the visible copy already has these, a new copy adds nothing.
COMPARED = (*_FIRST_KNOWN, *_FROM_BEST, "cache_write_5m_tokens", "cache_write_1h_tokens", *_COST)
SOURCES_KEY = sc.CS_SOURCES  # every producer that reported the call, preferred first
_MAX_ATTRIBUTES_BYTES = 1024 * 1024  # a stored row's attributes stay under 1 MiB (SPEC §3)


def order(rows: list[Row]) -> list[Row]:
    """Copies in preference order: lowest rank first, then span id (stable across arrivals)."""
    return sorted(rows, key=lambda r: (r["source_rank"], r["span_id"]))


def split_known(row: Row) -> bool:
    """Whether this copy's 5m/1h split was reported (not the 5m estimate)."""
    return estimates.CACHE_SPLIT_ESTIMATED not in (row.get("attributes") or "")


def merged(carrier: Row, copies: list[Row], prices: PriceTable) -> Row:
    """``carrier`` (the copy that will be visible) holding the best facts of all ``copies``."""
    ranked = order(copies)
    best = ranked[0]
    out = dict(carrier)
    for name in _FROM_BEST:
        out[name] = best[name]
    for name in _FIRST_KNOWN:
        out[name] = next((r[name] for r in ranked if r.get(name) is not None and _gives(r, name)), None)
    told = next((r for r in ranked if split_known(r) and _writes(r) == _writes(best)), None)
    split_from = told or best
    out["cache_write_5m_tokens"] = split_from["cache_write_5m_tokens"]
    out["cache_write_1h_tokens"] = split_from["cache_write_1h_tokens"]
    usage = _usage(out)
    model = out["response_model"] or out["request_model"]
    failed = out["status"] == "error"
    at = out["start_time"]  # priced by the prices in force at the call's start
    out.update(zip(_COST, prices.bill(out["operation"] or "chat", failed=failed, model=model, usage=usage, at=at), strict=True))
    attributes = _attributes(ranked)
    if told is None and _writes(best):
        estimates.mark(attributes, prices, out["operation"] or "chat", failed, model, usage, at=at)
    else:
        estimates.unmark(attributes)
    text = json.dumps(attributes, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text.encode()) > _MAX_ATTRIBUTES_BYTES:  # the union of outsized copies: the best copy's own
        own = json.loads(best.get("attributes") or "{}")
        own.update({k: v for k, v in attributes.items() if k in (SOURCES_KEY, *estimates.KEYS)})
        if told is not None or not _writes(best):
            estimates.unmark(own)
        text = json.dumps(own, ensure_ascii=False, separators=(",", ":"), default=str)
    out["attributes"] = text
    return out


def same_facts(a: Row, b: Row) -> bool:
    """Whether ``a`` shows what ``b`` would (a new copy that adds nothing changes nothing)."""
    return all(a.get(k) == b.get(k) for k in COMPARED)


def _gives(row: Row, name: str) -> bool:
    """Whether the copy's producer gives this fact at all (a default is not knowledge)."""
    return name not in pr.profile_of_source(row["source"]).never


def _writes(row: Row) -> int:
    return int(row["cache_write_5m_tokens"] or 0) + int(row["cache_write_1h_tokens"] or 0)


def _usage(row: Row) -> Usage:
    return Usage(
        input_tokens=int(row["input_tokens"] or 0), cache_read_tokens=int(row["cache_read_tokens"] or 0),
        cache_write_5m_tokens=int(row["cache_write_5m_tokens"] or 0),
        cache_write_1h_tokens=int(row["cache_write_1h_tokens"] or 0), output_tokens=int(row["output_tokens"] or 0),
        web_search_requests=int(row["web_search_requests"] or 0), service_tier=row["service_tier"],
        inference_geo=row["inference_geo"], speed=row["speed"],
    )


def _attributes(ranked: list[Row]) -> dict[str, Any]:
    """Every copy's attributes, the preferred copy's value winning key by key."""
    out: dict[str, Any] = {}
    for row in reversed(ranked):
        try:
            parsed = json.loads(row.get("attributes") or "{}")
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            out.update(parsed)
    sources = list(dict.fromkeys(r["source"] for r in ranked))
    out[SOURCES_KEY] = sources
    return out
