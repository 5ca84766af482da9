"""The import graph: no module imports itself round a circle, and the core, loaded in a
clean process, brings no UI or web framework with it. The layers themselves are
import-linter's contracts ([tool.importlinter] in pyproject.toml, run by `make test`)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src"

# Circles being removed in another lane's work, each named with who removes it; the
# test fails as soon as one is gone, so its entry goes too. Nothing else may join.
KNOWN_CYCLES: dict[frozenset[str], str] = {}

CORE_PACKAGES = ("domain", "store", "providers", "engine")
CORE_MODULES = (
    "services",
    "config",
    "config_file",
    "paths",
    "formatting",
    "presets",
    "export",
    "logs",
)
NOT_IN_THE_CORE = ("textual", "rich", "fastapi", "starlette", "uvicorn")


def _cycles(graph: grimp.ImportGraph) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm,
    iterative: the graph is deep enough to matter for recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root)))))
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_import_graph_has_no_cycles() -> None:
    # imports made for type checking count: a circle of types is a circle of modules
    graph = grimp.build_graph("gpucm", cache_dir=None)
    cycles = set(_cycles(graph))
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    assert not new, f"import cycles: {new}"
    gone = [sorted(c) for c in KNOWN_CYCLES if c not in cycles]
    assert not gone, f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_cycles_are_found() -> None:
    graph = grimp.ImportGraph()
    for name in ("a", "b", "c", "d"):
        graph.add_module(name)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    graph.add_import(importer="c", imported="d")
    assert _cycles(graph) == [frozenset({"a", "b", "c"})]


def _core() -> list[str]:
    names = [f"gpucm.{m}" for m in CORE_MODULES]
    for package in CORE_PACKAGES:
        for path in sorted((SRC / "gpucm" / package).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_the_core_imports_no_ui_in_a_clean_process() -> None:
    """Every module of the core, imported in a fresh interpreter: what import-linter
    reads statically, proven at run time."""
    modules = _core()
    assert "gpucm.engine.launch_flow" in modules and "gpucm.store.database" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {NOT_IN_THE_CORE!r}"
        " or m.startswith(('gpucm.tui', 'gpucm.cli', 'gpucm.api')))\n"
        "print(','.join(bad)); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"the core pulled in: {proc.stdout or proc.stderr}"
