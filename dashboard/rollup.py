"""Answer additive aggregates from the collector's rollups, exactly as the raw ``calls`` query would.

The collector keeps ``calls_hour`` (hour x model x feature x stop_reason) and ``calls_minute``
(minute x model x feature x user_id) as additive deltas of ``calls``, read here through their
``*_live`` views (the tables plus the calls not folded in yet, so always exact). A dashboard
range rarely starts or ends on a bucket boundary, so a query reads the whole buckets inside the
range from a rollup and the ragged ends from ``calls`` (cheap: few rows, pruned by
start_time), and an outer ``SUM ... GROUP BY`` merges both. Anything a rollup lacks (service,
prompt version, per-call columns, percentiles) makes ``plan`` return None and the caller runs
its raw query.

Rollup keys store '' for "none"; the raw queries show '(unknown)' / '(none)', mapped here.
Assumes the collector's DuckDB session is on a whole-hour UTC offset (date_trunc buckets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from claudescope import rollup_contract as contract
from claudescope.dashboard.filters import Filters
from claudescope.dashboard.sqltext import lit, ts, where


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup table: its time column, bucket width and the call dimensions it keeps."""

    table: str
    time: str
    step: timedelta
    dims: frozenset[str]


HOUR = Rollup(contract.HOUR.live_view, contract.HOUR.bucket, contract.HOUR.step, contract.HOUR.dimensions)
MINUTE = Rollup(contract.MINUTE.live_view, contract.MINUTE.bucket, contract.MINUTE.step, contract.MINUTE.dimensions)
# Per dimension: (expression over calls, expression over a rollup) giving the same labels.
KEYS: dict[str, tuple[str, str]] = {
    "model": ("coalesce(response_model, request_model, '(unknown)')", "coalesce(nullif(model, ''), '(unknown)')"),
    "feature": ("coalesce(feature, '(none)')", "coalesce(nullif(feature, ''), '(none)')"),
    "user": ("coalesce(user_id, '(none)')", "coalesce(nullif(user_id, ''), '(none)')"),
}
# Per measure: (aggregate over calls, aggregate over a rollup, type of the merged column). Token
# sums coalesce to 0 and cost stays NULL when no call in the group has a price, as in raw SQL.
MEASURES: dict[str, tuple[str, str, str]] = {
    "calls": ("count(*)", "sum(calls)", "BIGINT"),
    "errors": ("count(*) FILTER (WHERE status = 'error')", "sum(errors)", "BIGINT"),
    "input_tokens": ("coalesce(sum(input_tokens), 0)", "sum(input_tokens)", "HUGEINT"),
    "cache_read_tokens": ("coalesce(sum(cache_read_tokens), 0)", "sum(cache_read_tokens)", "HUGEINT"),
    "cache_write_tokens": ("coalesce(sum(cache_write_5m_tokens), 0) + coalesce(sum(cache_write_1h_tokens), 0)",
                           "sum(cache_write_tokens)", "HUGEINT"),
    "output_tokens": ("coalesce(sum(output_tokens), 0)", "sum(output_tokens)", "HUGEINT"),
    "cost_usd": ("sum(cost_usd)", "sum(cost_usd)", "DECIMAL(38,9)"),
}
_PRICED = ("count(cost_usd)", "sum(calls) - sum(unpriced_calls)")


@dataclass(frozen=True, slots=True)
class Plan:
    """Read ``rollup`` over ``[mid_start, mid_end)`` and ``calls`` over the rest of the range."""

    rollup: Rollup
    start: datetime
    mid_start: datetime
    mid_end: datetime
    end: datetime


def plan(f: Filters, dims: Sequence[str], *, start: datetime | None = None, end: datetime | None = None,
         bucket: timedelta | None = None, attribution: bool = True) -> Plan | None:
    """The rollup that answers a query grouped by ``dims`` (and ``bucket``) under ``f``, or None.

    ``attribution=False`` ignores the dimension filters (org-wide numbers such as budgets).
    calls_hour is preferred (small); calls_minute serves user filters and sub-hour buckets.
    """
    start, end = start or f.start, end or f.end
    needed = set(dims)
    if attribution:
        if f.services or f.prompt_versions or f.sources:  # no source column in the rollups
            return None
        needed |= {name for name, on in (("model", f.models), ("feature", f.features), ("user", f.users)) if on}
    for rollup in (HOUR, MINUTE):
        if not needed <= rollup.dims or (bucket is not None and bucket % rollup.step):
            continue
        mid_start, mid_end = _ceil(start, rollup.step), _floor(end, rollup.step)
        if mid_start < mid_end:
            return Plan(rollup, start, mid_start, mid_end, end)
    return None


def _floor(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = moment.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(epoch // seconds * seconds, UTC)


def _ceil(moment: datetime, step: timedelta) -> datetime:
    floor = _floor(moment, step)
    return floor if floor == moment else floor + step


def sql(p: Plan, f: Filters, *, dims: Sequence[str], measures: Sequence[str], bucket: timedelta | None = None,
        extra: dict[str, tuple[str, str]] | None = None, attribution: bool = True) -> str:
    """One SELECT merging the rollup's whole buckets with raw ragged ends, grouped like the raw query.

    ``extra`` adds measures as (aggregate over calls, aggregate over the rollup) summed as-is.
    """
    extra = extra or {}
    raw_keys = [KEYS[d][0] for d in dims]
    roll_keys = [KEYS[d][1] for d in dims]
    if bucket is not None:
        raw_keys.insert(0, contract.bucket_sql("start_time", bucket))
        roll_keys.insert(0, contract.bucket_sql(p.rollup.time, bucket))
    names = (["bucket"] if bucket is not None else []) + list(dims)

    def part(keys: list[str], aggs: list[str], source: str, cond: str) -> str:
        cols = [f"{k} AS {n}" for k, n in zip(keys, names)] + aggs
        group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
        return f"SELECT {', '.join(cols)} FROM {source} WHERE {cond}{group}"

    raw_aggs = [f"{MEASURES[m][0]} AS {m}" for m in measures] + [f"{e[0]} AS {n}" for n, e in extra.items()]
    roll_aggs = [f"{MEASURES[m][1]} AS {m}" for m in measures] + [f"{e[1]} AS {n}" for n, e in extra.items()]
    raw_aggs.append(f"{_PRICED[0]} AS _priced")
    roll_aggs.append(f"{_PRICED[1]} AS _priced")
    scope = f if attribution else f.without_dimensions()
    parts = [part(roll_keys, roll_aggs, p.rollup.table, _rollup_where(p, scope))]
    for lo, hi in ((p.start, p.mid_start), (p.mid_end, p.end)):
        if lo < hi:
            parts.append(part(raw_keys, raw_aggs, "calls", where(scope, start=lo, end=hi)))
    # coalesce: with no rows at all (ungrouped), counts and token sums are 0 as in raw SQL.
    outer = [f"coalesce(sum({m}), 0)::{MEASURES[m][2]} AS {m}" for m in measures if m != "cost_usd"]
    if "cost_usd" in measures:
        outer.append(f"CASE WHEN sum(_priced) > 0 THEN sum(cost_usd) END::DECIMAL(38,9) AS cost_usd")
    outer += [f"sum({n}) AS {n}" for n in extra]
    union = " UNION ALL ".join(parts)
    if not names:
        return f"SELECT {', '.join(outer)} FROM ({union})"
    return (f"SELECT {', '.join(names)}, {', '.join(outer)} FROM ({union}) GROUP BY ALL "
            f"HAVING sum(calls) <> 0 ORDER BY {names[0]}")


def _rollup_where(p: Plan, f: Filters) -> str:
    clauses = [f"{p.rollup.time} >= {ts(p.mid_start)}", f"{p.rollup.time} < {ts(p.mid_end)}"]
    # Filter on the stored columns: '' (none) never equals a picked value, as NULL in raw SQL.
    for values, column in ((f.models, KEYS["model"][1]), (f.features, "feature"), (f.users, "user_id")):
        if values:
            clauses.append(f"{column} IN ({', '.join(lit(v) for v in values)})")
    return " AND ".join(clauses)
