"""What durable OTLP ingest costs per span at the floor of its libraries, next to claudescope.

50,000 durable spans/s on 2 cores leaves 40 us of CPU per span for everything. This measures,
in one run and on the same pre-encoded batches as bench_ingest.py (512 spans each):

  floor  protobuf   parse the body and read every attribute of every span (the least any
                    decoder built on the protobuf library must do to see the data)
  floor  arrow      build the calls table (SPANS_ARROW_SCHEMA) from Python rows
  floor  duckdb     durably append those rows to a table of the same columns with no key and
                    no rollups, ~1,000 rows per commit (the writer's group commit size)
  ours   decode     claudescope's decode(): parse, normalise every producer's aliases, price
                    exactly, build Arrow
  ours   commit     Store.insert_spans: key check, stacking marks, commit; rollups folded once
                    per second of commits as the writer does

CPU is process time per span/row (DuckDB's own threads included), medians of --rounds.
Usage: python bench/bench_ingest_floor.py [--batches 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from bench.bench_ingest import fresh_copy, make_batches  # noqa: E402
from claudescope.collector.decode import decode, rows_to_arrow  # noqa: E402
from claudescope.collector.normalize import Normalizer  # noqa: E402
from claudescope.collector.store import SPANS_ARROW_SCHEMA, Store  # noqa: E402
from claudescope.config import Limits, PricingConfig  # noqa: E402
from claudescope.pricing import PriceTable  # noqa: E402

_BUDGET_US = 40.0  # 2 cores / 50,000 spans/s
_COMMIT_BATCHES = 2  # two 512-span requests per commit
_FOLD_EVERY = 20  # commits per rollup fold (~1 s of commits at ~20k spans/s)


def read_every_attribute(body: bytes) -> int:
    """Parse with the stock OTLP classes and touch every attribute value; returns spans read."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                values = {}
                for kv in span.attributes:
                    value = kv.value
                    values[kv.key] = getattr(value, value.WhichOneof("value"))
                spans += 1
    return spans


def cpu_us_per_item(work: Callable[[], int]) -> float:
    """Process CPU time of ``work()`` per item it reports."""
    started = time.process_time()
    items = work()
    return (time.process_time() - started) / items * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    print(f"encoding {args.batches} batches of 512 spans ...", flush=True)
    bodies = [fresh_copy(b, i) for i, b in enumerate(make_batches(args.batches, 512))]
    normalizer = Normalizer(PriceTable.load(PricingConfig()), Limits())
    for body in bodies[:4]:
        decode(normalizer, body, "protobuf", None, 64 << 20)  # warm the per-shape caches
    tables = [decode(normalizer, body, "protobuf", None, 64 << 20).table for body in bodies]
    rows = [row for body in bodies for row in normalizer.normalize(_lazy(body)).rows]
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, us in _one_round(bodies, normalizer, tables, rows).items():
            results.setdefault(name, []).append(us)
    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\nCPU per span, medians of {args.rounds} rounds over {len(rows):,} spans (budget for 50k/s on 2 cores: {_BUDGET_US:.0f} us)")
    for name, us in medians.items():
        print(f"  {name:<44} {us:6.1f} us")
    floor = sum(us for name, us in medians.items() if name.startswith("floor"))
    ours = sum(us for name, us in medians.items() if name.startswith("ours"))
    print(f"  {'floor total':<44} {floor:6.1f} us  -> at most {2e6 / floor:,.0f} spans/s on 2 cores, nothing else done")
    print(f"  {'claudescope total (decode + commit)':<44} {ours:6.1f} us  -> at most {2e6 / ours:,.0f} spans/s on 2 cores")


def _lazy(body: bytes) -> object:
    from claudescope.collector import otlp

    return otlp.decode_traces_lazy(body, "protobuf")


def _one_round(bodies: list[bytes], normalizer: Normalizer, tables: list[pa.Table], rows: list[tuple]) -> dict[str, float]:
    out = {
        "floor  protobuf: parse + read every attribute": cpu_us_per_item(lambda: sum(map(read_every_attribute, bodies))),
        "floor  arrow: build the calls table from rows": cpu_us_per_item(lambda: rows_to_arrow(rows).num_rows),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out["floor  duckdb: durable append, no key/rollups"] = cpu_us_per_item(lambda: _bare_append(Path(tmp) / "bare.duckdb", tables))
        out["ours   decode: parse, normalise, price, Arrow"] = cpu_us_per_item(
            lambda: sum(decode(normalizer, body, "protobuf", None, 64 << 20).table.num_rows for body in bodies)
        )
        out["ours   commit: Store.insert_spans + folds"] = cpu_us_per_item(lambda: _store_commits(Path(tmp) / "store", tables))
    return out


def _commits(tables: list[pa.Table]) -> list[pa.Table]:
    return [pa.concat_tables(tables[i:i + _COMMIT_BATCHES]) for i in range(0, len(tables), _COMMIT_BATCHES)]


def _bare_append(path: Path, tables: list[pa.Table]) -> int:
    con = duckdb.connect(str(path))
    empty = SPANS_ARROW_SCHEMA.empty_table()
    con.execute("CREATE TABLE calls AS SELECT * FROM empty")
    for commit in _commits(tables):
        con.execute("BEGIN")
        con.execute("INSERT INTO calls SELECT * FROM commit")
        con.execute("COMMIT")
    con.close()
    return sum(t.num_rows for t in tables)


def _store_commits(path: Path, tables: list[pa.Table]) -> int:
    store = Store.open(path / "claudescope.duckdb")
    for i, commit in enumerate(_commits(tables)):
        store.insert_spans(commit, fold=(i + 1) % _FOLD_EVERY == 0)
    store.fold_rollups()
    store.close()
    return sum(t.num_rows for t in tables)


if __name__ == "__main__":
    main()
