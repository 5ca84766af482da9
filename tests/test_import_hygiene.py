"""The core never imports textual or rich (ARCHITECTURE rule 1), proven in a clean process."""

from __future__ import annotations

import subprocess
import sys

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
