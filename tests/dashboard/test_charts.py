"""Chart specs (what Vega is told to draw): 24-hour UTC time axes, whole-number count ticks,
one distinct colour per series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd

from claudescope.dashboard import charts

T0 = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)


def _frame(hours: int, series: tuple[str, ...]) -> pd.DataFrame:
    rows = [{"bucket": T0 + timedelta(hours=h), "series": s, "cost_usd": Decimal("0.5"), "calls": 1}
            for h in range(hours) for s in series]
    return pd.DataFrame(rows)


def _axis(spec: dict[str, Any], channel: str) -> dict[str, Any]:
    return spec["encoding"][channel].get("axis", {})


def test_time_axes_are_24_hour_utc_and_iso_dates_across_days() -> None:
    one_day = charts.stacked_bars(_frame(6, ("a",)), x="bucket", y="cost_usd", color="series", y_title="spend",
                                  by_model=False, step=timedelta(hours=1)).to_dict()
    assert _axis(one_day, "x")["format"] == "%H:%M" and _axis(one_day, "x")["formatType"] == "utc"
    # What the browser draws: Streamlit's theme overrides a temporal format, an expression it keeps.
    assert _axis(one_day, "x")["labelExpr"] == "utcFormat(datum.value, '%H:%M')"
    assert one_day["encoding"]["x"]["scale"]["type"] == "utc"
    days = charts.lines(_frame(72, ("a",)), x="bucket", y="calls", color="series", y_title="calls",
                        by_model=False).to_dict()
    assert _axis(days, "x")["labelExpr"] == "utcFormat(datum.value, '%Y-%m-%d %H:%M')"
    daily = charts.stacked_bars(_frame(72, ("a",)), x="bucket", y="cost_usd", color="series", y_title="spend",
                                by_model=False, step=timedelta(days=1)).to_dict()
    assert _axis(daily, "x")["format"] == "%Y-%m-%d"
    assert "%p" not in str(one_day) and "%I" not in str(one_day)  # no 12-hour clock anywhere


def test_count_axes_tick_whole_numbers() -> None:
    frame = pd.DataFrame({"error_type": ["overloaded_error", "api_error"], "calls": [1, 2]})
    bars = charts.ranked_bars(frame, label="error_type", value="calls", title="failed calls", money=False).to_dict()
    assert _axis(bars, "x")["tickMinStep"] == 1 and _axis(bars, "x")["format"] == ",.0f"
    stacked = charts.stacked_bars(_frame(3, ("a",)), x="bucket", y="calls", color="series", y_title="calls",
                                  by_model=False, step=timedelta(hours=1), money=False).to_dict()
    assert _axis(stacked, "y")["tickMinStep"] == 1


def test_series_get_distinct_colours_models_too() -> None:
    models = ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "claude-haiku-4-5", "claude-opus-4-5",
              "claude-opus-4-1", "claude-fable-5-1")
    scale = charts.color_scale(models, by_model=True)
    assert len(set(scale.range)) == len(models)  # no two series share (nearly) one colour
    assert charts.color_scale(list(reversed(models)), by_model=True).range == scale.range  # stable per set
    fixed = charts.color_scale(["end_turn", "max_tokens", "other"], fixed=charts.STOP_REASON_COLORS)
    assert fixed.range[:2] == [charts.STOP_REASON_COLORS["end_turn"], charts.STOP_REASON_COLORS["max_tokens"]]
    assert fixed.range[2] not in charts.STOP_REASON_COLORS.values()
