"""Altair chart builders with one colour per model everywhere.

Charts plot floats (Vega needs numbers); the exact Decimal amounts are what tables and metrics
show, so nothing shown as money goes through float except a bar's height.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import timedelta

import altair as alt
import pandas as pd

from claudescope.safetext import visible

# Model families keep their hue across pages; versions get shades of it.
_FAMILY_SHADES: dict[str, tuple[str, ...]] = {
    "opus": ("#7b4fd6", "#a07be8", "#5a32a8", "#c3a8f5"),
    "sonnet": ("#d97757", "#e89a7f", "#b85a3c", "#f2bca8"),
    "haiku": ("#2a9d8f", "#52b8ab", "#1d7268", "#8fd4cb"),
    "fable": ("#e0a100", "#f0c040", "#b07f00", "#f5d67a"),
    "mythos": ("#c2410c", "#ea580c", "#9a3412", "#fb923c"),
}
_OTHER = ("#6b7280", "#3b82f6", "#ef4444", "#10b981", "#f59e0b", "#8b5cf6", "#ec4899", "#14b8a6")
# Stop reasons read the same on every chart: normal endings calm, truncation and refusal loud.
STOP_REASON_COLORS: dict[str, str] = {
    "end_turn": "#2a9d8f", "tool_use": "#3b82f6", "stop_sequence": "#8fd4cb", "max_tokens": "#d97757",
    "refusal": "#dc2626", "pause_turn": "#e0a100", "model_context_window_exceeded": "#7b4fd6", "(none)": "#c4c4c4",
}
_SERIES = ("#d97757", "#2a9d8f", "#7b4fd6", "#e0a100", "#3b82f6", "#ef4444", "#10b981", "#8b5cf6", "#ec4899",
           "#6b7280", "#14b8a6", "#f59e0b")


def model_color(model: str) -> str:
    """The colour of ``model``: its family's hue, a stable shade per version."""
    digest = int(hashlib.sha1(model.encode()).hexdigest(), 16)
    for family, shades in _FAMILY_SHADES.items():
        if family in model.lower():
            return shades[digest % len(shades)]
    return _OTHER[digest % len(_OTHER)]


def color_scale(values: Sequence[str], *, by_model: bool, fixed: dict[str, str] | None = None) -> alt.Scale:
    """A scale mapping each series to a colour; models use ``model_color``, ``fixed`` wins."""
    domain = sorted({str(v) for v in values})
    colors = [(fixed or {}).get(v) or (model_color(v) if by_model else _SERIES[i % len(_SERIES)])
              for i, v in enumerate(domain)]
    return alt.Scale(domain=domain, range=colors)


def stacked_bars(frame: pd.DataFrame, *, x: str, y: str, color: str, y_title: str, by_model: bool,
                 step: timedelta, money: bool = True) -> alt.Chart:
    """Stacked bars over time, one colour per series, each bar as wide as its bucket."""
    data = _labels(frame, color).assign(**{y: frame[y].map(_to_float), "bucket_end": frame[x] + step * 0.92})
    fmt = "$,.2f" if money else ",.0f"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(f"{x}:T", title=None),
            x2="bucket_end:T",
            y=alt.Y(f"sum({y}):Q", title=y_title, axis=alt.Axis(format="$,.2f" if money else "~s")),
            color=alt.Color(f"{color}:N", scale=color_scale(data[color].tolist(), by_model=by_model), title=None),
            tooltip=[alt.Tooltip(f"{x}:T", title="time"), alt.Tooltip(f"{color}:N"),
                     alt.Tooltip(f"sum({y}):Q", title=y_title, format=fmt)],
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
            x=alt.X(f"{x}:T", title=None),
            y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=y_format)),
            color=alt.Color(f"{color}:N", scale=color_scale(data[color].tolist(), by_model=by_model), title=None),
            tooltip=[alt.Tooltip(f"{x}:T", title="time"), alt.Tooltip(f"{color}:N"),
                     alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)],
        )
        .properties(height=280)
    )


def ranked_bars(frame: pd.DataFrame, *, label: str, value: str, title: str, money: bool = True,
                by_model: bool = False) -> alt.Chart:
    """Horizontal bars, largest first."""
    data = _labels(frame, label).assign(**{value: frame[value].map(_to_float)})
    color = (alt.Color(f"{label}:N", scale=color_scale(data[label].tolist(), by_model=True), legend=None)
             if by_model else alt.value("#d97757"))
    fmt = "$,.2f" if money else ",.0f"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y(f"{label}:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=220)),
            x=alt.X(f"{value}:Q", title=title, axis=alt.Axis(format=fmt)),
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
