"""The pricing engine against hand-computed cases (pricing_cases.toml) and its edge rules."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import random
import re
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from claudescope.config import PricingConfig, load_config
from claudescope.config_prices import parse_prices
from claudescope.pricing import Cost, PriceDataError, PriceTable, Usage
from claudescope.cli.prices import render_prices as print_prices
from claudescope.pricing.table import load_table_data

CASES = tomllib.loads((Path(__file__).parent / "pricing_cases.toml").read_text(), parse_float=Decimal)
PARTS = {"input": "input_usd", "output": "output_usd", "cache_read": "cache_read_usd",
         "cache_write": "cache_write_usd", "other": "other_usd"}
# Every priced model of shared/research/anthropic.md §3.5 (claude-mythos-preview has no price).
RESEARCH_MODELS = [
    "claude-fable-5-2", "claude-mythos-5-2", "claude-fable-5-1", "claude-mythos-5-1", "claude-fable-5",
    "claude-mythos-5", "claude-opus-5-5", "claude-opus-5", "claude-opus-4-8", "claude-opus-4-7",
    "claude-opus-4-6", "claude-opus-4-5", "claude-opus-4-1", "claude-opus-4-0", "claude-sonnet-5-5",
    "claude-sonnet-5", "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-sonnet-4-0", "claude-3-7-sonnet",
    "claude-haiku-5-5", "claude-haiku-4-5", "claude-3-5-haiku", "claude-3-opus", "claude-3-haiku",
]


def _pricing(case: dict[str, Any]) -> PricingConfig:
    # Through the config loader's own [prices] parser: dated rows become DatedPrice periods.
    return PricingConfig(overrides=parse_prices(case.get("overrides", {}), "pricing_cases.toml"), **case.get("pricing", {}))


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load(PricingConfig())


@pytest.mark.parametrize("case", CASES["case"], ids=[c["name"] for c in CASES["case"]])
def test_case(case: dict[str, Any]) -> None:
    cost = PriceTable.load(_pricing(case)).price(case["model"], Usage(**case["usage"]), at=case.get("at"))
    if case.get("expect_none"):
        assert cost is None
        return
    assert cost is not None
    expect = case["expect"]
    for key, attr in PARTS.items():
        got = getattr(cost, attr)
        assert got == Decimal(expect.get(key, "0")), f"{key}: {got}"
        assert got.as_tuple().exponent == -9, f"{key} not quantized to 1e-9: {got!r}"
    assert cost.total_usd == Decimal(expect["total"])


RESOLVE = [(k, v) for k, v in CASES["resolve"].items() if k != "unresolved"]


@pytest.mark.parametrize("model_id,canonical", RESOLVE, ids=[k for k, _ in RESOLVE])
def test_resolve(table: PriceTable, model_id: str, canonical: str) -> None:
    assert table.resolve(model_id) == canonical


@pytest.mark.parametrize("model_id", CASES["resolve"]["unresolved"])
def test_unresolved_ids_are_not_guessed(table: PriceTable, model_id: str) -> None:
    assert table.resolve(model_id) is None
    assert table.price(model_id, Usage(input_tokens=1)) is None


def test_none_model_is_unpriced(table: PriceTable) -> None:
    assert table.price(None, Usage(input_tokens=10)) is None


def test_repeated_lookups_are_stable(table: PriceTable) -> None:
    # The second call hits the id cache: it must agree with the first.
    usage = Usage(input_tokens=7, output_tokens=3)
    first = table.price("us.anthropic.claude-opus-4-1-20250805-v1:0", usage)
    assert first == table.price("us.anthropic.claude-opus-4-1-20250805-v1:0", usage)
    assert first is not None and first.total_usd == Decimal("0.000330")


def test_every_research_model_has_a_sourced_dated_row(table: PriceTable) -> None:
    rows = {e.model: e for e in table.entries()}
    assert set(RESEARCH_MODELS) <= set(rows)
    for entry in table.entries():
        assert entry.source and entry.confidence and entry.status, entry.model
        assert "https://" in entry.source, f"{entry.model}: a source is a public URL"
        assert isinstance(entry.as_of, dt.date), entry.model
        assert entry.rates.input > 0 and entry.rates.output > 0
        assert all(isinstance(v, Decimal) for v in dataclasses.astuple(entry.rates))


def test_aliases_are_unique_and_resolve_to_their_row(table: PriceTable) -> None:
    seen: dict[str, str] = {}
    for entry in table.entries():
        for key in (entry.model, *entry.aliases):
            assert key not in seen, f"{key} claimed by {seen.get(key)} and {entry.model}"
            seen[key] = entry.model
            assert table.resolve(key) == entry.model


def test_geo_applies_exactly_to_4_6_and_later(table: PriceTable) -> None:
    eligible = {e.model for e in table.entries() if e.geo}
    older = {"claude-opus-4-5", "claude-opus-4-1", "claude-opus-4-0", "claude-3-opus", "claude-sonnet-4-5",
             "claude-sonnet-4-0", "claude-3-7-sonnet", "claude-haiku-4-5", "claude-3-5-haiku", "claude-3-haiku"}
    assert eligible == set(RESEARCH_MODELS) - older


def test_version(table: PriceTable) -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table.version)
    cost = table.price("claude-haiku-4-5", Usage(input_tokens=1))
    assert cost is not None and cost.price_version == table.version
    one = PriceTable.load(PricingConfig(overrides={"m": {"input": Decimal(1), "output": Decimal(2)}}))
    two = PriceTable.load(PricingConfig(overrides={"m": {"input": Decimal(1), "output": Decimal(3)}}))
    switch = PriceTable.load(PricingConfig(geo_applies_to_cache=False))
    versions = {table.version, one.version, two.version, switch.version}
    assert len(versions) == 4
    assert one.version.startswith(table.version + "+local.")
    # Same local prices, same version: a restart must not look like a price change.
    again = PriceTable.load(PricingConfig(overrides={"m": {"input": Decimal("1.0"), "output": Decimal(2)}}))
    assert again.version == one.version


def test_overrides_from_claudescope_toml(tmp_path: Path) -> None:
    path = tmp_path / "claudescope.toml"
    path.write_text('[prices]\n"claude-sonnet-4-5" = { input = 2.5, output = 12.5 }\n[pricing]\nbatch_applies_to_cache = false\n')
    table = PriceTable.load(load_config(path).pricing)
    usage = Usage(input_tokens=1000, cache_read_tokens=1000, output_tokens=1000, service_tier="batch")
    cost = table.price("claude-sonnet-4-5-20250929", usage)
    assert cost is not None
    # in 1000 x 2.5 x 0.5 = 1250 ; read 1000 x 0.25 (derived), not halved = 250 ; out 1000 x 12.5 x 0.5 = 6250
    assert (cost.input_usd, cost.cache_read_usd, cost.output_usd) == (Decimal("0.00125"), Decimal("0.00025"), Decimal("0.00625"))
    entry = next(e for e in table.entries() if e.model == "claude-sonnet-4-5")
    assert entry.overridden and entry.long_context is None and entry.aliases == ("claude-sonnet-4-5-20250929",)


def test_cost_total_is_the_sum_of_parts() -> None:
    cost = Cost(Decimal("0.1"), Decimal("0.2"), Decimal("0.3"), Decimal("0.4"), Decimal("0.000000001"), "v")
    assert cost.total_usd == Decimal("1.000000001")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cost.input_usd = Decimal(0)  # type: ignore[misc]


def test_negative_usage_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        Usage(output_tokens=-1)


def test_huge_usage_stays_exact(table: PriceTable) -> None:
    cost = table.price("claude-opus-4-1", Usage(input_tokens=123_456_789_012, output_tokens=1))
    assert cost is not None
    assert cost.input_usd == Decimal("1851851.83518")  # 123456789012 x 15 / 1e6
    assert cost.output_usd == Decimal("0.000075")


@pytest.mark.parametrize(
    "text,message",
    [
        ('price_version = "x"\n[modifiers]\ncache_write_5m = 1.25\n', "modifiers.cache_write_1h: missing"),
        (None, "models.claude-bad: missing output"),
        (None, "models.claude-bad.input: expected a number"),
        (None, "models.claude-bad: unknown keys ['inptu']"),
        (None, "models.claude-bad.input: must not be negative"),
        ("price_version = [", "prices.toml"),
    ],
)
def test_malformed_data_file_names_model_and_key(text: str | None, message: str) -> None:
    modifiers = '[modifiers]\ncache_write_5m = 1.25\ncache_write_1h = 2.0\ncache_read = 0.1\nbatch = 0.5\ngeo = { us = 1.1 }\nweb_search_per_request = 0.01\n'
    rows = {
        "models.claude-bad: missing output": "input = 1.0\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n",
        "models.claude-bad.input: expected a number": 'input = "1"\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n',
        "models.claude-bad: unknown keys ['inptu']": "inptu = 1\ninput = 1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n",
        "models.claude-bad.input: must not be negative": "input = -1\noutput = 1\ncache_write_5m = 1\ncache_write_1h = 1\ncache_read = 1\n",
    }
    if text is None:
        text = f'price_version = "x"\n{modifiers}[models.claude-bad]\n{rows[message]}'
    with pytest.raises(PriceDataError) as info:
        load_table_data(PricingConfig(), text=text)
    assert message in str(info.value)


def _render(model: str | None, pricing: PricingConfig | None = None) -> tuple[int, str]:
    out = Console(record=True, width=200)
    code = print_prices(pricing or PricingConfig(), model=model, out=out)
    return code, out.export_text()


def test_print_prices_lists_every_model() -> None:
    code, text = _render(None)
    assert code == 0
    assert "price_version 2026-12-02" in text
    for model in RESEARCH_MODELS:
        assert re.search(rf"\b{re.escape(model)}\s", text), model
    sonnet = next(line for line in text.splitlines() if "claude-sonnet-4-5 " in line)
    assert re.search(r"3\.00\s.*15\.00\s.*3\.75\s.*6\.00\s.*0\.30\s.*>200K band", sonnet)
    haiku = next(line for line in text.splitlines() if "claude-haiku-5-5 " in line)
    assert "0.125" in haiku and ">100K band" in haiku


def test_print_prices_one_model_by_any_id() -> None:
    code, text = _render("us.anthropic.claude-opus-4-6-v1")
    assert code == 0
    assert "claude-opus-4-6" in text and "resolved from" in text
    assert "$5.00 / MTok" in text and "$25.00 / MTok" in text
    assert "fast withdrawn (bills standard)" in text and "US inference_geo x1.1" in text
    assert re.search(r"prices … \.\. 2026-06-29 .*fast x6", text)
    assert "https://platform.claude.com" in text and "2026-12-02" in text


def test_print_prices_unknown_model_fails_with_advice() -> None:
    code, text = _render("gpt-4o")
    assert code == 1
    assert "unknown model" in text and "[prices]" in text


def test_print_prices_marks_overrides() -> None:
    pricing = PricingConfig(overrides={"acme-proxy": {"input": Decimal("1.5"), "output": Decimal("7")}})
    code, text = _render(None, pricing)
    assert code == 0
    row = next(line for line in text.splitlines() if "acme-proxy" in line)
    assert "1.50" in row and "7.00" in row and "0.15" in row and "override" in row
    code, text = _render("acme-proxy", pricing)
    assert code == 0 and "local override" in text


def test_cli_prices_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from claudescope.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["prices", "claude-sonnet-4-5@20250929"])
    assert result.exit_code == 0, result.output
    assert "claude-sonnet-4-5" in result.output and "$22.50" in result.output
    assert CliRunner().invoke(app, ["prices", "no-such-model"]).exit_code == 1


# --- an independent oracle: exact fractions straight from prices.toml -------------------------

PRICES_TOML = Path(__file__).resolve().parents[2] / "claudescope" / "pricing" / "prices.toml"


def _utc(value: dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.combine(value, dt.time(0), tzinfo=dt.UTC)


def _in_force(model_row: dict[str, Any], at: dt.datetime | None) -> dict[str, Any] | None:
    """The row itself (current prices) or the history entry whose [from, until) holds ``at``."""
    if at is None:
        return model_row
    for period in (model_row, *model_row.get("history", ())):
        starts = "from" not in period or _utc(period["from"]) <= at
        ends = period is model_row or at < _utc(period["until"])
        if starts and ends:
            return period
    return None


def _oracle(raw: dict[str, Any], model: str, usage: Usage, switches: tuple[bool, bool, bool],
            at: dt.datetime | None = None) -> dict[str, Decimal] | None:
    """The rules restated from scratch with Fractions: what price(..., at=at) must return."""
    model_row = raw["models"][model]
    row = _in_force(model_row, at)
    if row is None:
        return None
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_5m_tokens + usage.cache_write_1h_tokens
    band = row.get("long_context")
    rates = band if band is not None and prompt > band["above"] else row
    tokens = cache = Fraction(1)
    if usage.service_tier == "batch":
        tokens *= raw["modifiers"]["batch"]
        cache *= raw["modifiers"]["batch"] if switches[0] else 1
    if model_row.get("geo") and usage.inference_geo == "us":
        tokens *= raw["modifiers"]["geo"]["us"]
        cache *= raw["modifiers"]["geo"]["us"] if switches[1] else 1
    if usage.speed == "fast":
        if "fast" not in row:
            return None
        tokens *= row["fast"]
        cache *= row["fast"] if switches[2] else 1

    def usd(amount: Fraction) -> Decimal:
        return Decimal(round(amount * 10**9)).scaleb(-9)  # round() on a Fraction is half-to-even

    mtok = Fraction(1, 10**6)
    return {
        "input_usd": usd(usage.input_tokens * rates["input"] * tokens * mtok),
        "output_usd": usd(usage.output_tokens * rates["output"] * tokens * mtok),
        "cache_read_usd": usd(usage.cache_read_tokens * rates["cache_read"] * cache * mtok),
        "cache_write_usd": usd((usage.cache_write_5m_tokens * rates["cache_write_5m"]
                                + usage.cache_write_1h_tokens * rates["cache_write_1h"]) * cache * mtok),
        "other_usd": usd(usage.web_search_requests * raw["modifiers"]["web_search_per_request"]),
    }


def _moments(raw: dict[str, Any]) -> list[dt.datetime | None]:
    """None (current prices), each price change of the table and the microsecond before it."""
    edges = {_utc(p[k]) for row in raw["models"].values() for p in (row, *row.get("history", ())) for k in ("from", "until") if k in p}
    return [None, *edges, *(e - dt.timedelta(microseconds=1) for e in edges)]


def test_engine_agrees_with_an_independent_fraction_oracle() -> None:
    raw = tomllib.loads(PRICES_TOML.read_text(), parse_float=Fraction)
    moments = _moments(raw)
    assert len(moments) >= 9  # Sonnet 5.5's cache-read cut and three fast-mode withdrawals
    rng = random.Random(20261122)
    tables = {s: PriceTable.load(PricingConfig(batch_applies_to_cache=s[0], geo_applies_to_cache=s[1],
                                               fast_applies_to_cache=s[2]))
              for s in itertools.product((True, False), repeat=3)}
    checked = 0
    for model in raw["models"]:
        for _ in range(40):
            scale = rng.choice((10, 1_000, 100_000, 400_000))
            usage = Usage(
                input_tokens=rng.randrange(scale), cache_read_tokens=rng.randrange(scale),
                cache_write_5m_tokens=rng.randrange(scale // 2 + 1), cache_write_1h_tokens=rng.randrange(scale // 4 + 1),
                output_tokens=rng.randrange(64_000), web_search_requests=rng.randrange(4),
                service_tier=rng.choice((None, "standard", "batch", "priority")),
                inference_geo=rng.choice((None, "global", "us", "not_available")),
                speed=rng.choice((None, "standard", "fast")),
            )
            switches = rng.choice(list(tables))
            at = rng.choice((*moments, dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=rng.randrange(366 * 86400))))
            cost = tables[switches].price(model, usage, at=at)
            expected = _oracle(raw, model, usage, switches, at)
            if expected is None:
                assert cost is None, (model, usage)
                continue
            assert cost is not None, (model, usage)
            assert {k: getattr(cost, k) for k in expected} == expected, (model, usage, switches, at)
            checked += 1
    assert checked > 500
