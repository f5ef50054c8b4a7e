"""The store: migrations, version refusal, schema from schema.py, idempotent inserts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from claudescope.collector.store import SPANS_ARROW_SCHEMA, Store, StoreError, StoreVersionError, load_migrations
from claudescope.schema import ALERT_EVENT_COLUMNS, CALL_COLUMNS


def test_migrations_recorded_in_order_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "d" / "claudescope.duckdb"
    store = Store.open(path)
    applied = store.applied_migrations()
    store.close()
    expected = [(m.version, m.name) for m in load_migrations()]
    assert applied == expected and applied[0] == (1, "0001_calls.sql")
    store = Store.open(path)  # second open applies nothing new
    assert store.applied_migrations() == expected
    store.close()


def test_new_migration_file_is_applied_once(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for m in load_migrations():
        (migrations / m.name).write_text(m.sql)
    path = tmp_path / "db.duckdb"
    Store.open(path, migrations_dir=migrations).close()
    (migrations / "0050_extra.sql").write_text("CREATE TABLE extra (a INTEGER);")
    store = Store.open(path, migrations_dir=migrations)
    assert (50, "0050_extra.sql") in store.applied_migrations()
    assert store.scalar("SELECT count(*) FROM extra") == 0
    store.close()


def test_newer_store_refused_with_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    Store.open(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 'x', now())")
    con.close()
    with pytest.raises(StoreVersionError, match="newer claudescope.*9999_future.sql"):
        Store.open(path)


def test_calls_view_matches_schema_py(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    described = store.read_arrow("DESCRIBE calls").to_pylist()
    assert [r["column_name"] for r in described] == [c.name for c in CALL_COLUMNS]
    types = {r["column_name"]: r["column_type"] for r in described}
    assert types["cost_usd"] == "DECIMAL(18,9)" and types["start_time"] == "TIMESTAMP WITH TIME ZONE"
    events = store.read_arrow("DESCRIBE alert_events").to_pylist()
    assert [r["column_name"] for r in events][: len(ALERT_EVENT_COLUMNS)] == [c.name for c in ALERT_EVENT_COLUMNS]
    store.close()


def test_store_locked_by_other_process_is_clear(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "db.duckdb"
    Store.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({str(path)!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"ok"
        with pytest.raises(StoreError, match="cannot open"):
            Store.open(path)
    finally:
        holder.kill()
        holder.wait()


def test_execute_and_subscribe(tmp_path: Path) -> None:
    import pyarrow as pa

    store = Store.open(tmp_path / "db.duckdb")
    seen: list[pa.Table] = []
    store.subscribe(seen.append)
    store.execute("INSERT INTO alert_events (time, rule, severity, state, summary, details, delivered, channels) VALUES (now(), ?, 'warning', 'firing', 's', '{}', false, '')", ["r1"])
    assert store.scalar("SELECT rule FROM alert_events") == "r1"
    from datetime import UTC, datetime

    row = {n: None for n in SPANS_ARROW_SCHEMA.names}
    row.update(trace_id="a" * 32, span_id="b" * 16, source_rank=0, superseded=False, ingested_at=datetime.now(UTC), start_time=datetime.now(UTC))
    table = pa.Table.from_pylist([row], schema=SPANS_ARROW_SCHEMA)
    store.insert_spans(table)
    store.insert_spans(table)  # duplicate: not notified again
    assert [t.num_rows for t in seen] == [1]
    assert seen[0].column_names == [c.name for c in CALL_COLUMNS]
    store.close()


def test_rollup_matches_calls_after_ingest_supersede_and_reprice(inproc) -> None:
    from tests.fixtures_collector import call_span, post_spans

    spans = [call_span(feature=f"f{i % 3}", user_id=f"u{i % 2}", model=m, stop_reason=s)
             for i, (m, s) in enumerate([("claude-sonnet-4-5", "end_turn"), ("claude-haiku-4-5", "max_tokens"), ("claude-unknown", "end_turn")] * 4)]
    assert post_spans(inproc.url, spans).status_code == 200
    # a worse producer first, then claudescope's copy of the same call supersedes it
    sdk = call_span(response_id="msg_x", feature="f0", attributes={"claudescope.operation": None})
    sdk["scope"], sdk["name"] = "com.anthropic.sdk.python", "anthropic.messages.create"
    assert post_spans(inproc.url, [sdk]).status_code == 200
    assert post_spans(inproc.url, [call_span(response_id="msg_x", feature="f0", trace_id=sdk["trace_id"])]).status_code == 200
    from_calls = inproc.query(
        "SELECT coalesce(response_model, request_model) AS model, coalesce(feature, '') AS feature, count(*) AS n, "
        "coalesce(sum(cost_usd), 0)::DECIMAL(38,9) AS usd, count_if(stop_reason = 'max_tokens')::BIGINT AS mt FROM calls GROUP BY ALL ORDER BY ALL"
    )
    rollup_sql = (
        "SELECT model, feature, sum(calls)::BIGINT AS n, sum(cost_usd)::DECIMAL(38,9) AS usd, sum(max_tokens_stops)::BIGINT AS mt "
        "FROM {} GROUP BY ALL HAVING sum(calls) > 0 ORDER BY ALL"
    )
    assert inproc.query(rollup_sql.format("calls_minute_live")) == from_calls  # exact before any fold
    inproc.c.store.fold_rollups()
    from_rollup = inproc.query(rollup_sql.format("calls_minute"))
    assert from_rollup == from_calls
    assert sum(r["n"] for r in from_rollup) == 13
    from claudescope.collector.admin_api import reprice_store
    from claudescope.config import PricingConfig
    from claudescope.pricing import PriceTable
    from decimal import Decimal

    prices = PriceTable.load(PricingConfig(overrides={"claude-unknown": {"input": Decimal(1), "output": Decimal(1)}}))
    reprice_store(inproc.c.store, prices, None)
    unknown = inproc.query("SELECT sum(cost_usd)::DECIMAL(18,9) AS usd, sum(unpriced_calls)::BIGINT AS u FROM calls_minute_live WHERE model = 'claude-unknown'")[0]
    assert unknown["u"] == 0 and unknown["usd"] == "0.000480000"


def test_hour_rollup_agrees_with_minute_rollup(inproc) -> None:
    from tests.fixtures_collector import call_span, post_spans

    assert post_spans(inproc.url, [call_span(feature=f"f{i % 2}", user_id=f"u{i}") for i in range(10)]).status_code == 200
    inproc.c.store.fold_rollups()
    minute = inproc.query("SELECT model, feature, sum(calls)::BIGINT AS n, sum(cost_usd)::DECIMAL(18,9) AS usd FROM calls_minute GROUP BY ALL ORDER BY ALL")
    hour = inproc.query("SELECT model, feature, sum(calls)::BIGINT AS n, sum(cost_usd)::DECIMAL(18,9) AS usd FROM calls_hour GROUP BY ALL ORDER BY ALL")
    assert minute == hour and sum(r["n"] for r in hour) == 10


def test_retention_drops_old_calls_and_their_rollups(inproc) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.fixtures_collector import call_span, post_spans

    old = datetime.now(UTC) - timedelta(days=40)
    assert post_spans(inproc.url, [call_span(start=old), call_span(start=old), call_span()]).status_code == 200
    removed = inproc.c.store.delete_older_than(datetime.now(UTC) - timedelta(days=30))
    assert removed == 2
    assert inproc.count() == 1
    for view in ("calls_hour_live", "calls_minute_live"):
        assert inproc.query(f"SELECT sum(calls)::BIGINT AS n FROM {view}")[0]["n"] == 1
