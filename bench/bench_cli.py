"""CLI start-up: `gpucm --help` against bare Python importing argparse and asyncio, and
`gpucm offers --limit 5 --json` on the demo store against a bare script that reads the
same page with sqlite3 and prints it as JSON. Both measured as a user runs them (the
console script, a fresh process each time, byte-code caches written), interleaved so
the machine's noise hits both sides alike."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Target, emit, log
from gpucm.store.sql import DEFAULT_ORDER, DEFAULT_WHERE

BIN = Path(sys.executable).parent
# The same page gpucm prints: the default view's first five rows, as JSON.
BARE_READ = f"""
import json, sqlite3, sys
conn = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
conn.row_factory = sqlite3.Row
rows = conn.execute(
    "SELECT * FROM offers WHERE {DEFAULT_WHERE} ORDER BY {DEFAULT_ORDER} LIMIT 5"
).fetchall()
json.dump([dict(r) for r in rows], sys.stdout, indent=2)
"""


def _env(home: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_API_KEY", "_API_URL")) and k not in ("GPUCM_DB", "LOG_LEVEL")
    }
    # as installed: Python writes and reuses byte-code (a sandbox's "don't write" would
    # recompile every module of gpucm at every start, and bare Python has none)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["GPUCM_HOME"] = home
    return env


def _seconds(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.decode()[-500:]}")
    return elapsed


def _pair(
    ours: list[str], base: list[str], env: dict[str, str], repeat: int
) -> tuple[float, float]:
    for _ in range(3):  # warm: byte-code written, files in the page cache
        _seconds(ours, env)
        _seconds(base, env)
    a: list[float] = []
    b: list[float] = []
    for _ in range(repeat):
        a.append(_seconds(ours, env))
        b.append(_seconds(base, env))
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def bench_cli(repeat: int = 25) -> None:
    with tempfile.TemporaryDirectory() as home:
        env = _env(home)
        gpucm = str(BIN / "gpucm")
        _seconds([gpucm, "refresh"], env)  # the demo store, refreshed once
        db = Path(home) / "data" / "demo.db"
        log(f"cli: demo store {db.stat().st_size // 1024} KiB")

        lines = [
            (
                "cli_help_start",
                [gpucm, "--help"],
                [sys.executable, "-c", "import argparse, asyncio"],
                1.5,
                "~146 ms",
                "gpucm --help, process start to exit; baseline = python -c "
                "'import argparse, asyncio'",
            ),
            (
                "cli_offers_json_5",
                [gpucm, "offers", "--limit", "5", "--json"],
                [sys.executable, "-c", BARE_READ, str(db)],
                3,
                "~160 ms",
                "gpucm offers --limit 5 --json on the refreshed demo store; baseline = a "
                "bare Python script reading the same page with sqlite3 and printing JSON",
            ),
        ]
        for metric, ours_cmd, base_cmd, bound, before, note in lines:
            ours, base = _pair(ours_cmd, base_cmd, env, repeat)
            emit(
                metric,
                ours,
                "ms",
                Target("ratio", "<=", bound),
                baseline=base,
                ratio=ours / base,
                old_target=f"none (a new line; issue 17 measured {before})",
                note=note,
            )
