"""``claudescope prices [MODEL]``: the price table as a rich table, or one model in detail."""

from __future__ import annotations

from decimal import Decimal

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from claudescope.config import PricingConfig
from claudescope.pricing import PriceTable
from claudescope.pricing.periods import Period, day_text
from claudescope.pricing.table import PriceDataError, PriceEntry


def render_prices(pricing: PricingConfig, *, model: str | None, out: Console) -> int:
    """Print every row, or the row ``model`` resolves to. Exit code 1 for an unknown model."""
    try:
        table = PriceTable.load(pricing)
    except PriceDataError as exc:
        out.print(f"[bold red]price table error[/] {exc}")
        return 2
    if model is None:
        out.print(_overview(table))
        out.print(
            "USD per million tokens. Batch x0.5; geo: US inference_geo x1.1; >NK band: every "
            "category at the band's rates above N thousand prompt tokens; web search $0.01 per "
            "request; since DATE: these prices apply to calls started on or after DATE (UTC), earlier calls pay the earlier ones. "
            "Unknown models are never guessed: `claudescope prices MODEL` for sources and history."
        )
        return 0
    entry = table.entry(model)
    if entry is None:
        out.print(
            f"[bold red]unknown model[/] {escape(repr(model))}: claudescope has no price for it and never guesses; "
            'add it under \\[prices] in claudescope.toml, e.g. "my-model" = { input = 3.0, output = 15.0 }'
        )
        return 1
    out.print(_detail(entry, model, table.version))
    return 0


def _overview(table: PriceTable) -> Table:
    grid = Table(title=f"Claude prices, USD per MTok (price_version {table.version})", title_justify="left")
    for name in ("Model", "Input", "Output", "Write 5m", "Write 1h", "Read"):
        grid.add_column(name, justify="left" if name == "Model" else "right", no_wrap=True)
    grid.add_column("Modifiers")
    for entry in table.entries():
        rates = entry.rates
        grid.add_row(
            entry.model,
            *(_usd(v)[1:] for v in (rates.input, rates.output, rates.cache_write_5m, rates.cache_write_1h, rates.cache_read)),
            ", ".join(_notes(entry, short=True)),
        )
    return grid


def _detail(entry: PriceEntry, asked: str, version: str) -> Table:
    grid = Table(title=f"{entry.model} (price_version {version})", title_justify="left", show_header=False)
    grid.add_column("key", style="bold")
    grid.add_column("value")
    if asked.strip().lower() != entry.model:
        grid.add_row("resolved from", escape(asked))
    if entry.aliases:
        grid.add_row("aliases", ", ".join(entry.aliases))
    rates = entry.rates
    for label, value in (
        ("input", rates.input), ("output", rates.output), ("cache write 5m", rates.cache_write_5m),
        ("cache write 1h", rates.cache_write_1h), ("cache read", rates.cache_read),
    ):
        grid.add_row(label, f"{_usd(value)} / MTok")
    for note in _notes(entry):
        grid.add_row("modifier", note)
    if len(entry.periods) > 1 or entry.current.start is not None:
        # Prices by date: each period's rates, oldest first; a call pays those of its start_time.
        for period in entry.history():
            grid.add_row(f"prices {period.span()}", escape(_period_text(period)))
    for label, value in (("status", entry.status), ("source", entry.source), ("confidence", entry.confidence)):
        if value:
            grid.add_row(label, escape(value))
    grid.add_row("as of", entry.as_of.isoformat() if entry.as_of else "local override")
    return grid


def _period_text(period: Period) -> str:
    rates = period.rates
    parts = [
        f"in {_usd(rates.input)} / out {_usd(rates.output)} / write 5m {_usd(rates.cache_write_5m)} / "
        f"write 1h {_usd(rates.cache_write_1h)} / read {_usd(rates.cache_read)}"
    ]
    if period.long_context is not None:
        parts.append(f">{period.long_context.above // 1000}K band")
    if period.fast is not None:
        parts.append(_fast(period.fast))
    if period.note:
        parts.append(period.note)
    return "; ".join(parts)


def _fast(factor: Decimal) -> str:
    return "fast withdrawn (bills standard)" if factor == 1 else f"fast x{_plain(factor)}"


def _notes(entry: PriceEntry, *, short: bool = False) -> list[str]:
    notes = []
    start = entry.current.start
    if start is not None:
        notes.append(f"since {day_text(start)}" if short else f"current prices since {day_text(start)} (UTC)")
    band = entry.long_context
    if band is not None and short:
        notes.append(f">{band.above // 1000}K band")
    elif band is not None:
        notes.append(
            f">{band.above // 1000}K prompt: {_usd(band.rates.input)}/{_usd(band.rates.output)} "
            f"(writes {_usd(band.rates.cache_write_5m)}/{_usd(band.rates.cache_write_1h)}, read {_usd(band.rates.cache_read)})"
        )
    if entry.fast is not None:
        notes.append(_fast(entry.fast))
    if entry.geo:
        notes.append("geo" if short else "US inference_geo x1.1")
    if entry.overridden:
        notes.append("override")
    return notes


def _usd(value: Decimal) -> str:
    # Two decimals like the published tables, more only when the rate needs them ($0.125).
    return f"${value:.2f}" if value == round(value, 2) else f"${_plain(value)}"


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"
