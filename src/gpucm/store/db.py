"""Opening SQLite connections and bringing a database to the current schema."""

from __future__ import annotations

import errno
import os
import sqlite3
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import aiosqlite

from gpucm.store.schema import MIGRATIONS, Migration

T = TypeVar("T")


class StoreError(Exception):
    """A store problem a person can act on (the message says what and where)."""


DOCTOR_HINT = "run `gpucm doctor` to check it (and set it aside for a fresh one)"


async def run_on_connection(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run `fn` with the connection's sqlite3 object on the connection's own thread, as
    one queued call. aiosqlite has no public call for this (0.22.1: `create_function`,
    `set_progress_handler` and the like run only inside a statement); `_execute` and
    `_conn` are the helpers its own methods use. So aiosqlite is pinned exactly in
    pyproject.toml, and tests/store/test_aiosqlite_pin.py fails on another version."""
    queue_call: Callable[..., Awaitable[T]] = conn._execute
    return await queue_call(fn, conn._conn)


def can_write(path: Path | str) -> bool:
    """Whether this process may write the database file: opened for writing as SQLite
    would open it, so an immutable file or a read-only mount counts (root's permission
    bits do not). A file not there yet is created on open: writable. Anything else
    wrong with the path (a directory, no such folder) is a StoreError naming it."""
    target = str(path)
    if target == ":memory:":
        return True
    try:
        fd = os.open(target, os.O_RDWR)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        raise StoreError(f"cannot open the database {target}: it is a directory") from None
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return False
        raise StoreError(f"cannot open the database {target}: {exc.strerror}") from None
    os.close(fd)
    return True


# Reading pages through a memory map skips a copy per page: filter scans over 100k
# offers ran ~20% faster (bench search_100k_*).
MMAP_SIZE = 268_435_456


async def connect(path: Path | str, *, readonly: bool = False) -> aiosqlite.Connection:
    target = str(path)
    try:
        if target != ":memory:" and not readonly:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        if readonly:
            uri = f"file:{urllib.parse.quote(target)}?mode=ro"
            conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        else:
            conn = await aiosqlite.connect(target, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open the database {target}: {exc}") from exc
    # WAL lets the UI read while a refresh writes; NORMAL is durable across app
    # crashes (only an OS crash can lose the last commit, never corrupt the file).
    try:
        if not readonly:
            await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA temp_store=MEMORY")
        # A refresh of 100k offers touches ~30 MB of pages: with the default 2 MB cache
        # they spill to the WAL mid-transaction (bench ingest: ~20% slower).
        await conn.execute("PRAGMA cache_size=-65536")
        # ANALYZE samples this many rows per index instead of reading them all
        await conn.execute("PRAGMA analysis_limit=2000")
        await conn.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
    except sqlite3.DatabaseError as exc:
        await conn.close()
        # a file that is not SQLite at all (its header overwritten, another program's)
        # fails here, before any read: the way out is the same as for a damaged one
        raise StoreError(
            f"the database {target} is damaged or not a gpucm database ({exc}); {DOCTOR_HINT}"
        ) from exc
    return conn


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(conn: aiosqlite.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply the migrations a database has not had yet; returns the new version."""
    latest = migrations[-1].version if migrations else 0
    try:
        current = await schema_version(conn)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the database is not readable: {exc}") from exc
    if current > latest:
        raise StoreError(
            f"the database has schema version {current}, newer than this gpucm knows "
            f"({latest}); upgrade gpucm or point --db at another file"
        )
    for migration in migrations:
        if migration.version <= current:
            continue
        try:
            await conn.executescript(
                "BEGIN IMMEDIATE;\n"
                f"{migration.sql}\n"
                f"PRAGMA user_version = {int(migration.version)};\n"
                "COMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise StoreError(
                f"migration {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
        current = migration.version
    return current
