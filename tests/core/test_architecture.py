"""The house rules of docs/architecture.md, read from the source's import graph.

Every import statement of every module is read with ``ast`` (imports under ``if TYPE_CHECKING:``
are left out: they never run). A failure names the module and the import that breaks a rule.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("claudescope.instrument", "claudescope.collector", "claudescope.dashboard", "claudescope.alerts")
ROOMS = ("claudescope.__main__", "claudescope.cli", "claudescope.demo", "claudescope.fakeapi")
SERVER_LIBRARIES = {
    "starlette", "uvicorn", "grpc", "duckdb", "pyarrow", "pandas", "streamlit", "altair", "apprise",
    "anthropic", "httpx", "rich", "typer", "google", "opentelemetry", "wrapt",
}
# What the instrumentation may import besides the core and the standard library: the
# OpenTelemetry API/SDK and wrapt it is built on, and the SDK it patches (with its transport).
INSTRUMENT_ALLOWED = {"opentelemetry", "wrapt", "anthropic", "httpx"}
MAX_MODULE_LINES = 400


@cache
def modules() -> dict[str, Path]:
    """Every module of the distribution, by dotted name, from pyproject's package-dir map."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found: dict[str, Path] = {}
    for package, folder in setuptools["package-dir"].items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            if name not in found:
                found[name] = path
    return found


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking_only(node):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _import_nodes(node)


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


@cache
def imports(module: str) -> tuple[str, ...]:
    """The dotted names ``module`` imports: a submodule where ``from pkg import sub`` names one."""
    path = modules()[module]
    names: list[str] = []
    for node in _import_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
            continue
        target = _absolute(module, path, node)
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            names.append(sub if sub in modules() else target)
    return tuple(dict.fromkeys(names))


def _within(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _is_core(module: str) -> bool:
    return module.startswith("claudescope") and not _within(module, COMPONENTS + ROOMS)


def _third_party(name: str) -> str | None:
    top = name.split(".")[0]
    return None if top == "claudescope" or top in sys.stdlib_module_names else top


def _breaches(rule: callable) -> list[str]:  # type: ignore[valid-type]
    return [f"{module} imports {name}" for module in modules() for name in imports(module) if rule(module, name)]


def test_the_core_imports_no_component_room_or_server_library() -> None:
    def breaks(module: str, name: str) -> bool:
        return _is_core(module) and (_within(name, COMPONENTS + ROOMS) or _third_party(name) in SERVER_LIBRARIES)

    assert _breaches(breaks) == []


def test_instrument_imports_only_the_core_and_the_sdk_it_patches() -> None:
    def breaks(module: str, name: str) -> bool:
        if not _within(module, ("claudescope.instrument",)):
            return False
        if name.startswith("claudescope"):
            return not (_is_core(name) or _within(name, ("claudescope.instrument",)))
        top = _third_party(name)
        return top is not None and top not in INSTRUMENT_ALLOWED

    assert _breaches(breaks) == []


def test_only_the_store_imports_duckdb() -> None:
    def breaks(module: str, name: str) -> bool:
        return _third_party(name) == "duckdb" and not _within(module, ("claudescope.collector.store",))

    assert _breaches(breaks) == []


def test_dashboard_and_alerts_never_import_each_other() -> None:
    pairs = (("claudescope.dashboard", "claudescope.alerts"), ("claudescope.alerts", "claudescope.dashboard"))

    def breaks(module: str, name: str) -> bool:
        return any(_within(module, (a,)) and _within(name, (b,)) for a, b in pairs)

    assert _breaches(breaks) == []


def test_no_import_cycles() -> None:
    graph = {m: [n for n in imports(m) if n in modules() and n != m] for m in modules()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    assert cycles == []


def test_every_module_is_at_most_400_lines() -> None:
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_rules_see_the_whole_tree() -> None:
    """A rule over an empty graph passes vacuously; this proves the graph is the real one."""
    assert {"claudescope.config", "claudescope.collector.store", "claudescope.instrument"} <= set(modules())
    assert "claudescope.collector.store" in {n for n in imports("claudescope.collector.app")} | {
        n for m in modules() if m.startswith("claudescope.collector.") for n in imports(m)
    }
    assert any(_third_party(n) == "duckdb" for m in modules() for n in imports(m))
