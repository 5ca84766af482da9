"""The PostgreSQL store's database layer: the same surface as SQLite's
(store/database.py) over a small pool of asyncpg connections.

Why asyncpg (measured on this 2-core machine against psycopg 3.3 with its C
extension, on a loaded minute, against a local server): `import` 90 ms against 174 ms
(every CLI command pays it), connecting 3.9 ms against 4.6 ms, COPY of 100,000 offer
rows 389 ms against 403 ms (binary COPY; psycopg's text COPY took 1,052 ms), a paged
search 26.9 ms against 33.0 ms. psycopg fetched 100,000 rows of the offer index's
columns faster (437 ms against 478-681 ms), but that read runs on a thread of its own
in the background (store/pg/offers.py), where asyncpg runs on a private event loop:
one driver, no synchronous one needed. No ORM: the SQL is the store's own.

Writes: `write()` is one transaction that takes a transaction-scoped advisory lock
(`pg_advisory_xact_lock`) first, so write transactions are serialised across every
process and machine sharing the database, as SQLite's `BEGIN IMMEDIATE` serialises
them on one machine: what a transaction reads is what it decides on (the launch
journal's budget reservation, the demo market's state, alert claims). What a write
changes is announced with NOTIFY inside it, so other processes hear of it exactly when
it commits (store/pg/team.py listens).

Reads run on any pooled connection; `select_many` reads several statements in one
REPEATABLE READ transaction, so they see one snapshot.

A store is identified by its database and schema (`search_path`): its advisory lock
keys and its NOTIFY channel derive from both, so two gpucm stores in two schemas of
one database never meet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gpucm.database_url import DatabaseUrl
from gpucm.domain.clock import Clock
from gpucm.store.db import StoreError
from gpucm.store.dialect import POSTGRES, Dialect
from gpucm.store.pg.schema import LATEST_VERSION, MIGRATIONS, MIN_SERVER_VERSION

T = TypeVar("T")

log = logging.getLogger(__name__)

# No command may hang on an unreachable server: connecting gives up after this long.
CONNECT_TIMEOUT = 5.0
# Advisory lock classes (the first of the two int4 keys); the second is the store's key.
WRITE_LOCK = 0x67707563  # "gpuc": the store's write transactions
LEADER_LOCK = 0x67707564  # the team's refresher (store/pg/team.py)

# a connection of the pool, or one of its own
Conn = asyncpg.Connection | PoolConnectionProxy

_NUMBERED = re.compile(r"\?(\d*)")
_BUMP_DATA_VERSION = (
    "INSERT INTO meta(key, value) VALUES ('data_version', '1') ON CONFLICT(key)"
    " DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)"
)


# SQLite's one-parameter list of values (store/search_sql.py `_in`, past 64 values)
_SQLITE_LIST = "SELECT value FROM json_each(?)"
_POSTGRES_LIST = "SELECT value FROM json_array_elements_text(CAST(? AS json)) AS value"


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """SQLite's `?` and `?N` parameters as PostgreSQL's `$N` (the store's SQL has no `?`
    inside a string literal), and its JSON list of values as PostgreSQL's."""
    sql = sql.replace(_SQLITE_LIST, _POSTGRES_LIST)
    count = 0

    def repl(match: re.Match[str]) -> str:
        nonlocal count
        if match.group(1):
            return "$" + match.group(1)
        count += 1
        return f"${count}"

    return _NUMBERED.sub(repl, sql)


def _rowcount(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgTx:
    """A write transaction on one pooled connection (`conn` for PostgreSQL-only work)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.changes: dict[str, set[str]] = {}

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return _rowcount(await self.conn.execute(numbered(sql), *params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        if batch:
            await self.conn.executemany(numbered(sql), batch)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(await self.conn.fetch(numbered(sql), *params))

    def changed(self, topic: str, detail: str = "") -> None:
        self.changes.setdefault(topic, set()).add(detail)


class PgDatabase:
    dialect: Dialect = POSTGRES
    read_only = False  # a server refuses writes per statement, and says why

    def __init__(
        self,
        url: DatabaseUrl,
        pool: asyncpg.Pool,
        clock: Clock,
        *,
        key: int,
        origin: str,
        who: str,
        server_version: tuple[int, int],
    ) -> None:
        self.url = url
        self.path = url.shown  # what messages and `gpucm providers` show
        self._pool = pool
        self._clock = clock
        self.key = key
        self.channel = f"gpucm_{key & 0xFFFFFFFF:08x}"
        self.origin = origin  # this process's store, in its notifications
        self.who = who
        self.server_version = server_version

    @classmethod
    async def open(
        cls, url: DatabaseUrl, clock: Clock, *, origin: str, who: str, migrate: bool = True
    ) -> PgDatabase:
        """Connect (giving up after CONNECT_TIMEOUT), check the server and bring the
        schema to the current version."""
        pool = await _connect_pool(url)
        try:
            async with pool.acquire() as conn:
                version = conn.get_server_version()
                # since 10 a release is major.minor, which asyncpg reads as major.0.micro
                server = (version.major, version.micro if version.major >= 10 else version.minor)
                if server < MIN_SERVER_VERSION:
                    raise StoreError(
                        f"{url.shown}: PostgreSQL {version.major}.{version.minor} is too old;"
                        f" gpucm needs {MIN_SERVER_VERSION[0]} or newer"
                    )
                schema = await conn.fetchval("SELECT current_schema()")
                database = await conn.fetchval("SELECT current_database()")
                if schema is None:
                    raise StoreError(
                        f"{url.shown}: no schema to use (search_path names none that exists)"
                    )
                key = _signed32(zlib.crc32(f"{database}/{schema}".encode()))
                if migrate:
                    await _migrate(conn, url, key)
                else:
                    await _check_version(conn, url)
        except BaseException:
            await pool.close()
            raise
        return cls(url, pool, clock, key=key, origin=origin, who=who, server_version=server)

    async def close(self) -> None:
        await self._pool.close()

    def now(self) -> datetime:
        return self._clock()

    async def connect(self, settings: Mapping[str, str] | None = None) -> asyncpg.Connection:
        """A connection of its own, outside the pool (listening, the refresher's lock,
        the offer index's build). `settings`: the session's server settings, wanted
        but not needed: a server (or a pooler in front of it) that refuses them at
        connect gets a connection without them."""
        if settings:
            try:
                return await _connect(self.url, settings)
            except _Refused as exc:
                log.info(
                    "the server refused %s; connecting without them: %s", sorted(settings), exc
                )
        return await _connect(self.url)

    # -- transactions -------------------------------------------------------------

    @asynccontextmanager
    async def write(self) -> AsyncIterator[PgTx]:
        """One write transaction holding the store's write lock from its start."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", WRITE_LOCK, self.key)
            tx = PgTx(conn)
            yield tx
            # every write moves the store's version (what SQLite's data_version is)
            await conn.execute(_BUMP_DATA_VERSION)
            for topic, details in tx.changes.items():
                await conn.execute(
                    "SELECT pg_notify($1, $2)", self.channel, self.payload(topic, details)
                )

    def payload(self, topic: str, details: Iterable[str] = ()) -> str:
        return json.dumps(
            {
                "topic": topic,
                "detail": sorted(d for d in details if d),
                "by": self.who,
                "origin": self.origin,
            }
        )

    async def data_version(self) -> int:
        """Changes whenever anything is committed to the store, by any process: a
        counter every write transaction moves (the API's search cache keys on it)."""
        rows = await self.select("SELECT value FROM meta WHERE key = 'data_version'")
        return int(rows[0][0]) if rows else 0

    async def select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._pool.acquire() as conn:
            return list(await conn.fetch(numbered(sql), *params))

    async def select_many(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """Several SELECTs in one snapshot."""

        async def read(conn: Conn) -> list[list[Any]]:
            return [list(await conn.fetch(numbered(sql), *params)) for sql, params in statements]

        return await self.read(read)

    async def read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """`fn` with a connection, in one read-only REPEATABLE READ transaction."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await fn(conn)

    async def on_writer(self, statement: str) -> None:
        """A statement outside a transaction (ANALYZE, VACUUM)."""
        async with self._pool.acquire() as conn:
            await conn.execute(statement)


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


class _Refused(Exception):
    """The server answered the connection with an error other than the login's."""


async def _connect(
    url: DatabaseUrl, settings: Mapping[str, str] | None = None
) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(
            url.dsn,
            timeout=CONNECT_TIMEOUT,
            server_settings={**(settings or {}), "application_name": "gpucm"},
        )
    except asyncpg.PostgresError as exc:
        if settings and not isinstance(exc, _LOGIN_ERRORS):
            # (PostgreSQL: an unknown or bad parameter; PgBouncer: an unsupported one)
            raise _Refused(str(exc)) from None
        raise StoreError(connect_error(url, exc)) from None
    except Exception as exc:
        raise StoreError(connect_error(url, exc)) from None


async def reachable(url: DatabaseUrl) -> None:
    """Connect once and leave: raises StoreError (one line) when the server cannot be
    reached, refuses the login, or has no such database."""
    conn = await _connect(url)
    await conn.close()


async def _connect_pool(url: DatabaseUrl) -> asyncpg.Pool:
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT * 2):
            pool = await asyncpg.create_pool(
                url.dsn,
                min_size=1,
                max_size=4,
                timeout=CONNECT_TIMEOUT,
                server_settings={"application_name": "gpucm"},
            )
    except Exception as exc:
        raise StoreError(connect_error(url, exc)) from None
    assert pool is not None
    return pool


_LOGIN_ERRORS = (
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
)


def connect_error(url: DatabaseUrl, exc: BaseException) -> str:
    """One line for a failed connection: what and where, never the password."""
    if isinstance(exc, TimeoutError):
        why = f"no answer within {CONNECT_TIMEOUT:g} s"
    elif isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        why = "the server refused the user name or password"
    elif isinstance(exc, asyncpg.InvalidCatalogNameError):
        why = "that database does not exist (create it first: createdb NAME)"
    elif isinstance(exc, ConnectionRefusedError):
        why = "connection refused (is the server running, on that host and port?)"
    elif isinstance(exc, OSError):
        why = exc.strerror or type(exc).__name__
    elif isinstance(exc, asyncpg.PostgresError):
        why = exc.args[0] if exc.args else type(exc).__name__
    else:
        why = type(exc).__name__
    text = f"cannot connect to the PostgreSQL store {url.shown}: {why}"
    for secret in url.secrets():
        text = text.replace(secret, "***")
    return text


async def _check_version(conn: Conn, url: DatabaseUrl) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    current = int(await conn.fetchval("SELECT version FROM schema_version")) if exists else 0
    if current > LATEST_VERSION:
        raise StoreError(
            f"{url.shown} has schema version {current}, newer than this gpucm knows "
            f"({LATEST_VERSION}); upgrade gpucm"
        )
    return current


async def _migrate(conn: Conn, url: DatabaseUrl, key: int) -> int:
    """Apply the migrations the database has not had, each in its own transaction
    under the write lock; returns the version."""
    current = await _check_version(conn, url)
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", WRITE_LOCK, key)
                # another process may have migrated while this one waited for the lock
                current = await _check_version_in(conn)
                if migration.version <= current:
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);"
                    "DELETE FROM schema_version;"
                    f"INSERT INTO schema_version VALUES ({int(migration.version)})"
                )
        except asyncpg.PostgresError as exc:
            raise StoreError(
                f"{url.shown}: migration {migration.version} ({migration.description}) "
                f"failed: {exc}"
            ) from None
        current = migration.version
    return current


async def _check_version_in(conn: Conn) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
    return int(await conn.fetchval("SELECT version FROM schema_version")) if exists else 0
