"""The Overview's one line about the bill, for every state of the reconciliation tables."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import re

import pandas as pd

from claudescope.dashboard import bill


def _status(**row: Any) -> pd.DataFrame:
    base = {"days": 0, "first_day": None, "last_day": None, "differing": 0, "tolerance": None,
            "finished_runs": 0, "last_run": None, "last_error": None}
    return pd.DataFrame([{**base, **row}])


def _plain(markdown: str) -> str:
    """The text a reader sees of our own escaped Markdown."""
    return re.sub(r"\\(.)", r"\1", markdown)


def test_tolerance_reads_as_people_write_it() -> None:
    assert [bill.tolerance(Decimal(t)) for t in ("0.001", "0.000100000", "0.01", "0.0125")] == [
        "0.1 %", "0.01 %", "1 %", "1.25 %"]


def test_each_state() -> None:
    assert bill.verdict(_status()) == bill.Verdict("none", "Not reconciled yet — run `claudescope reconcile`")
    assert bill.verdict(pd.DataFrame()).state == "none"
    assert bill.verdict(_status(finished_runs=1)).state == "empty"
    one_day = dict(days=1, first_day=date(2026, 12, 1), last_day=date(2026, 12, 1), finished_runs=1,
                   tolerance=Decimal("0.000500000"))
    match = bill.verdict(_status(**one_day))
    assert match.state == "match"
    assert _plain(match.text) == "Matches the bill within 0.05 % over the 1 day reconciled (2026-12-01, UTC)."
    differ = bill.verdict(_status(**{**one_day, "differing": 3}))
    assert differ.state == "differ"
    assert _plain(differ.text).startswith("3 day × model rows differ from the bill (by more than 0.05 %)")


def test_a_failed_last_run_is_shown_as_a_literal() -> None:
    shown = bill.verdict(_status(last_error="cost report: [x](http://evil.example) **401**")).text
    assert shown.endswith("The last run failed\\: `cost report: [x](http://evil.example) **401**`")
