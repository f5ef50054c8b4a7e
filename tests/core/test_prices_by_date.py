"""Prices by date: the data format, the [prices] override form, the table refresh, the CLI history."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from claudescope.cli.prices import render_prices
from claudescope.config import ConfigError, DatedPrice, PricingConfig, load_config
from claudescope.pricing import PriceDataError, PriceTable, Usage
from claudescope.pricing.table import load_table_data

ROOT = Path(__file__).resolve().parents[2]
PRICES_TOML = ROOT / "claudescope" / "pricing" / "prices.toml"
UTC = dt.UTC
MODIFIERS = ('price_version = "x"\n[modifiers]\ncache_write_5m = 1.25\ncache_write_1h = 2.0\ncache_read = 0.1\n'
             "batch = 0.5\ngeo = { us = 1.1 }\nweb_search_per_request = 0.01\n")
RATES = "input = 1\noutput = 2\ncache_write_5m = 1\ncache_write_1h = 2\ncache_read = 0.1\n"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load(PricingConfig())


def _render(model: str, pricing: PricingConfig | None = None) -> str:
    out = Console(record=True, width=220)
    assert render_prices(pricing or PricingConfig(), model=model, out=out) == 0
    return out.export_text()


def test_sonnet_5_5_cache_read_changed_on_2026_10_07(table: PriceTable) -> None:
    reads = Usage(cache_read_tokens=1_000_000)
    before = table.price("claude-sonnet-5-5", reads, at=dt.datetime(2026, 10, 6, 23, 59, 59, 999_999, tzinfo=UTC))
    cut = table.price("claude-sonnet-5-5", reads, at=dt.datetime(2026, 10, 7, tzinfo=UTC))
    naive = table.price("claude-sonnet-5-5", reads, at=dt.datetime(2026, 10, 6, 12))  # naive = UTC
    assert (before.cache_read_usd, cut.cache_read_usd, naive.cache_read_usd) == (Decimal("0.2"), Decimal("0.1"), Decimal("0.2"))
    assert before.price_version == cut.price_version == table.version == "2026-12-02"


def test_table_refresh(table: PriceTable) -> None:
    fable, mythos = table.entry("claude-fable-5-2"), table.entry("claude-mythos-5-2")
    assert fable.fast == Decimal(2) and mythos.rates == fable.rates
    assert mythos.confidence != "low" and "whats-new-fable-5-2" in mythos.source
    assert "deprecated 2026-11-23" in table.entry("claude-opus-4-5").status
    for model, withdrawn, before in (("claude-opus-4-6", "2026-06-29", 6), ("claude-opus-4-7", "2026-07-24", 6),
                                      ("claude-opus-4-8", "2026-11-30", 2)):
        entry = table.entry(model)
        assert entry.fast == 1 and entry.current.start == dt.datetime.fromisoformat(withdrawn).replace(tzinfo=UTC)
        assert entry.period(entry.current.start - dt.timedelta(microseconds=1)).fast == before
    band = table.entry("claude-haiku-5-5").long_context
    assert band.above == 100_000
    assert tuple(band.rates.__getattribute__(k) for k in ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")) == (
        Decimal("0.50"), Decimal("2.50"), Decimal("0.625"), Decimal("1.00"), Decimal("0.05"))


def test_sources_are_public_urls_not_local_paths() -> None:
    text = PRICES_TOML.read_text()
    assert not re.search(r"/work/|shared/research|/home/|/Users/|[A-Z]:\\\\", text)
    assert "https://platform.claude.com/docs/en/about-claude/pricing" in text


def test_cache_multiplier_scopes_are_stated_with_sources_and_match_the_defaults() -> None:
    default = PricingConfig()
    assert (default.batch_applies_to_cache, default.fast_applies_to_cache, default.geo_applies_to_cache) == (True, True, True)
    for text in (PRICES_TOML.read_text(), (ROOT / "docs" / "data-model.md").read_text()):
        for switch in ("batch_applies_to_cache = true", "fast_applies_to_cache = true", "geo_applies_to_cache = true"):
            assert switch in text
        assert "https://github.com/BerriAI/litellm/pull/38378" in text and "[secondary]" in text
        assert re.search(r"(?i)geo.{0,200}unconfirmed", text, re.S)


def test_prices_command_shows_the_history() -> None:
    text = _render("claude-sonnet-5-5")
    assert re.search(r"prices … \.\. 2026-10-07\s.*read \$0\.20", text)
    assert re.search(r"prices 2026-10-07 \.\. now\s.*read \$0\.10", text)
    assert "current prices since 2026-10-07 (UTC)" in text
    pricing = PricingConfig(overrides={"claude-sonnet-5-5": (DatedPrice({"input": Decimal(1), "output": Decimal(5)},
                                                                         start=dt.datetime(2026, 12, 1, tzinfo=UTC)),)})
    text = _render("claude-sonnet-5-5", pricing)
    assert re.search(r"prices 2026-12-01 \.\. now\s.*in \$1\.00 .*override", text)
    assert re.search(r"prices 2026-10-07 \.\. now\s.*read \$0\.10", text)  # the built-in period, before the override


def test_dated_overrides_from_claudescope_toml(tmp_path: Path) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text('[prices]\n"claude-haiku-4-5" = { until = 2026-03-01, input = 0.5, output = 2.5 }\n'
                    '"acme" = [{ until = 2026-05-01T12:00:00+02:00, input = 1, output = 2 }, { from = 2026-05-01T10:00:00Z, input = 3, output = 4 }]\n')
    pricing = load_config(path).pricing
    assert pricing.overrides["claude-haiku-4-5"] == (
        DatedPrice({"input": Decimal("0.5"), "output": Decimal("2.5")}, end=dt.datetime(2026, 3, 1, tzinfo=UTC)),)
    table = PriceTable.load(pricing)
    one = Usage(input_tokens=1_000_000)
    assert table.price("claude-haiku-4-5", one, at=dt.datetime(2026, 2, 1, tzinfo=UTC)).total_usd == Decimal("0.5")
    assert table.price("claude-haiku-4-5", one, at=dt.datetime(2026, 3, 1, tzinfo=UTC)).total_usd == Decimal(1)
    assert table.price("claude-haiku-4-5", one).total_usd == Decimal(1)  # current: the list price again
    assert table.price("acme", one, at=dt.datetime(2026, 5, 1, 9, 59, tzinfo=UTC)).total_usd == Decimal(1)
    assert table.price("acme", one, at=dt.datetime(2026, 5, 1, 10, tzinfo=UTC)).total_usd == Decimal(3)
    assert table.version.startswith("2026-12-02+local.")


@pytest.mark.parametrize("row,key,problem", [
    ('"m" = [{ until = 2026-06-01, input = 1, output = 2 }, { from = 2026-05-01, input = 1, output = 2 }]',
     '[prices] "m"', "overlap"),
    ('"m" = { from = 2026-06-01, until = 2026-05-01, input = 1, output = 2 }', '[prices] "m"', "is not before"),
    ('"m" = { from = "June", input = 1, output = 2 }', '[prices] "m".from', "expected a date"),
    ('"m" = [{ from = 2026-06-01, input = 1, output = 2, since = 2026-01-01 }]', '[prices] "m"[0].since', "unknown price key"),
    ('"m" = [{ from = 2026-06-01, input = 1 }]', '[prices] "m"[0]', "needs at least input and output"),
    ('"m" = []', '[prices] "m"', "expected an inline table"),
])
def test_bad_dated_override_names_key_and_file(tmp_path: Path, row: str, key: str, problem: str) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text(f"[prices]\n{row}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {key}") and problem in str(info.value), str(info.value)


@pytest.mark.parametrize("history,message", [
    ("[[models.claude-bad.history]]\n" + RATES, "models.claude-bad.history[0].until: missing"),
    ("[[models.claude-bad.history]]\nuntil = 2026-09-01\n" + RATES, "gap between periods"),
    ("[[models.claude-bad.history]]\nuntil = 2026-11-01\n" + RATES, "overlap"),
    ("[[models.claude-bad.history]]\nuntil = 2026-10-07\nfast = 2\n" + RATES.replace("output = 2\n", ""),
     "models.claude-bad.history[0]: missing output"),
    ('[[models.claude-bad.history]]\nuntil = "soon"\n' + RATES, "history[0].until: expected a date"),
    ("[[models.claude-bad.history]]\nuntil = 2026-10-07\nsince = 1\n" + RATES, "unknown keys ['since']"),
])
def test_malformed_history_names_model_and_key(history: str, message: str) -> None:
    text = f"{MODIFIERS}[models.claude-bad]\n{RATES}from = 2026-10-07\n{history}"
    with pytest.raises(PriceDataError) as info:
        load_table_data(PricingConfig(), text=text)
    assert message in str(info.value)
