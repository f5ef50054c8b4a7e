"""How repeated prompt prefixes read, on the Caching page and in the Savings advisor.

``savings.prefix_opportunities`` prices each repeated prefix three ways; this splits them into
the prefixes never read from cache (what caching them would save: the headline's subject) and
the ones already cached (which TTL fits them), and formats both for reading.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from claudescope.dashboard import formatting as fmt

ZERO = Decimal(0)
_LABELS = {"prefix": "prefix", "model": "model", "feature": "feature", "prefix_tokens": "prefix tokens",
           "calls": "calls", "uncached_usd": "uncached", "cached_5m_usd": "cached 5m", "cached_1h_usd": "cached 1h",
           "best_ttl": "best TTL", "saving_usd": "saving"}
_MONEY = ("uncached_usd", "cached_5m_usd", "cached_1h_usd", "saving_usd")


def uncached(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Repeated prefixes no call read from cache: money caching them would save."""
    if opportunities.empty:
        return opportunities
    return opportunities[opportunities["cache_hits"] == 0]


def cached(opportunities: pd.DataFrame) -> pd.DataFrame:
    """Repeated prefixes already read from cache at least once."""
    if opportunities.empty:
        return opportunities
    return opportunities[opportunities["cache_hits"] > 0]


def would_save(opportunities: pd.DataFrame) -> Decimal:
    """What caching the never-cached repeated prefixes would save, in total."""
    missed = uncached(opportunities)
    return sum(missed["saving_usd"], ZERO) if len(missed) else ZERO


def shown(frame: pd.DataFrame, *, with_saving: bool = True, limit: int = 50) -> pd.DataFrame:
    """``frame`` for a table: money as per-unit amounts, tokens shortened, columns named for
    people; ``with_saving=False`` drops the saving (an already-cached prefix saves it already)."""
    columns = [c for c in _LABELS if c in frame.columns and (with_saving or c != "saving_usd")]
    out = frame.head(limit)[columns].copy()
    for column in _MONEY:
        if column in out.columns:
            out[column] = out[column].map(fmt.unit_money)
    if "prefix_tokens" in out.columns:
        out["prefix_tokens"] = out["prefix_tokens"].map(fmt.tokens)
    return out.rename(columns=_LABELS)
