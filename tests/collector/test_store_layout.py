"""One home per fact: the collector's SQL in the store package, the rollup layout in the core's
rollup contract (and the real store's tables agree with it), one composition of the Collector,
no dead public functions in the collector modules this layout concerns."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

from claudescope import rollup_contract as contract
from claudescope.collector.store import Store
from claudescope.dashboard import rollup as dashboard_rollup

ROOT = Path(__file__).resolve().parents[2]
_SQL = re.compile(r"^\s*\(?\s*(SELECT|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|CREATE|ALTER|DROP|WITH)\s+\S", re.I)


def _string_constants(path: Path) -> list[tuple[int, str]]:
    """Every string literal of ``path`` (f-string parts included), docstrings left out."""
    tree = ast.parse(path.read_text(), str(path))
    docstrings = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_collector_sql_lives_only_in_the_store_package() -> None:
    outside = [p for p in sorted((ROOT / "collector").rglob("*.py")) if "store" not in p.relative_to(ROOT / "collector").parts]
    found = [f"{p.relative_to(ROOT)}:{line}: {text[:60]!r}" for p in outside for line, text in _string_constants(p) if _SQL.match(text)]
    assert found == []


def test_the_store_tables_have_the_contract_layout(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    try:
        for layout in contract.LAYOUTS:
            for name in (layout.table, layout.live_view):
                described = store.read_arrow(f"DESCRIBE {name}").to_pylist()
                assert [r["column_name"] for r in described] == [layout.bucket, *layout.key_columns, *(m.column for m in contract.MEASURES)], name
            typed = {r["column_name"]: r["column_type"] for r in store.read_arrow(f"DESCRIBE {layout.table}").to_pylist()}
            assert {m.column: typed[m.column] for m in contract.MEASURES} == {m.column: m.sql_type for m in contract.MEASURES}
    finally:
        store.close()


def test_the_dashboard_reads_the_contract_layout() -> None:
    for mine, theirs in ((dashboard_rollup.HOUR, contract.HOUR), (dashboard_rollup.MINUTE, contract.MINUTE)):
        assert (mine.table, mine.time, mine.step, mine.dims) == (theirs.live_view, theirs.bucket, theirs.step, theirs.dimensions)


def test_bucket_sql_floors_to_utc_multiples_of_the_width(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.duckdb")
    try:
        expr = contract.bucket_sql("t", timedelta(minutes=15))
        got = store.scalar(f"SELECT strftime({expr}, '%Y-%m-%d %H:%M:%S') FROM (SELECT TIMESTAMPTZ '2026-03-01 10:44:59.999+00' AS t)")
        assert got == "2026-03-01 10:30:00"
    finally:
        store.close()


def test_the_service_builds_one_collector() -> None:
    tree = ast.parse((ROOT / "collector" / "service.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "Collector"]
    assert len(calls) == 1


def test_no_dead_public_functions_in_the_ingest_and_store_modules() -> None:
    modules = [ROOT / "collector" / "otlp.py", *sorted((ROOT / "collector" / "store").glob("*.py"))]
    sources = [p.read_text() for folder in ("claudescope", "collector", "dashboard", "alerts", "instrument", "bench", "tests")
               for p in (ROOT / folder).rglob("*.py")]
    dead = []
    for path in modules:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                uses = sum(len(re.findall(rf"\b{node.name}\b", text)) for text in sources)
                if uses < 2:  # the definition itself
                    dead.append(f"{path.name}:{node.name}")
    assert dead == []
