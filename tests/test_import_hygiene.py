"""The core never imports textual or rich (ARCHITECTURE rule 1), proven in a clean process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CORE = [
    "gpucm.domain.models",
    "gpucm.domain.catalog",
    "gpucm.domain.query",
    "gpucm.domain.regions",
    "gpucm.domain.normalize",
    "gpucm.store.store",
    "gpucm.providers.demo",
    "gpucm.providers.registry",
    "gpucm.engine.refresher",
    "gpucm.services",
    "gpucm.cli.commands",
]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_without_textual(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
        "or m.startswith('gpucm.tui')); "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, f"{module} pulled in: {proc.stdout or proc.stderr}"


# Imports point one way (ARCHITECTURE): front ends use the core, never each other, and
# the core uses no front end. Checked on the source, so a lazy import counts too.
FRONT_ENDS = ("gpucm.cli", "gpucm.tui", "gpucm.api")
# the entry points start a front end: `gpucm-tui` and `gpucm serve` live in the CLI
LAUNCHERS = {"gpucm.__main__", "gpucm.cli.main", "gpucm.cli.serve"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _package_of(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return ".".join(rel.parts)


SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize(
    "path", sorted((SRC / "gpucm").rglob("*.py")), ids=lambda p: str(p.relative_to(SRC))
)
def test_imports_point_one_way(path: Path) -> None:
    module = _package_of(path)
    if module in LAUNCHERS:
        return
    own = next((f for f in FRONT_ENDS if module.startswith(f)), None)
    wrong = sorted(
        name for name in _imports(path) if any(name.startswith(f) for f in FRONT_ENDS if f != own)
    )
    assert not wrong, f"{module} imports {wrong}"
