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


CENT = Decimal("0.01")
UNIT = Decimal("0.0001")
UNPRICED = "unpriced"


def money(value: Decimal | float | int | str | None) -> str:
    """A total, in cents: ``$1,234.56``. A non-zero total that rounds to no cent reads
    ``<$0.01``: never ``$0.00``, which would say it was free."""
    return _amount(value, CENT)


def unit_money(value: Decimal | float | int | str | None) -> str:
    """A per-call or per-unit cost, always to four decimals (``$0.0036``, ``$0.8250``), so a
    column of them lines up; a non-zero cost below that reads ``<$0.0001``."""
    return _amount(value, UNIT)


def priced(value: Decimal | float | int | str | None, unpriced_calls: int, *, unit: bool = False) -> str:
    """Money that may leave out calls to models with no price: those are never shown as $0.

    ``unpriced (3 calls)`` when nothing is priced, ``$1.20 + 3 unpriced`` when part is.
    """
    shown = (unit_money if unit else money)(value)
    if unpriced_calls <= 0:
        return shown
    if is_missing(value) or Decimal(str(value)) == 0:
        return f"{UNPRICED} ({count(unpriced_calls)} calls)"
    return f"{shown} + {count(unpriced_calls)} {UNPRICED}"


def is_missing(value: object) -> bool:
    """True for NULL as a query answers it: None, NaN or pandas' NA."""
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _amount(value: Decimal | float | int | str | None, step: Decimal) -> str:
    if is_missing(value):
        return MISSING
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    sign = "-" if amount < 0 else ""
    rounded = abs(amount).quantize(step, rounding=ROUND_HALF_UP)
    if amount == 0:
        return f"${Decimal(0).quantize(step)}"
    if rounded == 0:
        return f"{sign}<${step}"
    return f"{sign}${rounded:,}"


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
