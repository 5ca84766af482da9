"""The team store's PostgreSQL server in tests: `.ci/with-postgres` (make test, CI)
starts a throwaway one and sets GPUCM_TEST_DATABASE_URL; each test gets a schema of
its own in it (its own tables, advisory locks and NOTIFY channel: store/pg/database.py
derives them from the schema), dropped afterwards.

Without a server the PostgreSQL variants are skipped, and the run's summary says how
many and why. With GPUCM_REQUIRE_POSTGRES set (CI), a missing server fails them."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

ENV_URL = "GPUCM_TEST_DATABASE_URL"
SKIP_REASON = (
    f"no PostgreSQL server: install PostgreSQL (make test starts a throwaway one) or set {ENV_URL}"
)


def server_url() -> str | None:
    return os.environ.get(ENV_URL) or None


def required() -> bool:
    return bool(os.environ.get("GPUCM_REQUIRE_POSTGRES"))


def need_server() -> str:
    url = server_url()
    if url is None:
        if required():
            pytest.fail(
                f"PostgreSQL was expected (GPUCM_REQUIRE_POSTGRES) but {ENV_URL} is not set: "
                "the throwaway server did not start",
                pytrace=False,
            )
        pytest.skip(SKIP_REASON)
    return url


def with_schema(url: str, schema: str) -> str:
    sep = "&" if urlsplit(url).query else "?"
    return f"{url}{sep}search_path={schema}"


async def fresh_schema() -> AsyncIterator[str]:
    """A store URL on a new, empty schema; the schema is dropped afterwards."""
    import asyncpg

    url = need_server()
    schema = "t_" + secrets.token_hex(6)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f"CREATE SCHEMA {schema}")
    finally:
        await conn.close()
    try:
        yield with_schema(url, schema)
    finally:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            # sessions a test left open (a killed process's) must not hold the drop up
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                " AND application_name = 'gpucm' AND state = 'idle'"
                " AND query_start < now() - interval '1 hour'"
            )
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()
