"""The query API: exact JSON, Arrow IPC, and refusal of anything that is not a read."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pyarrow as pa
import pytest

from tests.fixtures_collector import call_span, post_spans

PROBES = [
    "INSERT INTO call_spans (trace_id, span_id) VALUES ('a', 'b')",
    "UPDATE call_spans SET cost_usd = 0",
    "DELETE FROM call_spans",
    "CREATE TABLE x (a INT)",
    "DROP VIEW calls",
    "ATTACH '/tmp/evil.duckdb' AS evil",
    "COPY call_spans TO '/tmp/leak.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA enable_profiling",
    "SET threads = 1",
    "CALL pragma_version()",
    "SELECT 1; DELETE FROM call_spans",
    "EXPORT DATABASE '/tmp/x'",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN",
]
FILE_READS = [
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/hostname')",
    "SELECT * FROM read_parquet('/tmp/*.parquet')",
    "SELECT * FROM read_json('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "WITH x AS (SELECT * FROM read_blob('/etc/passwd')) SELECT * FROM x",
    "SELECT * FROM glob('/etc/*')",
]


def _q(url: str, sql: str, **kw) -> httpx.Response:
    return httpx.post(url + "/api/v1/query", json={"sql": sql}, timeout=30, **kw)


def test_json_types_exact(inproc) -> None:
    post_spans(inproc.url, [call_span(input_tokens=1234, output_tokens=56)])
    r = _q(inproc.url, "SELECT cost_usd, start_time, input_tokens, stream, duration_ms, 1.5::DECIMAL(18,9) AS d FROM calls")
    assert r.status_code == 200
    body = r.json()
    assert body["columns"] == ["cost_usd", "start_time", "input_tokens", "stream", "duration_ms", "d"]
    cost, start, tokens, _stream, duration, d = body["rows"][0]
    assert isinstance(cost, str) and Decimal(cost) == Decimal("0.003702") + Decimal("0.000840")
    assert start.endswith("Z") and "T" in start
    assert tokens == 1234 and duration == 850.0 and d == "1.500000000"


def test_arrow_ipc(inproc) -> None:
    post_spans(inproc.url, [call_span() for _ in range(3)])
    r = _q(inproc.url, "SELECT trace_id, cost_usd FROM calls", headers={"Accept": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.apache.arrow.stream")
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.num_rows == 3
    assert table.schema.field("cost_usd").type == pa.decimal128(18, 9)


def test_with_query_allowed(inproc) -> None:
    r = _q(inproc.url, "WITH x AS (SELECT 41 AS n) SELECT n + 1 AS answer FROM x")
    assert r.json() == {"columns": ["answer"], "rows": [[42]]}


@pytest.mark.parametrize("sql", PROBES)
def test_writes_and_settings_refused(inproc, sql: str) -> None:
    post_spans(inproc.url, [call_span()])
    r = _q(inproc.url, sql)
    assert r.status_code == 400, (sql, r.text)
    assert "error" in r.json()
    assert inproc.count() == 1


@pytest.mark.parametrize("sql", FILE_READS)
def test_file_access_refused(inproc, sql: str) -> None:
    r = _q(inproc.url, sql)
    assert r.status_code == 400, (sql, r.text)
    assert "root:" not in r.text


def test_row_cap_and_timeout(inproc_factory) -> None:
    from claudescope.config import QueryLimits

    limited = inproc_factory(query=QueryLimits(timeout_s=0.5, max_rows=10))
    r = _q(limited.url, "SELECT * FROM range(1000)")
    assert r.status_code == 200 and len(r.json()["rows"]) == 10 and r.json()["truncated"] is True
    r = _q(limited.url, "SELECT count(*) FROM range(100000000000) a, range(10) b")
    assert r.status_code == 408
    assert _q(limited.url, "SELECT 1 AS ok").status_code == 200


def test_bad_bodies(inproc) -> None:
    json_type = {"Content-Type": "application/json"}  # any other type is 415 (test_web_guard.py)
    assert httpx.post(inproc.url + "/api/v1/query", content=b"not json", headers=json_type).status_code == 400
    assert httpx.post(inproc.url + "/api/v1/query", json={"nosql": 1}).status_code == 400
    assert _q(inproc.url, "SELEC nonsense").status_code == 400
    assert _q(inproc.url, "SELECT * FROM no_such_table").status_code == 400


def test_sessions_are_utc_whatever_the_host_zone(collector_factory) -> None:
    running = collector_factory(env={"TZ": "Asia/Kolkata"})
    assert running.query("SELECT current_setting('TimeZone') AS tz") == [{"tz": "UTC"}]
