"""Turn measured rows into verdicts: is each series fine, or how far past its threshold?

Pure functions: one per kind family, each taking the rows :func:`claudescope.alerts.sql.measure`
returned and the evaluation time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from claudescope.alerts.durations import format_duration
from claudescope.alerts.rules import Rule, Verdict

Row = Mapping[str, Any]
EXPLANATION_LIMIT = 300  # a reconciliation's explanation is sentences, not one value: bounded wider


def judge(rule: Rule, rows: Sequence[Row], now: datetime, period_end: datetime | None = None) -> list[Verdict]:
    """One verdict per measured series of ``rule`` (series without data are not listed)."""
    fn = _JUDGES.get(rule.kind, _rate)
    verdicts = []
    for row in rows:
        verdict = fn(rule, row, now, period_end)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def changed(rule: Rule, before: float | None, after: float) -> bool:
    """Whether a firing alert's measure moved enough for its stored summary to follow: any
    change of a count of calls (``unpriced_model``), a tenth of a rate or an amount otherwise."""
    if before is None:
        return True
    if rule.kind in ("unpriced_model", "spend_limit_reached"):
        return after != before
    return abs(after - before) > 0.1 * abs(before)


def severity(rule: Rule, level: int) -> str:
    """The severity of a series at ``level``: the rule's, except a spend limit nearly or fully
    used (``spend_limit_headroom`` level 2), which is critical whatever the rule says."""
    return "critical" if rule.kind == "spend_limit_headroom" and level >= 2 else rule.severity


def money(value: Decimal | float) -> str:
    """USD for people: cents above a dollar, four decimals below."""
    amount = Decimal(str(value))
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount:.4f}"


def _where(rule: Rule, key: str) -> str:
    return f" [{rule.group_by}={key}]" if rule.group_by else ""


def _verdict(rule: Rule, row: Row, level: int, value: float, summary: str, **details: Any) -> Verdict:
    base = {"kind": rule.kind, "key": row["key"], "group_by": rule.group_by, "calls": int(row.get("n") or 0),
            "value": value, "threshold": rule.threshold, "level": level,
            "window": format_duration(rule.window) if rule.window else None}
    return Verdict(key=str(row["key"]), level=level, value=value, threshold=rule.threshold,
                   summary=summary, details={**base, **details})


def _budget(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    budget: Decimal = rule.params["budget_usd"]
    spent = Decimal(str(row["spent"]))
    ratio = spent / budget
    crossed = [lvl for lvl in rule.params["levels"] if ratio >= Decimal(str(lvl))]
    level = len(crossed)
    period = "daily" if rule.params["period"] == "day" else "monthly"
    mark = f", crossed {crossed[-1]:.0%}" if crossed else ""
    summary = (f"{rule.name}: spend {money(spent)} is {ratio:.0%} of the {money(budget)} {period} budget"
               f"{mark}{_where(rule, row['key'])}")
    return _verdict(rule, row, level, float(ratio), summary, spent_usd=str(spent), budget_usd=str(budget),
                    crossed=crossed[-1] if crossed else None, period=rule.params["period"])


def _burn(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    budget: Decimal = rule.params["budget_usd"]
    spent = Decimal(str(row["spent"]))
    assert period_end is not None
    remaining_s = Decimal(str(max((period_end - now).total_seconds(), 0.0)))
    projections = []
    for i, window in enumerate(rule.params["windows"]):
        rate = Decimal(str(row[f"w{i}"])) / Decimal(str(window.total_seconds()))
        projections.append(spent + rate * remaining_s)
    worst_case = min(projections)  # every window must agree (multi-window burn rate)
    limit = budget * Decimal(str(rule.threshold))
    level = 1 if worst_case > limit and spent > 0 else 0
    windows = "/".join(format_duration(w) for w in rule.params["windows"])
    summary = (f"{rule.name}: at the last {windows} pace, spend will reach {money(worst_case)} by the end of the "
               f"{rule.params['period']}, over the {money(budget)} budget{_where(rule, row['key'])}" if level else
               f"{rule.name}: projected {money(worst_case)} of {money(budget)}{_where(rule, row['key'])}")
    return _verdict(rule, row, level, float(worst_case / budget), summary, spent_usd=str(spent),
                    budget_usd=str(budget), projected_usd=[str(p.quantize(Decimal('0.000000001'))) for p in projections],
                    windows=windows, period=rule.params["period"])


def _rate(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    n, hits = int(row["n"]), int(row["hits"])
    rate = hits / n if n else 0.0
    critical = row["key"] in rule.params.get("critical_features", ())
    what = _HIT_WORDS.get(rule.kind) or f"stopped with {rule.params.get('stop_reason')}"
    if rule.kind == "error_rate":
        what = f"failed with {rule.params['error']}" if rule.params["error"] != "any" else "failed"
    if rule.kind == "unpriced_model":
        level = 1 if hits > 0 else 0
        summary = f"{rule.name}: {hits} calls to {row['key']} have no price; add it under [prices]"
        return _verdict(rule, row, level, float(hits), summary, hits=hits)
    level = 1 if (critical and hits > 0) or (n >= rule.params.get("min_calls", 1) and hits and rate >= rule.threshold) else 0
    why = " (critical feature: any occurrence alerts)" if critical and hits else f", threshold {rule.threshold:.0%}"
    summary = (f"{rule.name}: {rate:.1%} of calls ({hits} of {n}) {what} in the last "
               f"{format_duration(rule.window)}{why}{_where(rule, row['key'])}")
    return _verdict(rule, row, level, rate, summary, hits=hits, critical=critical)


_HIT_WORDS = {"max_tokens_rate": "stopped at max_tokens (truncated)", "refusal_rate": "were refused",
              "context_window_rate": "exceeded the model context window"}


def _latency(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    value = float(row["value"] or 0.0)
    level = 1 if int(row["n"]) >= rule.params.get("min_calls", 1) and value > rule.threshold else 0
    label = "p95 latency" if rule.kind == "latency_p95" else "p95 time to first token"
    summary = (f"{rule.name}: {label} {value / 1000:.2f} s over the last {format_duration(rule.window)}, "
               f"threshold {rule.threshold / 1000:.2f} s{_where(rule, row['key'])}")
    return _verdict(rule, row, level, value, summary, unit="ms")


def _cache(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict | None:
    cur_total, base_total = int(row["cur_total"]), int(row["base_total"])
    floor = rule.params["min_tokens"]
    if cur_total < floor or base_total < floor:
        return None
    cur, base = int(row["cur_read"]) / cur_total, int(row["base_read"]) / base_total
    level = 1 if base > 0 and cur < base * (1 - rule.threshold) else 0
    summary = (f"{rule.name}: cache hit rate {cur:.1%} over the last {format_duration(rule.window)}, down from "
               f"{base:.1%} baseline (alert below {base * (1 - rule.threshold):.1%}){_where(rule, row['key'])}")
    return _verdict(rule, row, level, cur, summary, baseline=base)


def _headroom(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    remaining, limit = float(row["remaining"]), float(row["lim"])
    share = remaining / limit
    level = 1 if share < rule.threshold else 0
    resource = rule.params["resource"].replace("_", " ")
    summary = (f"{rule.name}: {remaining:,.0f} of {limit:,.0f} {resource} left in the rate-limit window "
               f"({share:.0%}, alert below {rule.threshold:.0%}){_where(rule, row['key'])}")
    return _verdict(rule, row, level, share, summary, remaining=remaining, limit=limit)


def _anomaly(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict | None:
    cur_start = now - rule.window
    first_seen: datetime | None = row["first_seen"]
    if first_seen is None or first_seen >= cur_start:
        return None  # no history of its own yet
    history = min(rule.params["baseline"], cur_start - first_seen)
    windows = max(history / rule.window, 1.0)
    usual = Decimal(str(row["base"])) / Decimal(str(windows))
    current = Decimal(str(row["current"]))
    limit = usual * Decimal(str(rule.threshold))
    level = 1 if current >= Decimal(str(rule.params["min_usd"])) and current > limit else 0
    factor = f"{current / usual:.1f}x" if usual > 0 else "far above"
    summary = (f"{rule.name}: spend {money(current)} in the last {format_duration(rule.window)} is {factor} its usual "
               f"{money(usual)}{_where(rule, row['key'])}")
    return _verdict(rule, row, level, float(current), summary, current_usd=str(current), usual_usd=str(usual))


def _spend_limit(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    hits = int(row["hits"])
    level = 1 if hits and hits >= rule.threshold else 0
    model, feature = row["model"] or "(none)", row["feature"] or "(none)"
    parts: list[Any] = [f"{rule.name}: {hits} call{'s' if hits != 1 else ''} refused by a spend limit "
                        f"({row['error_type']}) in the last {format_duration(rule.window)}, latest model ", [model],
                        ", feature ", [feature], "; retrying cannot help: raise the limit in the Console"]
    if rule.group_by:
        parts += [f" [{rule.group_by}=", [str(row["key"])], "]"]
    return _verdict(rule, row, level, float(hits), _joined(parts), hits=hits, model=row["model"],
                    feature=row["feature"], error_type=row["error_type"], last_hit=_iso(row["last_hit"]),
                    summary_parts=parts)


def _model_changed(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    after = int(row["n"])
    level = 1 if after >= rule.params.get("min_calls", 1) else 0
    at: datetime = row["switched_at"]
    parts: list[Any] = [f"{rule.name}: ", [row["key"]], " now answers as ", [row["new_model"]], " (was ",
                        [row["old_model"]], f") since {at:%Y-%m-%d %H:%M} UTC: {after} call{'s' if after != 1 else ''} "
                        f"since, compared per feature with the {format_duration(rule.window)} before"]
    compare: dict[str, dict[str, Any]] = {}
    for side in row["sides"]:
        compare.setdefault(side["feature"], {"feature": side["feature"], "before": None, "after": None})[
            "after" if side["after"] else "before"] = _side_metrics(side)
    return _verdict(rule, row, level, float(after), _joined(parts), alias=row["key"], old_model=row["old_model"],
                    new_model=row["new_model"], switched_at=_iso(at), compare=list(compare.values()),
                    summary_parts=parts)


def _bill_drift(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict:
    bill, ours, diff = (Decimal(str(row[k])) for k in ("bill_usd", "calls_usd", "diff_usd"))
    drift = abs(diff) / bill if bill else None
    over = drift > Decimal(str(rule.threshold)) if drift is not None else diff != 0
    level = 1 if over and abs(diff) >= Decimal(str(rule.params["min_usd"])) else 0
    differing = list(row["differing"] or [])
    causes = sorted({d["cause"] for d in differing})
    cause = causes[0] if len(causes) == 1 else ("mixed" if causes else "match")
    explanation = " ".join(d["explanation"] if len(differing) == 1 or d["workspace_id"] == "*"
                           else f"{d['workspace_id']}: {d['explanation']}" for d in differing)
    shown = f"drift {drift:.2%}" if drift is not None else "not in the bill"
    day = f"{row['day']:%Y-%m-%d}"
    parts: list[Any] = [f"{rule.name}: ", [row["model"]], f" on {day} (UTC): claudescope {money(ours)}, bill "
                        f"{money(bill)}, diff {'+' if diff > 0 else '-' if diff < 0 else ''}{money(abs(diff))} ({shown}, alert above "
                        f"{rule.threshold:.2%}); cause {cause}"]
    if explanation:
        parts += [": ", [explanation, EXPLANATION_LIMIT]]
    return _verdict(rule, row, level, float(drift) if drift is not None else 1.0, _joined(parts), day=day,
                    model=row["model"], bill_usd=str(bill), calls_usd=str(ours), diff_usd=str(diff),
                    drift=str(drift.quantize(Decimal("0.000000001"))) if drift is not None else None,
                    cause=cause, explanation=explanation, summary_parts=parts)


def _spend_headroom(rule: Rule, row: Row, now: datetime, period_end: datetime | None) -> Verdict | None:
    cap, spent = Decimal(str(row["amount_usd"])), Decimal(str(row["spent"]))
    if cap <= 0:
        return None  # a zero cap blocks every call: spend_limit_reached says so, there is no headroom
    headroom = 1 - spent / cap
    limit = Decimal(str(rule.threshold))
    level = 2 if spent >= cap or headroom < limit / 2 else (1 if headroom < limit else 0)
    scope = "organisation" if row["scope_type"] == "organization" else "workspace "
    parts: list[Any] = [f"{rule.name}: {money(spent)} of the {money(cap)} {row['period']} spend limit used "
                        f"({max(headroom, Decimal(0)):.0%} left, alert below {rule.threshold:.0%}) for the {scope}"]
    if row["scope_type"] != "organization":
        parts.append([row["workspace_id"]])
    parts.append("; spend as claudescope traced it: calls it never saw are not counted")
    return _verdict(rule, row, level, float(headroom), _joined(parts), spent_usd=str(spent), cap_usd=str(cap),
                    period=row["period"], scope=row["scope_type"], workspace_id=row["workspace_id"],
                    limit_id=row["limit_id"], summary_parts=parts)


def _side_metrics(side: Row) -> dict[str, Any]:
    """One side (before or after the switch) of one feature: the rates the issue names."""
    n, ok, priced = int(side["n"]), int(side["ok"]), int(side["priced"])
    cost = Decimal(str(side["cost"])) / priced if priced and side["cost"] is not None else None
    return {"calls": n, "cost_per_call_usd": str(cost.quantize(Decimal("0.000000001"))) if cost is not None else None,
            "output_tokens": side["output_tokens"], "max_tokens_rate": int(side["max_tokens"]) / ok if ok else None,
            "refusal_rate": int(side["refusals"]) / ok if ok else None, "p95_latency_ms": side["p95_ms"],
            "error_rate": int(side["errors"]) / n if n else None}


def _joined(parts: list[Any]) -> str:
    """The summary text of ``parts``: fixed text, and span values as one-element lists."""
    return "".join(str(p[0]) if isinstance(p, list) else p for p in parts)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


_JUDGES: dict[str, Callable[[Rule, Row, datetime, datetime | None], Verdict | None]] = {
    "budget": _budget,
    "burn_rate": _burn,
    "latency_p95": _latency,
    "ttft_p95": _latency,
    "cache_hit_rate": _cache,
    "rate_limit_headroom": _headroom,
    "cost_anomaly": _anomaly,
    "spend_limit_reached": _spend_limit,
    "model_changed": _model_changed,
    "bill_drift": _bill_drift,
    "spend_limit_headroom": _spend_headroom,
}
