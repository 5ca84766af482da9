"""store/db.py runs functions on aiosqlite's connection thread through its private
`_execute` and `_conn` (no public call does it). aiosqlite is pinned exactly for that:
this fails loudly on any other version, so an upgrade is read against aiosqlite's
core.py, not discovered in production."""

from __future__ import annotations

import re
import sqlite3
import threading
from importlib.metadata import version
from pathlib import Path

import aiosqlite

from gpucm.store.db import connect, run_on_connection

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def pinned() -> str:
    match = re.search(r'"aiosqlite==([^"]+)"', PYPROJECT.read_text(encoding="utf-8"))
    assert match, "pyproject.toml no longer pins aiosqlite exactly"
    return match.group(1)


def test_aiosqlite_is_the_version_its_private_helpers_were_read_in() -> None:
    installed = version("aiosqlite")
    assert installed == pinned(), (
        f"aiosqlite {installed} is installed, {pinned()} is pinned: store/db.py uses its "
        "private Connection._execute and Connection._conn. Read aiosqlite's core.py for "
        "them (or a public way to run a function on the connection's thread), then "
        "change the pin in pyproject.toml and constraints.txt together."
    )


async def test_a_function_runs_on_the_connections_own_thread(tmp_path: Path) -> None:
    conn = await connect(tmp_path / "pin.db")
    try:
        assert isinstance(conn, aiosqlite.Connection)
        seen: list[int] = []

        def probe(raw: sqlite3.Connection) -> int:
            seen.append(threading.get_ident())
            return int(raw.execute("SELECT 41 + 1").fetchone()[0])

        assert await run_on_connection(conn, probe) == 42
        assert seen and seen[0] != threading.get_ident()
        # in order with the statements queued before it, on the same connection
        await conn.execute("CREATE TABLE t (x)")
        await conn.execute("INSERT INTO t VALUES (7)")
        assert await run_on_connection(
            conn, lambda raw: raw.execute("SELECT x FROM t").fetchall()
        ) == [(7,)]
    finally:
        await conn.close()
