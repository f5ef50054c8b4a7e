"""What to change: a few concrete suggestions from numbers the Overview already has. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from claudescope.call_facts import INPUT_TOKEN_COLUMNS
from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.frames import dec, num

MIN_INPUT_SPEND = Decimal("0.10")  # below this, caching advice is noise
LOW_HIT_RATE = 0.05
TRUNCATION_SHARE = 0.05
MIN_CALLS = 3


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One thing to change, and the page that shows the detail."""

    # Markdown. The span value comes first, as a code span (formatting.literal); the single "$"
    # after it has no partner, so it cannot open LaTeX.
    text: str
    page: str  # views/<file>.py


def suggestions(by_feature: pd.DataFrame, stops: pd.DataFrame, *, limit: int = 4) -> list[Suggestion]:
    """Caching candidates (features paying for uncached input) and truncated features.

    ``by_feature`` is queries.cost_by(..., "feature"); ``stops`` is queries.stop_reasons.
    """
    found = _caching(by_feature) + _truncation(stops)
    return found[:limit]


def _caching(by_feature: pd.DataFrame) -> list[Suggestion]:
    rows = []
    for r in by_feature.itertuples(index=False):
        spend = dec(r.cost_input_usd)
        all_input = sum(num(getattr(r, c)) for c in INPUT_TOKEN_COLUMNS)
        hit = num(r.cache_read_tokens) / all_input if all_input else 0.0
        if spend is not None and spend >= MIN_INPUT_SPEND and hit < LOW_HIT_RATE:
            rows.append((spend, Suggestion(
                f"**{fmt.literal(r.feature)}** pays {fmt.money(spend)} for uncached input with a {fmt.pct(hit)} cache "
                "hit rate: cache its stable prefix (system prompt, tools).", "views/caching.py")))
    rows.sort(key=lambda item: item[0], reverse=True)
    return [s for _, s in rows[:2]]


def _truncation(stops: pd.DataFrame) -> list[Suggestion]:
    if stops.empty:
        return []
    features = stops[stops["dimension"] == "feature"]
    totals = features.groupby("value")["calls"].sum()
    truncated = features[features["stop_reason"] == "max_tokens"].groupby("value")["calls"].sum()
    rows = []
    for feature, cut in truncated.items():
        calls = int(totals.get(feature, 0))
        share = float(cut) / calls if calls else 0.0
        if calls >= MIN_CALLS and share >= TRUNCATION_SHARE:
            rows.append((share, Suggestion(
                f"**{fmt.literal(feature)}** stops at max_tokens in {fmt.pct(share)} of calls: answers are cut off; "
                "raise max_tokens or shorten the expected output.", "views/stop_reasons.py")))
    rows.sort(key=lambda item: item[0], reverse=True)
    return [s for _, s in rows[:2]]


def unpinned(aliases: pd.DataFrame, *, limit: int = 8) -> pd.DataFrame:
    """Features calling an alias rather than a dated snapshot, for a table: which alias, the
    snapshots that answered it (several: it switched in the range), and how many calls.

    ``aliases`` is queries.unpinned_aliases. Feature and model names come from spans: they are
    made visible text here (formatting.plain), and the table shows them as text.
    """
    columns = ["feature", "alias", "answered as", "calls"]
    if aliases.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (feature, alias), group in aliases.groupby(["feature", "alias"], sort=False):
        snapshots = sorted(fmt.plain(s) for s in group["snapshot"])
        rows.append((int(num(group["calls"].sum())), [fmt.plain(feature), fmt.plain(alias), ", ".join(snapshots)]))
    rows.sort(key=lambda item: (-item[0], item[1]))
    return pd.DataFrame([[*cells, fmt.count(calls)] for calls, cells in rows[:limit]], columns=columns)
