"""Altair chart builders: distinct colours, 24-hour UTC time axes, whole-number count axes.

Charts plot floats (Vega needs numbers); the exact Decimal amounts are what tables and metrics
show, so nothing shown as money goes through float except a bar's height.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import altair as alt
import pandas as pd

from claudescope.safetext import visible

# Tableau 10 then its dark variants: categorical, every pair tells apart (no two shades of a hue
# side by side). Series take them in sorted order, so one set of models has one set of colours.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f4e79", "#a0522d", "#2e7d32", "#6a1b9a")
# Stop reasons read the same on every chart: normal endings calm, truncation and refusal loud.
STOP_REASON_COLORS: dict[str, str] = {
    "end_turn": "#59a14f", "tool_use": "#4e79a7", "stop_sequence": "#76b7b2", "max_tokens": "#f28e2b",
    "refusal": "#e15759", "pause_turn": "#edc948", "model_context_window_exceeded": "#b07aa1", "(none)": "#bab0ac",
}
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"


def color_scale(values: Sequence[str], *, by_model: bool = False, fixed: dict[str, str] | None = None) -> alt.Scale:
    """A scale giving each series its own colour from ``PALETTE`` (in sorted order); ``fixed`` wins.

    ``by_model`` is kept for callers: models take the palette like any other series.
    """
    domain = sorted({str(v) for v in values})
    free = [c for c in PALETTE if c not in (fixed or {}).values()] or list(PALETTE)
    colors, i = [], 0
    for value in domain:
        if fixed and value in fixed:
            colors.append(fixed[value])
        else:
            colors.append(free[i % len(free)])
            i += 1
    return alt.Scale(domain=domain, range=colors)


def time_axis(times: pd.Series, step: timedelta | None = None) -> alt.Axis:
    """A UTC time axis in 24-hour time: ``%H:%M`` within a day, ISO dates across days."""
    span = (times.max() - times.min()) if len(times) else timedelta(0)
    if step is not None and step >= timedelta(days=1):
        label = "%Y-%m-%d"
    elif span is not pd.NaT and span >= timedelta(days=1):
        label = "%Y-%m-%d %H:%M"
    else:
        label = "%H:%M"
    # labelExpr as well as format: Streamlit's chart theme replaces a temporal axis' format with
    # Vega's 12-hour default ("06 PM"); an expression is drawn as written.
    return alt.Axis(format=label, formatType="utc", labelExpr=f"utcFormat(datum.value, '{label}')",
                    labelOverlap=True)


def _time(x: str, times: pd.Series, step: timedelta | None = None) -> alt.X:
    return alt.X(f"{x}:T", title=None, scale=alt.Scale(type="utc"), axis=time_axis(times, step))


def _count_axis(fmt: str) -> alt.Axis:
    # Whole numbers only: at small counts Vega would tick 0, 0.5, 1 and label them 0, 1, 1.
    return alt.Axis(format=fmt, tickMinStep=1)


def stacked_bars(frame: pd.DataFrame, *, x: str, y: str, color: str, y_title: str, by_model: bool,
                 step: timedelta, money: bool = True) -> alt.Chart:
    """Stacked bars over time, one colour per series, each bar as wide as its bucket."""
    data = _labels(frame, color).assign(**{y: frame[y].map(_to_float), "bucket_end": frame[x] + step * 0.92})
    fmt = "$,.2f" if money else ",.0f"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=_time(x, data[x], step),
            x2="bucket_end:T",
            y=alt.Y(f"sum({y}):Q", title=y_title,
                    axis=alt.Axis(format="$,.2f", tickMinStep=0.01) if money else _count_axis(",.0f")),
            color=alt.Color(f"{color}:N", scale=color_scale(data[color].tolist(), by_model=by_model), title=None),
            tooltip=[alt.Tooltip(f"{x}:T", title="time", format=TIME_FORMAT, formatType="utc"),
                     alt.Tooltip(f"{color}:N"), alt.Tooltip(f"sum({y}):Q", title=y_title, format=fmt)],
        )
        .properties(height=300)
    )


def lines(frame: pd.DataFrame, *, x: str, y: str, color: str, y_title: str, by_model: bool,
          y_format: str = ",.0f") -> alt.Chart:
    """Lines over time, one per series."""
    data = _labels(frame, color).assign(**{y: frame[y].map(_to_float)})
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=_time(x, data[x]),
            y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
            color=alt.Color(f"{color}:N", scale=color_scale(data[color].tolist(), by_model=by_model), title=None),
            tooltip=[alt.Tooltip(f"{x}:T", title="time", format=TIME_FORMAT, formatType="utc"),
                     alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)],
        )
        .properties(height=280)
    )


def ranked_bars(frame: pd.DataFrame, *, label: str, value: str, title: str, money: bool = True,
                by_model: bool = False) -> alt.Chart:
    """Horizontal bars, largest first."""
    data = _labels(frame, label).assign(**{value: frame[value].map(_to_float)})
    color = (alt.Color(f"{label}:N", scale=color_scale(data[label].tolist()), legend=None)
             if by_model else alt.value(PALETTE[0]))
    fmt = "$,.2f" if money else ",.0f"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            x=alt.X(f"{value}:Q", title=title,
                    axis=alt.Axis(format=fmt, tickMinStep=0.01) if money else _count_axis(fmt)),
            color=color,
            tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{value}:Q", title=title, format=fmt)],
        )
        .properties(height=alt.Step(30))
    )


def share_bars(frame: pd.DataFrame, *, label: str, part: str, value: str, title: str) -> alt.Chart:
    """100% stacked horizontal bars: the share of each part within each label."""
    data = _labels(frame, label, part).assign(**{value: frame[value].map(_to_float)})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(f"{label}:N", title=None),
            x=alt.X(f"sum({value}):Q", stack="normalize", title=title, axis=alt.Axis(format="%")),
            color=alt.Color(f"{part}:N", scale=color_scale(data[part].tolist(), by_model=False,
                                                           fixed=STOP_REASON_COLORS), title=None),
            tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{part}:N"), alt.Tooltip(f"sum({value}):Q", format=",")],
        )
        .properties(height=alt.Step(30))
    )


def _labels(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    # Series names come from spans: drawn as text by Vega, but bidi overrides and hidden
    # characters would still mislead, and a 64 KiB name would swamp the axis.
    return frame.assign(**{c: frame[c].map(lambda v: visible(v) if isinstance(v, str) else v) for c in columns})


def _to_float(value: object) -> float | None:
    if value is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
