"""How long each dashboard page's queries take over a store of 10M calls.

    python bench/bench_dashboard.py [--rows 10000000] [--keep DIR]

1. creates a store with the collector's own migrations (``Store.open``), then bulk-fills
   ``call_spans`` with N synthetic calls spread over 30 days straight in SQL (seconds, not hours);
2. starts ``claudescope collector`` on it, exactly as a user would;
3. runs, through the HTTP query API, every query each page issues (the same functions, same
   order, no cache), for the default range (7 days) and for 30 days, and prints a table.

Target: each page < 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx

from claudescope.collector.store import Store
from claudescope.dashboard import queries as q
from claudescope.dashboard.client import QueryClient, QueryError
from claudescope.dashboard.filters import Filters

FILL_SQL = """
INSERT INTO call_spans BY NAME
SELECT
    md5(i::VARCHAR) AS trace_id, lpad(printf('%x', i), 16, '0') AS span_id,
    t AS start_time, t + to_milliseconds(dur::BIGINT) AS end_time, dur AS duration_ms,
    CASE WHEN i % 2 = 0 THEN dur * 0.3 END AS ttft_ms,
    ['web', 'worker', 'batch'][i % 3 + 1] AS service_name, 'chat' AS operation,
    model AS request_model, model AS response_model, i % 2 = 0 AS stream,
    CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END AS status,
    CASE WHEN i % 50 = 0 THEN ['overloaded_error', 'rate_limit_error', 'api_error'][i % 3 + 1] END AS error_type,
    CASE WHEN i % 50 = 0 THEN 529 ELSE 200 END AS http_status, (i % 7 = 0)::INTEGER AS retries,
    CASE WHEN i % 50 = 0 THEN NULL ELSE ['end_turn', 'end_turn', 'end_turn', 'tool_use', 'max_tokens', 'refusal'][i % 6 + 1] END AS stop_reason,
    1024 AS max_tokens, inp AS input_tokens, cr AS cache_read_tokens, cw AS cache_write_5m_tokens,
    0 AS cache_write_1h_tokens, outp AS output_tokens, 0 AS web_search_requests,
    'standard' AS service_tier, NULL AS inference_geo, NULL AS speed,
    'u-' || (i % 1000) AS user_id, ['support_chat', 'summarize', 'classify', 'agent', 'extract', 'code_review', 'search', 'translate'][i % 8 + 1] AS feature,
    ['v1', 'v2', 'v3'][i % 3 + 1] AS prompt_version,
    (inp * r_in + outp * r_out + cr * r_in / 10 + cw * r_in * 1.25)::DECIMAL(18, 9) AS cost_usd,
    (inp * r_in)::DECIMAL(18, 9) AS cost_input_usd, (outp * r_out)::DECIMAL(18, 9) AS cost_output_usd,
    (cr * r_in / 10)::DECIMAL(18, 9) AS cost_cache_read_usd, (cw * r_in * 1.25)::DECIMAL(18, 9) AS cost_cache_write_usd,
    0::DECIMAL(18, 9) AS cost_other_usd, 'bench' AS price_version, 'msg_' || i AS response_id, 'req_' || i AS request_id,
    'claudescope' AS source,
    CASE WHEN i % 10 = 0 THEN '{"claudescope.cache.prefix_hash":"' || md5((i % 5000)::VARCHAR) || '","claudescope.cache.prefix_tokens":2000,'
         || '"claudescope.ratelimit.requests.limit":4000,"claudescope.ratelimit.requests.remaining":' || (i % 4000) || '}'
    END::JSON AS attributes,
    NULL AS parent_span_id, 0 AS source_rank, false AS superseded, now() AS ingested_at
FROM (
    SELECT i, now() - to_seconds(i * (30 * 86400 / {rows}::DOUBLE)) AS t,
        200 + (i * 7919) % 5000 AS dur,
        ['claude-sonnet-4-5', 'claude-haiku-4-5', 'claude-opus-4-5'][i % 3 + 1] AS model,
        [3e-6, 1e-6, 5e-6][i % 3 + 1] AS r_in, [15e-6, 5e-6, 25e-6][i % 3 + 1] AS r_out,
        CASE WHEN i % 50 = 0 THEN 0 ELSE 100 + i % 3000 END AS inp, CASE WHEN i % 4 = 0 THEN 2000 ELSE 0 END AS cr,
        CASE WHEN i % 40 = 1 THEN 2000 ELSE 0 END AS cw, CASE WHEN i % 50 = 0 THEN 0 ELSE 50 + i % 900 END AS outp
    FROM range({rows}) r(i)
)
"""


def page_queries(f: Filters) -> dict[str, list[Callable[[QueryClient], Any]]]:
    """Every query each page runs, in order, as the pages call them (a query two pages share is
    listed on both: the 10 s result cache is not counted). The sidebar's list runs on every page
    but is cached for a minute."""
    from claudescope.dashboard import budget

    w = budget.windows(f.now)
    org = f.without_dimensions()
    return {
        "sidebar": [lambda c: q.dimension_values(c, f)],
        "overview": [lambda c: q.usage_by_model(c, f), lambda c: q.latency_percentiles(c, f, "p95_ms"),
                     lambda c: q.budget_spend(c, org, w.day_start, w.month_start, w.now),
                     lambda c: q.stop_reasons(c, f, ("feature",)), lambda c: q.cost_by(c, f, "feature"),
                     lambda c: q.firing_alerts(c)],
        "cost": [lambda c: q.usage_by_model(c, f), lambda c: q.spend_over_time(c, f, "model"),
                 lambda c: q.unit_costs(c, f, "model"), lambda c: q.unpriced_calls(c, f)],
        "caching": [lambda c: q.usage_by_model(c, f), lambda c: q.cache_over_time(c, f),
                    lambda c: q.cost_by(c, f, "feature"), lambda c: q.prefix_reuse(c, f)],
        "latency": [lambda c: q.call_counts(c, f), lambda c: q.latency_by_model(c, f),
                    lambda c: q.latency_over_time(c, f, "p95_ms"),
                    lambda c: q.errors_by_type(c, f), lambda c: q.retry_cost(c, f), lambda c: q.ratelimit_headroom(c, f)],
        "stop_reasons": [lambda c: q.stop_reasons(c, f), lambda c: q.output_vs_max_tokens(c, f)],
        "calls": [lambda c: q.recent_calls(c, f, limit=500), lambda c: q.call_detail(c, "x", "y")],
        "advisor": [lambda c: q.usage_for_repricing(c, f), lambda c: q.prefix_reuse(c, f)],
        "alerts": [lambda c: q.firing_alerts(c), lambda c: q.alert_history(c, f)],
    }


def fill(data_dir: Path, rows: int) -> float:
    started = time.perf_counter()
    store = Store.open(data_dir / "claudescope.duckdb")
    store.close()
    con = duckdb.connect(str(data_dir / "claudescope.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(FILL_SQL.replace("{rows}", str(rows)))
    con.execute("CHECKPOINT")
    con.close()
    # The bulk fill bypasses ingest, so build the rollups the collector maintains at ingest.
    store = Store.open(data_dir / "claudescope.duckdb", memory_limit="4GB")
    store.rebuild_rollups()
    store.close()
    return time.perf_counter() - started


def start_collector(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUDESCOPE_")}
    proc = subprocess.Popen([sys.executable, "-m", "claudescope", "collector", "--data", str(data_dir), "--port",
                             str(port), "--grpc-port", "0", "--no-alerts"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("collector did not start")


def measure(client: QueryClient, range_key: str, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` wall time of each page's queries run back to back."""
    results = {}
    for page, calls in page_queries(Filters(range_key=range_key, now=datetime.now(UTC))).items():
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                for call in calls:
                    call(client)
            except QueryError as exc:  # e.g. the API's 10 s query limit: report it, keep going
                print(f"{page} {range_key}: {exc}")
                continue
            best = min(best, time.perf_counter() - started)
        results[page] = best
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep this data dir (filled once)")
    args = parser.parse_args()
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    if not (data_dir / "claudescope.duckdb").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        print(f"filling {args.rows:,} calls: {fill(data_dir, args.rows):.1f} s")
    proc, url = start_collector(data_dir)
    try:
        client = QueryClient.from_api(url, timeout_s=120)
        rows = {key: measure(client, key, args.repeat) for key in ("7d", "30d")}
        print(f"\n{args.rows:,} calls over 30 days, {os.cpu_count()} CPUs, best of {args.repeat}")
        print(f"{'page':<14}{'7 days':>14}{'30 days':>14}   (target < 1 s per page)")
        for page in rows["7d"]:
            cells = "".join(f"{rows[k][page]:>9.3f}s {'ok' if rows[k][page] < 1 else 'SLOW':<4}" for k in ("7d", "30d"))
            print(f"{page:<14}{cells}")
        print(f"load average: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
