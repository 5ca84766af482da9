"""The store's database layer: its two connections and its transactions, the one way the
table modules (offers, stats, health, instances and journal, alerts, demo state) read
and write.

Two connections: writes (refresh snapshots, health, journal) go through one, reads
through the other, so with WAL a reader never waits for a refresh and always sees a
whole snapshot, old or new, never a mix.

A write transaction takes the database's write lock when it begins (`BEGIN IMMEDIATE`),
so what it reads inside is what it decides on: no other process can write in between.
The launch journal's budget reservation relies on that. The PostgreSQL backend
(store/pg/database.py) gives the same guarantee with a transaction-scoped advisory lock
taken at the start of its `write()`.

The table modules both backends share (health, alerts, demo state, instances and the
journal, history, stats) see a database only as `SqlDatabase` and a write transaction
as `Tx`: SQL in SQLite's words (`?` parameters), with store/dialect.py for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiosqlite

from gpucm.domain.clock import Clock
from gpucm.store.damage import store_failure
from gpucm.store.db import MMAP_SIZE, StoreError, can_write, connect, migrate, run_on_connection
from gpucm.store.dialect import SQLITE, Dialect

T = TypeVar("T")


class Tx(Protocol):
    """A write transaction, as the shared table modules use it."""

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def changed(self, topic: str, detail: str = "") -> None:
        """Say what this transaction changes (offers, instances, launches, watches), for
        other processes sharing the store: PostgreSQL tells them once it commits."""
        ...


class SqlDatabase(Protocol):
    """What the shared table modules need from a backend."""

    @property
    def dialect(self) -> Dialect: ...

    def now(self) -> datetime: ...

    def write(self) -> AbstractAsyncContextManager[Tx]: ...

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    async def select_many(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[list[Any]]: ...

    async def close(self) -> None: ...

    @property
    def read_only(self) -> bool: ...

    async def data_version(self) -> int:
        """Changes whenever anything is committed to the store, by any process."""
        ...


class SqliteTx:
    """A write transaction on the SQLite writer (`conn` for SQLite-only work)."""

    __slots__ = ("conn",)

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = await self.conn.execute(sql, params)
        return int(cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await fetchall(self.conn, sql, params)

    def changed(self, topic: str, detail: str = "") -> None:
        pass  # one machine: nobody to tell


class Database:
    """The SQLite backend's database layer."""

    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: str,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        clock: Clock,
        *,
        read_only: bool = False,
    ) -> None:
        self.path = path
        # a file this process may not write (permissions, immutable, a read-only mount):
        # reads work, every write is refused with one line before SQLite is asked
        self.read_only = read_only
        self._writer = writer
        self._reader = reader
        self._clock = clock
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, clock: Clock) -> Database:
        """Open the file (made if missing) and bring it to the current schema; a file
        this process cannot write is opened read-only."""
        read_only = not can_write(path)
        writer = await connect(path, readonly=read_only)
        try:
            await migrate(writer)
            reader = await connect(path, readonly=read_only)
        except BaseException as exc:
            await writer.close()
            failure = store_failure(exc, path) if isinstance(exc, Exception) else None
            if failure is None:
                raise
            raise failure from None
        return cls(str(path), writer, reader, clock, read_only=read_only)

    async def close(self) -> None:
        for conn in (self._reader, self._writer):
            with contextlib.suppress(ValueError):  # already closed
                await conn.close()

    def now(self) -> datetime:
        return self._clock()

    @property
    def writer(self) -> aiosqlite.Connection:
        """The write connection, for what must run on it outside a transaction (a
        trace callback in a test, a PRAGMA). Writes go through `write()`."""
        return self._writer

    # -- transactions -------------------------------------------------------------

    # aiosqlite runs each statement on its connection's own thread, in order, even when
    # the awaiting task is cancelled (the TUI cancels stale reads all the time). So a
    # transaction is always closed by queueing its end statement, never by asking
    # `in_transaction`, which may not yet reflect a BEGIN still in the queue.

    @asynccontextmanager
    async def write(self) -> AsyncIterator[SqliteTx]:
        """One write transaction holding the database's write lock from its start."""
        if self.read_only:
            raise StoreError(
                f"the database {self.path} is read-only: what was asked needs to write to "
                "it (reading works); point --db at a writable file"
            )
        async with self._write_lock:
            try:
                await self._writer.execute("BEGIN IMMEDIATE")
                yield SqliteTx(self._writer)
            except BaseException:
                await _end(self._writer, "ROLLBACK")
                raise
            await self._writer.execute("COMMIT")

    async def data_version(self) -> int:
        return int((await self.select("PRAGMA data_version"))[0][0])

    async def on_writer(self, statement: str) -> None:
        """One statement on the write connection, between transactions (a PRAGMA)."""
        async with self._write_lock:
            await self._writer.execute(statement)

    # Reads. Every await on aiosqlite is a hop to the connection's thread, and that
    # thread needs the GIL, which a busy UI thread (a screen being composed and drawn)
    # hands over only when it idles. So every read is exactly one hop: a single
    # statement runs as its own read transaction (no BEGIN and COMMIT hops), execute
    # and fetch go together, and statements that must see one snapshot go over as one
    # call (`select_many`). With no read spanning hops, reads need no lock either:
    # several issued at once queue back to back on the reader's thread, without waiting
    # for the UI in between. The stats screen went from 31 hops in a row to 3 rounds
    # (bench stats_screen_10m_history_points).

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await fetchall(self._reader, sql, params)

    async def select_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Several SELECTs in one read transaction, so all see the same snapshot. The
        transaction opens and closes inside the one call, so a cancelled caller can
        never leave it open."""

        def read(raw: sqlite3.Connection) -> list[list[Any]]:
            raw.execute("BEGIN")
            try:
                return [raw.execute(sql, params).fetchall() for sql, params in statements]
            finally:
                raw.execute("COMMIT")

        return await self.read(read)

    async def unmap(self) -> None:
        """Let go of the pages both connections have touched through their memory maps:
        each one stays in this process's resident memory (a scan of 100,000 offers,
        ~25 MB; a refresh reads its provider's rows) until unmapped. SQLite unmaps when
        the map's size changes and maps again at the next read, which then faults in
        the pages it touches (from the OS's cache: no disk read)."""

        def unmap(raw: sqlite3.Connection) -> None:
            for size in (0, MMAP_SIZE):
                raw.execute(f"PRAGMA mmap_size={size}")

        await self.read(unmap)
        # between write transactions: after the refresh being written, if any
        async with self._write_lock:
            await run(self._writer, unmap)

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`fn` with the reader's sqlite3 connection, on the reader's thread: one hop."""
        return await run(self._reader, fn)


async def fetchall(conn: aiosqlite.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """Every row of one statement, in one hop (inside a `write()` transaction too)."""
    return list(await conn.execute_fetchall(sql, params))


async def run(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn` with the sqlite3 connection of `conn` (inside a `write()` transaction: the
    writer), on that connection's thread: one hop."""
    return await run_on_connection(conn, fn)


async def _end(conn: aiosqlite.Connection, statement: str) -> None:
    """End a transaction; fine if none is open (its BEGIN failed)."""
    try:
        await conn.execute(statement)
    except sqlite3.OperationalError as exc:
        if "no transaction is active" not in str(exc):
            raise
