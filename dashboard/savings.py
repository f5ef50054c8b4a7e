"""What-if pricing: money saved by caching, and what the history would cost another way.

Pure functions over query results and ``claudescope.pricing.PriceTable``; Decimal throughout.
Aggregated token sums are repriced at per-token rates taken from the table with a small
probe usage, so long-context bands (priced per call by the collector) are not applied here:
the what-ifs are estimates at standard-band rates, the actual costs are the stored exact ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from claudescope.dashboard.frames import dec, num
from claudescope.pricing import PriceTable, Usage

_PROBE = 1000  # tokens per category: far below every prompt-size band
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TokenRates:
    """USD per single token for one model under one set of billing modifiers."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal


def rates_for(table: PriceTable, model: str, *, service_tier: str | None = None,
              inference_geo: str | None = None, speed: str | None = None,
              prompt_size: int = _PROBE) -> TokenRates | None:
    """Per-token rates of ``model`` with the given modifiers, or None when it has no price.

    The rates are what ``table.price`` (the ingest rule) charges a call of ``prompt_size``
    prompt tokens with those modifiers: geo multiplier, speed, tier and prompt-size band included.
    """
    size = max(prompt_size, 1)

    def probe(**tokens: int) -> Decimal | None:
        cost = table.price(model, Usage(service_tier=service_tier, inference_geo=inference_geo or None,
                                        speed=speed or None, **tokens))
        return None if cost is None else cost.total_usd / size

    # Output is probed beside a prompt of the same size, so a band applies to it too; that
    # prompt's own price is taken off again.
    prompt_only = probe(input_tokens=size)
    with_output = probe(input_tokens=size, output_tokens=size)
    output = None if prompt_only is None or with_output is None else with_output - prompt_only
    parts = [prompt_only, output, probe(cache_read_tokens=size),
             probe(cache_write_5m_tokens=size), probe(cache_write_1h_tokens=size)]
    if any(p is None for p in parts):
        return None
    return TokenRates(*parts)  # type: ignore[arg-type]


def caching_savings(usage: pd.DataFrame, table: PriceTable) -> Decimal:
    """Net money caching saved: reads priced as uncached input, minus the write premium.

    ``usage`` has one row per model and billing facts with token sums (queries.usage_by_model);
    each row's cache tokens are priced as uncached input with its tier, geo, speed and band.
    """
    saved = ZERO
    for row in usage.itertuples(index=False):
        rates = rates_for(table, str(row.model), service_tier=str(row.service_tier),
                          inference_geo=str(getattr(row, "inference_geo", "") or ""),
                          speed=str(getattr(row, "speed", "") or ""),
                          prompt_size=int(getattr(row, "prompt_band", "") or _PROBE))
        if rates is None:
            continue
        reads_as_input = int(num(row.cache_read_tokens)) * rates.input
        writes_as_input = (int(num(row.cache_write_5m_tokens)) + int(num(row.cache_write_1h_tokens))) * rates.input
        saved += (reads_as_input - (dec(row.cost_cache_read_usd) or ZERO)) - (
            (dec(row.cost_cache_write_usd) or ZERO) - writes_as_input)
    return saved


def prefix_opportunities(prefixes: pd.DataFrame, table: PriceTable) -> pd.DataFrame:
    """Per repeated prefix: cost of sending it uncached vs caching it with a 5m or 1h TTL.

    ``prefixes`` comes from queries.prefix_reuse. A prefix that was never read from cache and
    would be cheaper cached is money left on the table; ``best_ttl`` is the break-even winner.
    """
    rows = []
    for p in prefixes.itertuples(index=False):
        rates = rates_for(table, str(p.model), service_tier=str(getattr(p, "service_tier", "") or "standard"),
                          inference_geo=str(getattr(p, "inference_geo", "") or ""),
                          speed=str(getattr(p, "speed", "") or ""))
        size = int(num(p.prefix_tokens))
        calls = int(num(p.calls))
        if rates is None or size <= 0:
            continue
        uncached = calls * size * rates.input
        ttl_5m = _cached_cost(calls, int(num(p.writes_5m)), size, rates.cache_write_5m, rates.cache_read)
        ttl_1h = _cached_cost(calls, int(num(p.writes_1h)), size, rates.cache_write_1h, rates.cache_read)
        best_ttl, best = ("5m", ttl_5m) if ttl_5m <= ttl_1h else ("1h", ttl_1h)
        rows.append({
            "prefix": str(p.prefix_hash)[:12], "model": p.model, "feature": p.feature, "prefix_tokens": size,
            "calls": calls, "cache_hits": int(num(p.cache_hits)), "uncached_usd": uncached,
            "cached_5m_usd": ttl_5m, "cached_1h_usd": ttl_1h, "best_ttl": best_ttl,
            "saving_usd": max(uncached - best, ZERO),
        })
    frame = pd.DataFrame(rows)
    return frame.sort_values("saving_usd", ascending=False, key=lambda s: s.map(float)) if rows else frame


def _cached_cost(calls: int, writes: int, size: int, write_rate: Decimal, read_rate: Decimal) -> Decimal:
    writes = min(max(writes, 1), calls)
    return writes * size * write_rate + (calls - writes) * size * read_rate


def reprice(usage: pd.DataFrame, table: PriceTable, *, target_model: str | None,
            batch_features: Iterable[str] = ()) -> pd.DataFrame:
    """The history's actual cost per feature and model next to a what-if cost.

    The what-if routes every call to ``target_model`` (None keeps each call's model) and bills
    the features in ``batch_features`` at the Batch API tier. Rows whose model or target has no
    price keep ``whatif_usd`` = None.
    """
    batch = set(batch_features)
    rows = []
    for u in usage.itertuples(index=False):
        model = target_model or str(u.model)
        tier = "batch" if str(u.feature) in batch else str(u.service_tier)
        rates = rates_for(table, model, service_tier=tier, inference_geo=str(u.inference_geo), speed=str(u.speed))
        whatif = None
        if rates is not None:
            whatif = (int(num(u.input_tokens)) * rates.input + int(num(u.output_tokens)) * rates.output
                      + int(num(u.cache_read_tokens)) * rates.cache_read
                      + int(num(u.cache_write_5m_tokens)) * rates.cache_write_5m
                      + int(num(u.cache_write_1h_tokens)) * rates.cache_write_1h
                      + (dec(u.cost_other_usd) or ZERO))
        rows.append({"feature": u.feature, "model": u.model, "target": model, "tier": tier,
                     "calls": int(num(u.calls)), "actual_usd": dec(u.cost_usd), "whatif_usd": whatif})
    return pd.DataFrame(rows)
