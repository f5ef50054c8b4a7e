"""Rollups folded behind ingest: exact live views, exact tables after a fold, after a crash, after
superseding folded and unfolded rows, and compaction that keeps every sum."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from claudescope.collector.store import SPANS_ARROW_SCHEMA, Store
from tests.fixtures_alerts import call_row

_BY_CALLS = (
    "SELECT coalesce(response_model, request_model, '') AS model, coalesce(feature, '') AS feature, count(*)::BIGINT AS n, "
    "coalesce(sum(cost_usd), 0)::DECIMAL(38,9) AS usd, sum(input_tokens)::BIGINT AS tokens FROM calls GROUP BY ALL ORDER BY ALL"
)
_BY_ROLLUP = (
    "SELECT model, feature, sum(calls)::BIGINT AS n, sum(cost_usd)::DECIMAL(38,9) AS usd, sum(input_tokens)::BIGINT AS tokens "
    "FROM {} GROUP BY ALL HAVING sum(calls) <> 0 ORDER BY ALL"
)


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{n: r.get(n) for n in SPANS_ARROW_SCHEMA.names} for r in rows], schema=SPANS_ARROW_SCHEMA)


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in store.read_arrow(sql).to_pylist()]


def _assert_exact(store: Store, *tables: str) -> None:
    expected = _rows(store, _BY_CALLS)
    for table in tables:
        assert _rows(store, _BY_ROLLUP.format(table)) == expected, table


def _minute_start() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)


def test_live_views_are_exact_before_a_fold_and_tables_after(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    start = _minute_start()
    store.insert_spans(_table([call_row(start_time=start + timedelta(seconds=i), feature=f"f{i % 2}") for i in range(6)]), fold=False)
    _assert_exact(store, "calls_minute_live", "calls_hour_live")
    assert store.scalar("SELECT count(*) FROM calls_minute") == 0  # nothing folded yet
    store.fold_rollups()
    _assert_exact(store, "calls_minute", "calls_hour", "calls_minute_live", "calls_hour_live")
    store.close()


@pytest.mark.parametrize("folded_first", [True, False])
def test_superseding_a_folded_or_unfolded_row_keeps_rollups_exact(tmp_path: Path, folded_first: bool) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    start = _minute_start()
    worse = call_row(start_time=start, source="com.anthropic.sdk.python", source_rank=5, input_tokens=7)
    store.insert_spans(_table([worse, call_row(start_time=start, feature="other")]), fold=folded_first)
    better = call_row(start_time=start, trace_id=worse["trace_id"], input_tokens=7)
    keys = pa.table({"trace_id": [worse["trace_id"]], "span_id": [worse["span_id"]]})
    store.insert_spans(_table([better]), keys, fold=False)
    _assert_exact(store, "calls_minute_live", "calls_hour_live")
    store.fold_rollups()
    _assert_exact(store, "calls_minute", "calls_hour")
    assert store.scalar("SELECT sum(calls) FROM calls_minute") == 2
    store.close()


def test_compaction_leaves_one_row_per_group_and_every_sum(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    start = _minute_start()
    for i in range(4):  # four folds into the same groups
        store.insert_spans(_table([call_row(start_time=start, user_id="u1"), call_row(start_time=start, user_id="u2")]))
    worse = call_row(start_time=start, user_id="u3", source="com.anthropic.sdk.python", source_rank=5)
    store.insert_spans(_table([worse]))
    keys = pa.table({"trace_id": [worse["trace_id"]], "span_id": [worse["span_id"]]})
    store.insert_spans(_table([call_row(start_time=start, user_id="u4", trace_id=worse["trace_id"])]), keys)
    for _ in range(2):  # two days earlier: compaction works a day at a time
        store.insert_spans(_table([call_row(start_time=start - timedelta(days=2), user_id="u1")]))
    assert store.scalar("SELECT count(*) FROM calls_minute") == 13  # 4 x 2 + u3 in, u3 out, u4, 2 x u1 earlier
    removed = store.compact_rollups()
    # minute: one row each for u1, u2, u4 (u3 netted to nothing) and the earlier u1; hour: 9 folds -> 2 rows
    assert removed == (13 - 4) + (9 - 2)
    assert store.scalar("SELECT count(*) FROM calls_minute") == 4
    assert store.scalar("SELECT count(*) FROM calls_hour") == 2
    _assert_exact(store, "calls_minute", "calls_hour", "calls_minute_live")
    assert store.compact_rollups() == 0  # nothing touched since
    store.close()


_CRASH = """
import os, sys
sys.path.insert(0, {root!r})
from datetime import UTC, datetime, timedelta
from pathlib import Path
from claudescope.collector.store import Store
from tests.collector.test_rollup_fold import _minute_start, _table
from tests.fixtures_alerts import call_row
store = Store.open(Path({path!r}))
start = _minute_start()
store.insert_spans(_table([call_row(start_time=start, feature="a") for _ in range(3)]))
store.insert_spans(_table([call_row(start_time=start + timedelta(minutes=5), feature="b") for _ in range(2)]), fold=False)
os._exit(0)  # no close, no fold, no checkpoint: what kill -9 leaves
"""


def test_calls_committed_but_not_folded_survive_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    root = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", _CRASH.format(root=root, path=str(path))], check=True, timeout=120)
    store = Store.open(path)
    assert store.scalar("SELECT count(*) FROM calls") == 5
    assert store.scalar("SELECT sum(calls) FROM calls_minute") == 3  # the second commit was never folded
    _assert_exact(store, "calls_minute_live", "calls_hour_live")
    store.fold_rollups()
    _assert_exact(store, "calls_minute", "calls_hour")
    store.compact_rollups()
    _assert_exact(store, "calls_minute", "calls_hour")
    store.close()


def test_commit_stamps_strictly_increase_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    store = Store.open(path)
    future = datetime.now(UTC) + timedelta(days=1)  # a clock that was ahead, then stepped back
    store.insert_spans(_table([call_row(start_time=_minute_start())]))
    store._con.execute("UPDATE call_spans SET ingested_at = ?", [future])  # noqa: SLF001 - plant the old clock's stamp
    store.close()
    store = Store.open(path)
    store.insert_spans(_table([call_row(start_time=_minute_start())]))
    stamps = store.read_arrow("SELECT ingested_at FROM call_spans ORDER BY ingested_at").column(0).to_pylist()
    assert stamps[1] > stamps[0] == future
    store.close()


def test_rebuild_day_by_day_across_gaps_and_from_mid_bucket(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    day0 = _minute_start().replace(hour=0, minute=0) - timedelta(days=6)
    starts = [day0 + timedelta(hours=10, minutes=30), day0 + timedelta(hours=23, minutes=59, seconds=30),
              day0 + timedelta(days=2, seconds=10), day0 + timedelta(days=5, hours=12)]
    store.insert_spans(_table([call_row(start_time=s, feature=f"f{i}") for i, s in enumerate(starts)]))
    store.execute("DELETE FROM calls_minute")  # rollups lost: a full rebuild must restore them
    store.execute("DELETE FROM calls_hour")
    store.rebuild_rollups()
    _assert_exact(store, "calls_minute", "calls_hour")
    store.execute("UPDATE call_spans SET input_tokens = 999 WHERE start_time > ?", [day0 + timedelta(hours=23)])  # a reprice
    store.rebuild_rollups(since=day0 + timedelta(hours=23, minutes=59, seconds=45))  # mid-minute, mid-hour
    _assert_exact(store, "calls_minute", "calls_hour")
    store.close()


def test_store_of_the_previous_release_upgrades_without_counting_twice(tmp_path: Path) -> None:
    """A store written before migration 0004: its rollups already hold every stored call."""
    import duckdb

    from claudescope.collector.store.migration_files import LEGACY_CHECKSUMS, load_migrations
    from claudescope.collector.store.sql_rollups import ROLLUPS

    path = tmp_path / "db.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL)")
    for m in load_migrations():
        if m.version != 4:
            for statement in duckdb.extract_statements(m.sql):
                con.execute(statement)
            # The previous release recorded the checksum of its unexpanded template text.
            recorded = min(LEGACY_CHECKSUMS.get(m.version, {m.checksum}))
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?, now())", [m.version, m.name, recorded])
    old = _table([call_row(start_time=_minute_start(), feature=f"f{i % 2}") for i in range(5)])
    con.execute("INSERT INTO call_spans BY NAME SELECT * FROM old")
    for rollup in ROLLUPS:  # what the previous release did in every commit
        con.execute(rollup.insert("calls"))
    con.close()
    store = Store.open(path)
    assert (4, "0004_rollup_fold.sql") in store.applied_migrations()
    _assert_exact(store, "calls_minute_live", "calls_hour_live", "calls_minute")
    store.insert_spans(_table([call_row(start_time=_minute_start(), feature="f0")]), fold=False)
    _assert_exact(store, "calls_minute_live", "calls_hour_live")
    store.fold_rollups()
    _assert_exact(store, "calls_minute", "calls_hour")
    assert store.scalar("SELECT sum(calls) FROM calls_minute") == 6
    store.close()
