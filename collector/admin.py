"""``claudescope reprice | export --parquet | backup | restore``.

Each asks the running collector (it holds the DuckDB lock) through /api/v1/admin/..., or opens
the store file itself when no collector answers. Parquet is written here, by pyarrow, so the
collector never writes files outside its store.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from rich.console import Console

from claudescope.collector.admin_api import parse_since, pricing_to_json, reprice_store
from claudescope.collector.backup_files import BackupError, read_manifest, restore_store, write_backup
from claudescope.collector.store import CALLS_ARROW_SCHEMA, CALLS_TABLE, Store, StoreError, load_migrations
from claudescope.collector.target import UseFile as _NoCollector
from claudescope.collector.target import choose, open_local
from claudescope.config import Config
from claudescope.pricing import PriceTable



def _client(config: Config, api_url: str | None) -> tuple[str, dict[str, str]]:
    # Only a collector serving config.data_dir's own store (see target.py); else _NoCollector.
    remote = choose(config, api_url)
    return remote.url, remote.headers


def _check(r: httpx.Response) -> httpx.Response:
    if r.status_code != 200:
        raise StoreError(f"collector answered {r.status_code}: {r.text[:300]}")
    return r


def reprice(config: Config, *, since: str | None, api_url: str | None, out: Console) -> int:
    """Recompute stored costs with the current price table and print the difference."""
    try:
        parse_since(since)
    except ValueError:
        out.print(f"[bold red]--since {since!r} is not a date or ISO date-time[/]")
        return 2
    try:
        try:
            url, headers = _client(config, api_url)
            report = _check(httpx.post(url + "/api/v1/admin/reprice", json={"since": since, "pricing": pricing_to_json(config.pricing)}, headers=headers, timeout=3600)).json()
        except _NoCollector as local:
            store = open_local(config, local, read_only=False)
            try:
                report = reprice_store(store, PriceTable.load(config.pricing), parse_since(since)).as_json()
            finally:
                store.close()
    except StoreError as exc:
        out.print(f"[bold red]error[/] {exc}")
        return 1
    except httpx.HTTPError as exc:
        out.print(f"[bold red]error[/] the collector stopped answering before the reprice finished ({type(exc).__name__}); run it again once the collector is up")
        return 1
    delta = Decimal(report["delta_usd"])
    report["delta_usd"] = f"{delta:+f}"
    out.print(
        f"repriced {report['calls']} calls, {report['changed']} changed; total "
        f"${report['before_usd']} -> ${report['after_usd']} (delta ${report['delta_usd']}); "
        f"newly priced {report['newly_priced']}, now unpriced {report['now_unpriced']}",
        soft_wrap=True,
    )
    return 0


def _snapshot(config: Config, api_url: str | None, tables: list[str] | None) -> tuple[dict[str, pa.Table], list[list[Any]]]:
    """{table: Arrow} (all tables when None) and the applied migrations, from the collector or the file."""
    try:
        url, headers = _client(config, api_url)
    except _NoCollector as local:
        store = open_local(config, local, read_only=True)
        try:
            names = tables or store.table_names()
            return store.snapshot(names), [list(m) for m in store.applied_migrations()]
        finally:
            store.close()
    try:
        meta = _check(httpx.get(url + "/api/v1/admin/tables", headers=headers, timeout=60)).json()
        names = tables or meta["tables"]
        r = _check(httpx.get(url + "/api/v1/admin/snapshot", params={"tables": ",".join(names)}, headers=headers, timeout=3600))
    except httpx.HTTPError as exc:
        raise StoreError(f"the collector at {url} stopped answering ({type(exc).__name__}); nothing was written") from None
    out, offset = {}, 0
    for name, length in json.loads(r.headers["X-Claudescope-Tables"]):
        out[name] = pa.ipc.open_stream(r.content[offset : offset + length]).read_all()
        offset += length
    return out, meta["migrations"]


def export_parquet(config: Config, target: Path, *, api_url: str | None, out: Console) -> int:
    """Hive-partitioned (date=YYYY-MM-DD) Parquet copy of the calls view."""
    try:
        tables, _ = _snapshot(config, api_url, [CALLS_TABLE])
    except StoreError as exc:
        out.print(f"[bold red]error[/] {exc}")
        return 1
    spans = tables[CALLS_TABLE]
    calls = spans.filter(pc.invert(spans["superseded"])).select(CALLS_ARROW_SCHEMA.names)
    dates = pc.strftime(calls["start_time"], format="%Y-%m-%d")
    calls = calls.append_column("date", dates)
    target.mkdir(parents=True, exist_ok=True)
    ds.write_dataset(
        calls, target, format="parquet", partitioning=["date"], partitioning_flavor="hive",
        existing_data_behavior="delete_matching", basename_template="calls-{i}.parquet",
    )
    out.print(f"exported {calls.num_rows} calls to {target} (hive-partitioned by date)")
    return 0


def backup(config: Config, target: Path, *, api_url: str | None, out: Console) -> int:
    """Every table of the store, read in one transaction, as Parquet files plus a manifest;
    an older backup in ``target`` is replaced only once the new one is complete."""
    try:
        tables, migrations = _snapshot(config, api_url, None)
        counts = write_backup(target, tables, migrations)
    except (StoreError, BackupError, OSError) as exc:
        out.print(f"[bold red]error[/] {exc}")
        return 1
    out.print(f"backup of {sum(counts.values())} rows in {len(counts)} tables written to {target}")
    return 0


def restore(config: Config, source: Path, *, out: Console) -> int:
    """Load a backup into an empty data directory (the collector must be stopped): all or nothing."""
    try:
        manifest = read_manifest(source)
    except BackupError as exc:
        out.print(f"[bold red]not a claudescope backup[/] {exc}")
        return 2
    known = {m.version for m in load_migrations()}
    newer = [m for m in manifest["migrations"] if int(m[0]) not in known]
    if newer:
        out.print(f"[bold red]backup is from a newer claudescope[/] (migrations {newer}); upgrade first")
        return 2
    if config.db_path.exists():
        out.print(f"[bold red]{config.db_path} already exists[/]: restore only into an empty data directory")
        return 2
    try:
        note = restore_store(config.db_path, source, manifest)
    except (StoreError, BackupError) as exc:
        out.print(f"[bold red]restore failed[/] {exc}; nothing was restored")
        return 1
    except Exception as exc:  # an unreadable Parquet file, a table the store does not have, ...
        out.print(f"[bold red]restore failed[/] {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}; nothing was restored")
        return 1
    if note:
        out.print(note)
    out.print(f"restored {sum(manifest['tables'].values())} rows into {config.db_path}")
    return 0
