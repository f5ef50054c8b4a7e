"""``claudescope sql``: read-only SQL through the collector serving ``--data``'s store, or the file itself."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from claudescope.collector import query_api
from claudescope.collector.store import QueryTimeout, StoreError
from claudescope.collector.target import Remote, UseFile, choose, open_local
from claudescope.config import Config


def run_sql(query: str, *, fmt: str, api_url: str | None, config: Config, out: Console, err: Console) -> int:
    """Run one read-only query and print it as a table, csv or json; returns the exit code."""
    if fmt not in ("table", "csv", "json"):
        err.print(f"[bold red]unknown format {fmt!r}[/]: use table, csv or json")
        return 2
    try:
        query_api.check_sql(query)
    except query_api.QueryRefused as exc:
        err.print(f"[bold red]refused[/] {exc}")
        return 2
    try:
        try:
            remote = choose(config, api_url)
            columns, rows = _via_api(remote, query)
        except UseFile as local:
            columns, rows = _via_file(config, local, query)
    except (StoreError, ValueError, QueryTimeout, _ApiError) as exc:
        err.print(f"[bold red]error[/] {exc}")
        return 1
    except httpx.HTTPError as exc:
        err.print(f"[bold red]error[/] the collector stopped answering before the query finished ({type(exc).__name__})")
        return 1
    _print(columns, rows, fmt, out)
    return 0


class _ApiError(RuntimeError):
    pass


def _via_api(remote: Remote, query: str) -> tuple[list[str], list[list[Any]]]:
    r = httpx.post(remote.url + "/api/v1/query", json={"sql": query}, headers=remote.headers, timeout=60)
    if r.status_code != 200:
        try:
            message = r.json().get("error", r.text)
        except ValueError:
            message = r.text
        raise _ApiError(f"{r.status_code}: {message}")
    body = r.json()
    return body["columns"], body["rows"]


def _via_file(config: Config, local: UseFile, query: str) -> tuple[list[str], list[list[Any]]]:
    store = open_local(config, local, read_only=True)
    try:
        table, _ = store.query_limited(query, timeout_s=config.query.timeout_s, max_rows=config.query.max_rows)
    finally:
        store.close()
    body = json.loads(query_api.to_json(table))
    return body["columns"], body["rows"]


def _print(columns: list[str], rows: list[list[Any]], fmt: str, out: Console) -> None:
    if fmt == "json":
        out.print_json(json.dumps([dict(zip(columns, r, strict=True)) for r in rows]))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else v) for v in r] for r in rows])
        out.file.write(buf.getvalue())
    else:
        table = Table(*columns, show_lines=False)
        for r in rows:
            table.add_row(*("" if v is None else str(v) for v in r))
        out.print(table)
        out.print(f"[dim]{len(rows)} row(s)[/]")
