"""Docs-driven tests: the user documentation must stay true to the code.

Each test reads the real docs and the real code (schema, config, CLI) or runs what the docs
show (SQL recipes against a collector loaded with known calls, the config examples through
``load_config``), so a renamed column, a new option or a broken recipe fails here.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from claudescope import config as config_mod
from claudescope.cli import app
from claudescope.config import Config, ConfigError, load_config
from claudescope.schema import ALERT_EVENT_COLUMNS, CALL_COLUMN_NAMES
from tests.fixtures_collector import RunningCollector, call_span, start_collector

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
_FENCE = re.compile(r"^```[^\n]*\n.*?^```", re.S | re.M)


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _blocks(text: str, lang: str) -> list[str]:
    return [b.strip() for b in re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)]


def _all_docs() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


# --- data model ------------------------------------------------------------------------
def _table_first_cells(text: str) -> set[str]:
    """Backticked names in the first cell of markdown table rows (`a`, `b` split too)."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("|"):
            first = line.split("|")[1]
            names.update(re.findall(r"`([^`]+)`", first))
    return names


def test_every_calls_column_has_a_row_in_data_model() -> None:
    rows = _table_first_cells(_text("data-model.md"))
    missing = [c for c in CALL_COLUMN_NAMES if c not in rows]
    assert not missing, f"docs/data-model.md lacks a table row for calls columns {missing}"


def test_every_alert_events_column_is_documented() -> None:
    rows = _table_first_cells(_text("data-model.md"))
    missing = [c.name for c in ALERT_EVENT_COLUMNS if c.name not in rows]
    assert not missing, f"docs/data-model.md lacks alert_events columns {missing}"


# --- configuration ---------------------------------------------------------------------
def _write(directory: Path, text: str) -> Path:
    path = directory / f"example-{len(list(directory.iterdir()))}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _sections(tmp_path: Path) -> list[str]:
    """The config file's sections, as the loader itself reports them for an unknown one."""
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, "[no_such_section_zz]\n"), env={})
    return re.findall(r"'(\w+)'", info.value.problem)


def _section_keys() -> dict[str, list[str]]:
    """{config field: keys a user can write} for every nested section of Config."""
    rename = {"for_": "for"}
    skip = {"rules", "overrides", "params"}
    out: dict[str, list[str]] = {}
    defaults = Config()
    for f in dataclasses.fields(Config):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            out[f.name] = [rename.get(g.name, g.name) for g in dataclasses.fields(value) if g.name not in skip]
    out["alerts"] += [rename.get(g.name, g.name) for g in dataclasses.fields(config_mod.RuleConfig) if g.name != "params"]
    return out


def test_every_config_section_is_documented(tmp_path: Path) -> None:
    doc = _text("configuration.md")
    sections = _sections(tmp_path)
    assert {"server", "budget", "alerts", "notify", "prices", "pricing", "limits", "query"} <= set(sections)
    missing = [s for s in sections if f"[{s}]" not in doc]
    assert not missing, f"docs/configuration.md lacks sections {missing}"


def test_every_config_key_is_documented() -> None:
    doc = _text("configuration.md")
    scalar = [name for name in config_mod._SCALAR_OPTIONS]
    nested = [key for keys in _section_keys().values() for key in keys]
    missing = [k for k in scalar + nested if f"`{k}`" not in doc and f"\n{k} =" not in doc]
    assert not missing, f"docs/configuration.md lacks config keys {missing}"


def test_every_environment_variable_is_documented() -> None:
    doc = _text("configuration.md")
    names = [config_mod.ENV_PREFIX + config_mod._ENV_NAMES.get(n, n.upper()) for n in config_mod._SCALAR_OPTIONS]
    names += [config_mod.ENV_PREFIX + "CONFIG", config_mod.ENV_PREFIX + "NOTIFY_URLS"]
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"docs/configuration.md lacks environment variables {missing}"
    # and each one really is read: setting it changes the loaded configuration
    for name in config_mod._SCALAR_OPTIONS:
        var = config_mod.ENV_PREFIX + config_mod._ENV_NAMES.get(name, name.upper())
        raw = {"data_dir": "/tmp/x", "host": "10.0.0.1", "token": "t", "log_format": "json"}.get(name, "1234")
        assert getattr(load_config(env={var: raw}), name) != getattr(Config(), name), var


def test_config_examples_load_and_show_every_key(tmp_path: Path) -> None:
    doc = _text("configuration.md")
    blocks = _blocks(doc, "toml")
    assert blocks, "docs/configuration.md has no toml example"
    for block in blocks:
        load_config(_write(tmp_path, block), env={})  # raises ConfigError naming the key
    complete = blocks[0]
    written = set(re.findall(r"^#?\s*\"?([\w-]+)\"?\s*=", complete, re.M)) | set(re.findall(r"^\[+([\w.]+)\]+", complete, re.M))
    expected = {k for keys in _section_keys().values() for k in keys} | set(config_mod._SCALAR_OPTIONS)
    missing = sorted(expected - written)
    assert not missing, f"the complete claudescope.toml example lacks {missing}"
    full = load_config(_write(tmp_path, complete), env={})
    assert full.alerts.rules and full.pricing.overrides and full.notify.urls


def test_readme_toml_examples_load(tmp_path: Path) -> None:
    blocks = _blocks(README.read_text(encoding="utf-8"), "toml")
    for block in blocks:  # the README's alert example is the first thing users copy
        load_config(_write(tmp_path, block), env={})


# --- CLI -------------------------------------------------------------------------------
def _commands() -> Iterator[tuple[str, Any]]:
    """(full command line, click command) of every registered command, groups included.

    Typer vendors its own click, so groups are recognised by their ``commands`` mapping.
    """
    root = typer.main.get_command(app)

    def walk(prefix: str, group: Any) -> Iterator[tuple[str, Any]]:
        for name, cmd in getattr(group, "commands", {}).items():
            path = f"{prefix} {name}"
            yield path, cmd
            yield from walk(path, cmd)

    yield from walk("claudescope", root)


def test_every_cli_command_is_documented() -> None:
    commands = dict(_commands())
    assert {"claudescope up", "claudescope sql", "claudescope alerts test", "claudescope run"} <= set(commands)
    corpus = "\n".join(p.read_text(encoding="utf-8") for p in _all_docs())
    missing = [c for c, cmd in commands.items() if not hasattr(cmd, "commands") and c not in corpus]
    assert not missing, f"commands documented nowhere in README.md or docs/: {missing}"


def test_every_cli_option_is_in_configuration_md() -> None:
    doc = _text("configuration.md")
    missing = []
    for path, cmd in _commands():
        for param in cmd.params:
            if param.param_type_name == "option":
                longest = max(param.opts, key=len)
                if longest != "--help" and f"`{longest}" not in doc:
                    missing.append(f"{path} {longest}")
    assert not missing, f"docs/configuration.md lacks CLI options {missing}"


def _logical_lines(block: str, console: bool) -> Iterator[str]:
    """Shell lines of a code block, continuation lines and multi-line quotes joined."""
    pending = ""
    for raw in block.splitlines():
        if console and not pending:
            if not raw.startswith("$ "):
                continue
            raw = raw[2:]
        pending = f"{pending}\n{raw}" if pending else raw
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # an open quote: the command goes on on the next line
            continue
        yield pending
        pending = ""


def _documented_invocations() -> list[tuple[str, list[str]]]:
    """(file, argv after ``claudescope``) of every claudescope command in shell blocks of the docs."""
    names = set(getattr(typer.main.get_command(app), "commands", {}))
    found = []
    for doc in _all_docs():
        text = doc.read_text(encoding="utf-8")
        for lang, block in re.findall(r"^```(bash|sh|console)\n(.*?)^```", text, re.S | re.M):
            for line in _logical_lines(block, console=lang == "console"):
                line = re.sub(r"\$\([^)]*\)", "x", line)
                lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
                lexer.whitespace_split = True
                lexer.commenters = "#"
                words: list[str] = []
                for token in [*lexer, ";"]:
                    if token in (";", "&&", "||", "|", ">", ">>", "&"):
                        if len(words) > 1 and words[0] == "claudescope" and words[1] in names:
                            found.append((doc.name, words[1:]))
                        words = [] if token not in (">", ">>") else ["<redirect>"]
                    elif words == ["<redirect>"]:
                        words = ["<file>"]
                    else:
                        words.append(token)
    return found


def _parse(argv: list[str]) -> None:
    """Parse and type-check argv exactly as the CLI would, without running the command."""
    group = typer.main.get_command(app)
    with group.make_context("claudescope", list(argv)) as ctx:
        name, command, rest = group.resolve_command(ctx, list(argv))
        assert command is not None
        if hasattr(command, "commands"):
            _parse_sub(command, name, rest, ctx)
            return
        with command.make_context(name, rest, parent=ctx) as sub:
            assert sub.allow_extra_args or not sub.args, f"unexpected arguments {sub.args}"


def _parse_sub(group: Any, name: str | None, rest: list[str], parent: Any) -> None:
    with group.make_context(name, list(rest), parent=parent) as ctx:
        sub_name, command, sub_rest = group.resolve_command(ctx, list(rest))
        with command.make_context(sub_name, sub_rest, parent=ctx):
            pass


def test_documented_command_lines_parse_with_the_real_cli() -> None:
    invocations = _documented_invocations()
    assert {argv[0] for _, argv in invocations} >= {"up", "status", "stop", "sql", "run", "export", "collector"}
    bad = []
    for doc, argv in invocations:
        try:
            _parse(argv)
        except Exception as exc:  # click's UsageError and friends
            bad.append(f"{doc}: claudescope {shlex.join(argv)} -> {type(exc).__name__}: {exc}")
    assert not bad, "\n".join(bad)


def test_command_line_check_rejects_a_bad_option() -> None:
    with pytest.raises(Exception, match="No such option"):
        _parse(["sql", "--fromat", "csv", "SELECT 1"])


# --- links -----------------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(m) for m in re.findall(r"^#+\s+(.*)$", text, re.M)}


def _broken_links(doc: Path) -> list[str]:
    """Relative links of ``doc`` (outside code blocks) whose file or heading does not exist."""
    text = _FENCE.sub("", doc.read_text(encoding="utf-8"))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading)")
    return broken


@pytest.mark.parametrize("doc", _all_docs(), ids=lambda p: p.name)
def test_relative_links_point_to_existing_files(doc: Path) -> None:
    broken = _broken_links(doc)
    assert not broken, f"{doc.relative_to(REPO)} has broken links: {broken}"


def test_link_checker_catches_broken_links(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("## The `[prices]` section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n[ok](#title) [ok](other.md#the-prices-section) [bad](missing.md) [bad](#nope)\n"
        "[bad](other.md#nope) [web](https://example.com/x.md)\n```\n[in code](missing-too.md)\n```\n"
    )
    assert _broken_links(page) == ["missing.md", "#nope (no such heading)", "other.md#nope (no such heading)"]


# --- SQL recipes against known data ----------------------------------------------------
def _known_calls() -> list[dict[str, Any]]:
    """Calls whose recipe answers are known exactly (sonnet-4-5: $3 in / $15 out per MTok)."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    return [
        call_span(feature="support_chat", prompt_version="v1", user_id="u-big", start=now, duration_ms=1000,
                  input_tokens=100, output_tokens=20),
        call_span(feature="support_chat", prompt_version="v1", user_id="u-big", start=now, duration_ms=3000,
                  input_tokens=100, output_tokens=20, stop_reason="max_tokens", stream=True, ttft_s=0.25),
        call_span(feature="support_chat", prompt_version="v2", user_id="u-small", start=now, duration_ms=500,
                  input_tokens=100, cache_read_tokens=300, output_tokens=20),
        call_span(feature="classify", prompt_version="v1", user_id="u-small", start=now, model="claude-haiku-4-5",
                  input_tokens=10, output_tokens=2, attributes={"claudescope.attr.tenant": "acme"}),
        call_span(feature="classify", prompt_version="v1", start=now, model="claude-unknown-9", input_tokens=7),
        call_span(feature="classify", prompt_version="v1", start=now, error_type="rate_limit_error",
                  http_status=429, retries=2, output_tokens=None, stop_reason=None),
    ]


@pytest.fixture(scope="module")
def loaded_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path_factory.mktemp("docs") / "data")
    try:
        assert running.post_spans(_known_calls()).status_code == 200
        deadline = time.monotonic() + 10
        while running.query("SELECT count(*) AS n FROM calls")[0]["n"] < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield running
    finally:
        running.stop()


def _recipes() -> list[tuple[str, str]]:
    """(heading, sql) of every sql block in sql-recipes.md, plus those of data-model.md."""
    out = []
    for name in ("sql-recipes.md", "data-model.md"):
        heading = name
        for part in re.split(r"^(#+ .*)$", _text(name), flags=re.M):
            if part.startswith("#"):
                heading = part.lstrip("# ").strip()
            else:
                out += [(f"{name}: {heading}", sql) for sql in _blocks(part, "sql")]
    return out


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {r[key]: r for r in rows}


# What each recipe must answer for _known_calls(); a recipe with no entry must still run.
_EXPECT = {
    "Spend by feature and day": lambda rows: (
        _by(rows, "feature")["support_chat"]["usd"] == "0.001890000"  # 2 x 0.0006 + 0.0006 + 300 x 0.3e-6
        and _by(rows, "feature")["classify"]["unpriced"] == 1
    ),
    "Prompt-cache hit rate by feature": lambda rows: _by(rows, "feature")["support_chat"]["hit_rate"] == 0.5,  # 300 / 600
    "p50 / p95 latency and time to first token by model": lambda rows: (
        _by(rows, "response_model")["claude-sonnet-4-5"]["calls"] == 3
        and _by(rows, "response_model")["claude-sonnet-4-5"]["p95_ttft_ms"] == 250
    ),
    "Share of answers cut by `max_tokens`, by prompt version": lambda rows: any(
        r["feature"] == "support_chat" and r["prompt_version"] == "v1" and r["max_tokens_share"] == 0.5 for r in rows
    ),
    "Top users by spend": lambda rows: [r["user_id"] for r in rows][:2] == ["u-big", "u-small"],
    "Unpriced calls": lambda rows: [r["model"] for r in rows] == ["claude-unknown-9"],
    # sum() of an INTEGER is a HUGEINT, which the JSON API writes as an exact string
    "Errors, retries and time spent": lambda rows: int(_by(rows, "outcome")["rate_limit_error"]["retries"]) == 2,
    "Spend by a custom attribution key": lambda rows: [(r["tenant"], r["calls"]) for r in rows] == [("acme", 1)],
}


def test_recipes_exist_and_every_expectation_names_a_recipe() -> None:
    headings = {h.split(": ", 1)[1] for h, _ in _recipes()}
    assert len([h for h, _ in _recipes() if h.startswith("sql-recipes.md")]) >= 8
    assert set(_EXPECT) <= headings, f"recipes renamed or removed: {set(_EXPECT) - headings}"


@pytest.mark.parametrize("heading,sql", _recipes(), ids=[h for h, _ in _recipes()])
def test_sql_recipe_runs_against_known_data(loaded_collector: RunningCollector, heading: str, sql: str) -> None:
    rows = loaded_collector.query(sql)  # raises with the collector's error on bad SQL
    check = _EXPECT.get(heading.split(": ", 1)[1])
    if heading.startswith("sql-recipes.md"):
        assert rows, f"recipe {heading!r} returned no rows on known data"
    if check is not None:
        assert check(rows), f"recipe {heading!r} answered {rows}"


def test_documented_claudescope_sql_commands_run(loaded_collector: RunningCollector) -> None:
    """Every ``claudescope sql "..."`` shown in the docs runs, or is refused where the docs say so."""
    shown = [(doc, argv[-1]) for doc, argv in _documented_invocations() if argv[0] == "sql"]
    assert len(shown) >= 5
    for doc, sql in shown:
        r = httpx.post(loaded_collector.url + "/api/v1/query", json={"sql": sql}, timeout=30)
        if sql.lstrip().upper().startswith(("SELECT", "WITH")):
            assert r.status_code == 200 and r.json()["rows"], f"{doc}: {sql!r} -> {r.status_code} {r.text}"
        else:  # security.md shows a write being refused
            assert r.status_code == 400 and "only SELECT" in r.json()["error"], f"{doc}: {sql!r} was not refused"


def test_python_examples_in_sql_recipes_run(
    loaded_collector: RunningCollector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DuckDB-on-Parquet and the pandas-over-Arrow examples, run as written."""
    duckdb_block, pandas_block = _blocks(_text("sql-recipes.md"), "python")
    export = subprocess.run(
        [sys.executable, "-m", "claudescope", "export", "--parquet", str(tmp_path / "export"), "--api", loaded_collector.url],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert export.returncode == 0, export.stdout + export.stderr
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(duckdb_block, "sql-recipes.md:duckdb", "exec"), scope)
    assert scope["con"].execute("SELECT count(*) FROM calls").fetchall() == [(6,)]
    scope = {}
    exec(compile(pandas_block.replace("http://127.0.0.1:4318", loaded_collector.url), "sql-recipes.md:pandas", "exec"), scope)
    frame = scope["df"].set_index("feature")
    assert frame.loc["support_chat", "calls"] == 3
    assert frame.loc["support_chat", "usd"] == Decimal("0.001890000")  # exact, not a float


# --- secrets never reach a log ---------------------------------------------------------
TOKEN = "tok-Zq81-very-secret-token"
PASSWORD = "Pa55-w0rd-XYZZY-secret"
SMTP_PASSWORD = "Sm7p-S3cret-QQ"


def test_no_secret_reaches_the_collector_log(tmp_path: Path) -> None:
    toml = f"""
[budget]
daily_usd = 0.000001                # any call fires budget_daily, so delivery (and its logging) runs
[alerts]
evaluate_every_s = 0.5
[notify]
urls = ["json://alertbot:{PASSWORD}@127.0.0.1:9/hook",
        "mailto://ops:{SMTP_PASSWORD}@127.0.0.1:9?from=alerts@example.com&to=oncall@example.com"]
"""
    running = start_collector(tmp_path / "data", config_toml=toml, token=TOKEN, alerts=True)
    try:
        wrong = {"Authorization": f"Bearer {TOKEN}-wrong"}
        assert running.post_spans([call_span()], token="not-" + TOKEN).status_code == 401
        assert httpx.post(running.url + "/api/v1/query", json={"sql": "SELECT 1"}, headers=wrong).status_code == 401
        assert httpx.get(running.url + "/metrics", headers=wrong).status_code == 401
        assert running.post_spans([call_span(attributes={"x-api-key": "sk-ant-api03-leak"})]).status_code == 200
        assert running.query("SELECT count(*) AS n FROM calls")[0]["n"] == 1
        deadline = time.monotonic() + 20
        while "alertbot" not in running.log() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        running.stop()
    log = running.log()
    assert "alertbot" in log, f"the delivery path never logged a channel, so nothing was tested:\n{log}"
    for secret in (TOKEN, PASSWORD, SMTP_PASSWORD, "sk-ant-api03-leak"):
        assert secret not in log, f"{secret!r} reached the collector log:\n{log}"

