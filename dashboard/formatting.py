"""How numbers and stored text look: money, tokens, durations, rates, and span values as inert
Markdown. Pure functions, exact for money."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd

from claudescope.safetext import VALUE_LIMIT, visible

MISSING = "—"
SUMMARY_LIMIT = 400  # a stored alert summary or error message: longer than one value, still bounded
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def money(value: Decimal | float | int | str | None, *, precise: bool = False) -> str:
    """``$1,234.56``; sub-cent amounts keep three significant digits (``$0.000375``).

    ``precise`` keeps three significant digits below one dollar too (unit costs: ``$0.0413``).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    sign = "-" if amount < 0 else ""
    amount = abs(amount)
    if amount == 0:
        return "$0.00"
    if amount >= (Decimal(1) if precise else Decimal("0.01")):
        return f"{sign}${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"
    # Small amounts: three significant digits, so a per-call price is still readable.
    exponent = amount.adjusted() - 2
    text = format(amount.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP), "f")
    if "." in text:
        whole, _, frac = text.partition(".")
        text = f"{whole}.{frac.rstrip('0').ljust(2, '0')}"  # cents always show: $0.20, not $0.2
    return f"{sign}${text}"


def tokens(value: int | float | None) -> str:
    """``950``, ``12.3K``, ``1.2M``, ``3.4B``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    number = float(value)
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(number) >= threshold:
            return f"{number / threshold:.1f}{suffix}"
    return f"{int(number):,}"


def count(value: int | float | None) -> str:
    """An exact count with thousands separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{int(value):,}"


def ms(value: float | None) -> str:
    """``850 ms``, ``4.60 s``, ``12.3 s``, ``4.2 min``, ``3.1 h``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if value >= 7_200_000:
        return f"{value / 3_600_000:,.1f} h"
    if value >= 120_000:
        return f"{value / 60_000:.1f} min"
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value >= 1_000:
        return f"{value / 1000:.2f} s"
    return f"{value:,.0f} ms"


def pct(value: float | None, digits: int = 1) -> str:
    """A ratio in [0, 1] as a percentage."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value * 100:.{digits}f}%"


def plain(value: object) -> str:
    """A value read from the store for a plain-text place (a widget's option, a table cell):
    one line, hidden and bidi-override characters shown as escapes, bounded."""
    return visible(value, VALUE_LIMIT)


def cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for display: every text cell through ``visible`` (tables show text, but a bidi
    override or a zero-width character in a cell would still mislead the reader)."""
    shown = frame.copy()
    for column in shown.columns:
        if shown[column].dtype == object or pd.api.types.is_string_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: visible(v, SUMMARY_LIMIT) if isinstance(v, str) else v)
    return shown


def literal(value: object, limit: int = VALUE_LIMIT) -> str:
    """A value read from the store, for any Streamlit Markdown string: shown, never interpreted.

    The value becomes one visible line (see ``claudescope.safetext.visible``) inside an inline
    code span. Backslash escapes alone are not enough: Streamlit links bare URLs and e-mail
    addresses found in plain text whatever their escapes, while a code span's content is
    literal (no links, images, HTML, emphasis, math or ``:directives:``).
    """
    text = visible(value, limit)
    if not text:
        return escape("(empty)")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    # A space inside each fence keeps a value that starts or ends with a backtick (or with a
    # space at both ends) intact: CommonMark strips exactly one space on each side.
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def escape(text: str) -> str:
    """Our own text (money, percentages) for a Markdown string: every ASCII punctuation
    character escaped, so ``$1.00`` cannot open LaTeX and nothing else is read as markup."""
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
