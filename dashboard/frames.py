"""Merging shard answers into one frame, exactly (Decimal stays Decimal).

With several collectors (scale-out shards) each query runs on every shard. Additive aggregates
(sums, counts) are re-summed; maxima are re-maxed; non-mergeable selections (percentiles, lists)
are concatenated with a ``shard`` column so the page can pick per shard.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

Merge = Literal["sum", "max", "min", "concat"]


def to_frame(tables: Sequence[pa.Table], *, keys: Sequence[str] = (), merge: Merge = "sum") -> pd.DataFrame:
    """One DataFrame from one Arrow table per shard, merged by ``keys`` with ``merge``."""
    frames = [t.to_pandas() for t in tables]
    if len(frames) == 1:
        return frames[0]
    for index, frame in enumerate(frames):
        frame["shard"] = index
    combined = pd.concat(frames, ignore_index=True)
    if merge == "concat":
        return combined
    combined = combined.drop(columns="shard")
    values = [c for c in combined.columns if c not in keys]
    if not keys:
        return pd.DataFrame([{c: _reduce(combined[c], merge) for c in values}])
    grouped = combined.groupby(list(keys), as_index=False, dropna=False, sort=False)
    return grouped.agg({c: (lambda s, m=merge: _reduce(s, m)) for c in values})


def total(frame: pd.DataFrame) -> pd.DataFrame:
    """One row summing every numeric / money column of ``frame`` (labels dropped), exactly."""
    values = [c for c in frame.columns if not _is_label(frame[c])]
    return pd.DataFrame([{c: _reduce(frame[c], "sum") if len(frame) else 0 for c in values}])


def _is_label(series: pd.Series) -> bool:
    present = [v for v in series.tolist() if not _is_null(v)]
    return bool(present) and isinstance(present[0], str)


def _reduce(series: pd.Series, merge: Merge) -> Any:
    present = [v for v in series.tolist() if not _is_null(v)]
    if not present:
        return None
    if merge == "max":
        return max(present)
    if merge == "min":
        return min(present)
    return sum(present, Decimal(0)) if isinstance(present[0], Decimal) else sum(present)


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def dec(value: Any) -> Decimal | None:
    """A money cell as Decimal (NULL stays None); never goes through float."""
    if _is_null(value):
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def num(value: Any, default: float = 0.0) -> float:
    """A count / token / latency cell as float (NULL becomes ``default``)."""
    if _is_null(value):
        return default
    return float(value)
