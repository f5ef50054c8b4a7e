"""How the bill panel reads: the at-a-glance verdict on the latest reconciliation, and the rows
and spend limits as display tables. Pure functions over the frames ``queries_bill`` returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import pandas as pd

from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.frames import dec, num

@dataclass(frozen=True, slots=True)
class Verdict:
    """``state`` is ``none`` (never reconciled), ``empty`` (nothing to compare), ``match`` or
    ``differ``; ``text`` is Markdown (our own text escaped, stored text as literals)."""

    state: str
    text: str


def tolerance(value: Decimal | None) -> str:
    """A tolerance share as people write it: 0.001 -> ``0.1 %``."""
    share = (value if value is not None else Decimal("0.001")) * 100
    return f"{share.normalize():f} %"


def verdict(status: pd.DataFrame) -> Verdict:
    """The one line the Overview shows about the bill, from ``queries_bill.bill_status``."""
    row = status.iloc[0] if not status.empty else pd.Series(dtype=object)
    days, runs = int(num(row.get("days"))), int(num(row.get("finished_runs")))
    failed = row.get("last_error")
    tail = "" if fmt.is_missing(failed) else \
        f" {fmt.escape('The last run failed:')} {fmt.literal(failed, limit=fmt.SUMMARY_LIMIT)}"
    if runs == 0:
        return Verdict("none", fmt.escape("Not reconciled yet — run ") + "`claudescope reconcile`" + tail)
    if days == 0:
        return Verdict("empty", fmt.escape("Reconciled, with nothing to compare: no bill and no traced calls "
                                           "on the days covered.") + tail)
    span = _span(row.get("first_day"), row.get("last_day"), days)
    differing = int(num(row.get("differing")))
    within = tolerance(dec(row.get("tolerance")))
    if differing == 0:
        return Verdict("match", fmt.escape(f"Matches the bill within {within} over {span}.") + tail)
    rows = "day × model row differs" if differing == 1 else "day × model rows differ"
    return Verdict("differ", fmt.escape(f"{differing} {rows} from the bill (by more than {within}), over {span}: "
                                        "the days, models and causes are listed below.") + tail)


def _span(first: object, last: object, days: int) -> str:
    plural = "day" if days == 1 else "days"
    if isinstance(first, (date, datetime)) and isinstance(last, (date, datetime)):
        shown = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        return f"the {days} {plural} reconciled ({shown}, UTC)"
    return f"the {days} {plural} reconciled"


def mismatch_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows that differ, for display: money exact to the cent fraction, drift as a percent."""
    return pd.DataFrame({
        "day": [f"{d:%Y-%m-%d}" if isinstance(d, (date, datetime)) else str(d) for d in rows["day"]],
        "model": rows["model"],
        "workspace": ["all" if w == "*" else w for w in rows["workspace"]],
        "bill": [fmt.unit_money(dec(v)) for v in rows["bill_usd"]],
        "claudescope": [fmt.unit_money(dec(v)) for v in rows["calls_usd"]],
        "diff": [_signed(dec(v)) for v in rows["diff_usd"]],
        "drift": [fmt.pct(float(d), 2) if not fmt.is_missing(d) else "not billed" for d in rows["drift"]],
        "cause": rows["cause"],
        "why": rows["explanation"],
    })


def _signed(value: Decimal | None) -> str:
    shown = fmt.unit_money(value)
    return f"+{shown}" if value is not None and value > 0 else shown


def headroom_table(limits: pd.DataFrame) -> pd.DataFrame:
    """Each spend limit: its scope, period, cap, what traced calls spent, and the share left."""
    left = []
    for cap, spent in zip(limits["amount_usd"], limits["spent_usd"]):
        amount, used = dec(cap) or Decimal(0), dec(spent) or Decimal(0)
        left.append(fmt.pct(float(max(1 - used / amount, Decimal(0))), 0) if amount > 0 else fmt.MISSING)
    return pd.DataFrame({
        "scope": ["organisation" if s == "organization" else w for s, w in zip(limits["scope_type"], limits["workspace_id"])],
        "period": limits["period"],
        "cap": [fmt.money(dec(v)) for v in limits["amount_usd"]],
        "spent (traced)": [fmt.money(dec(v)) for v in limits["spent_usd"]],
        "left": left,
    })
