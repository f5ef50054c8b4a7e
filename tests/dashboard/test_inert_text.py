"""The dashboard's text helpers: span values as inert Markdown, visible table cells and options."""

from __future__ import annotations

import pandas as pd

from claudescope.dashboard import formatting as fmt
from claudescope.dashboard.charts import ranked_bars
from claudescope.safetext import quoted, visible

TRICKS = "a\nb\r\u202egnp.exe\u2066\u200b\ufeff"


def test_visible_shows_hidden_characters_and_bounds_the_value() -> None:
    assert visible(TRICKS) == r"a\nb\r\u202egnp.exe\u2066\u200b\ufeff"
    assert visible("x" * 500) == "x" * 120 + "…"
    assert visible("\n" * 100, limit=5) == r"\n\n" + "…"  # an escape is never cut in half
    assert quoted('say "hi"\\') == r'"say \"hi\"\\"'


def test_literal_is_a_code_span_whatever_the_value_holds() -> None:
    assert fmt.literal("[x](http://evil.example)") == "`[x](http://evil.example)`"
    assert fmt.literal("a`b") == "``a`b``"
    assert fmt.literal("`x") == "`` `x ``"
    assert fmt.literal("") == r"\(empty\)"
    assert fmt.literal(TRICKS) == r"`a\nb\r\u202egnp.exe\u2066\u200b\ufeff`"
    assert fmt.escape("$1.00 [a]") == r"\$1\.00 \[a\]"


def test_table_cells_options_and_chart_labels_are_visible_text() -> None:
    frame = pd.DataFrame({"feature": [TRICKS, "plain"], "calls": [1, 2]})
    shown = fmt.cells(frame)
    assert shown["feature"].tolist() == [visible(TRICKS), "plain"] and shown["calls"].tolist() == [1, 2]
    assert frame["feature"][0] == TRICKS  # the caller's frame is untouched
    assert fmt.plain(TRICKS) == visible(TRICKS)
    chart = ranked_bars(frame.assign(cost_usd=[1, 2]), label="feature", value="cost_usd", title="spend")
    assert chart.data["feature"].tolist() == [visible(TRICKS), "plain"]
