"""The CLI starts like a CLI: what each kind of command loads, checked in a fresh
interpreter. `gpucm --help`, `--version` and a typo's one line come from argparse
alone; `gpucm offers` on a refreshed store loads no provider, no HTTP client and no
refresh machinery. (How long each takes is `make bench`'s `cli` group.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUN = """
import json, sys
from gpucm.cli.main import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as exc:
    code = exc.code
with open(sys.argv[2], "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""
# What a command that only parses its arguments must not load.
HEAVY = (
    "pydantic",
    "asyncio",
    "aiosqlite",
    "sqlite3",
    "numpy",
    "textual",
    "rich",
    "httpx",
    "tomllib",
    "gpucm.services",
    "gpucm.store",
    "gpucm.domain.models",
    "gpucm.providers",
    "gpucm.engine",
)
# What `gpucm offers` on a refreshed store must not load.
NOT_FOR_A_READ = (
    "httpx",
    "numpy",
    "textual",
    "gpucm.providers.vastai",
    "gpucm.providers.runpod",
    "gpucm.providers.lambdalabs",
    "gpucm.providers.paperspace",
    "gpucm.providers.demo",
    "gpucm.engine.refresher",
    "gpucm.engine.scheduler",
    "gpucm.engine.provider_info",
    # the other commands' parsers, the table, the text query's parser, TOML writing
    "gpucm.cli.insight_args",
    "gpucm.cli.serve",
    "gpucm.cli.spend",
    "gpucm.cli.db",
    "gpucm.cli.table",
    "gpucm.domain.query",
    "tomli_w",
)


def loaded(tmp_path: Path, *argv: str) -> tuple[int, list[str]]:
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_URL"))}
    proc = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(argv), str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert out.exists(), proc.stderr
    found = json.loads(out.read_text())
    return found["code"], found["modules"]


def among(modules: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes)]


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--help"], 0),
        (["--version"], 0),
        (["offers", "--help"], 0),
        (["offers", "--limit", "x"], 2),
        (["nonsense"], 2),
        (["completion", "bash"], 0),
        (["paths"], 0),
    ],
)
def test_help_version_and_a_typo_load_nothing_heavy(
    tmp_path: Path, argv: list[str], code: int
) -> None:
    status, modules = loaded(tmp_path, *argv)
    assert status == code
    assert among(modules, HEAVY) == []


def test_listing_offers_loads_no_provider_and_no_refresh_machinery(tmp_path: Path) -> None:
    assert loaded(tmp_path, "refresh")[0] == 0  # the demo store, refreshed once
    status, modules = loaded(tmp_path, "offers", "--limit", "5", "--json")
    assert status == 0
    assert "gpucm.store.store" in modules  # it did read the store
    assert among(modules, NOT_FOR_A_READ) == []
