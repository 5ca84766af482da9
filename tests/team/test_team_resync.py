"""A team's lost listening session, on a real PostgreSQL server: the session is ended
from another connection (`pg_terminate_backend`, what a server restart or an admin does
to it), a change is committed while this process is not listening, and the listeners
hear a resync once it listens again: the change itself was said to no one.

The reconnection is held back (its real connect waits on a gate) until the change has
committed, so the gap is certain rather than a race of a few milliseconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import utcnow
from gpucm.domain.models import ProviderHealth
from gpucm.engine.refresher import RefreshOutcome
from gpucm.engine.scheduler import RefreshScheduler
from gpucm.engine.team_refresh import TeamRefresh
from gpucm.store.db import StoreError
from gpucm.store.pg import team as pg_team
from gpucm.store.results import RESYNC, TeamEvent
from gpucm.store.store import Store
from tests.offer_factory import make_offer

CATALOG = Catalog.builtin()


async def until(check: Callable[[], object], what: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}: timed out"
        await asyncio.sleep(0.02)


class Gate:
    """Holds the store's new sessions (its real `connect`) while closed; `refuse`
    makes the next tries fail as an unreachable server's do."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.tries: list[float] = []
        self.refuse = 0
        real = store.db.connect

        async def connect(settings: Any = None) -> Any:
            self.tries.append(time.monotonic())
            await self.open.wait()
            if self.refuse:
                self.refuse -= 1
                raise StoreError("cannot connect to the PostgreSQL store: connection refused")
            return await real(settings)

        monkeypatch.setattr(store.db, "connect", connect)


def listening_pid(store: Store) -> int | None:
    """The server process of the store's listening session (None: not listening)."""
    assert store.team is not None
    conn = store.team._conn  # the one session of its own a team store listens on
    return None if conn is None or conn.is_closed() else conn.get_server_pid()


async def end_listening_session(url: str, store: Store) -> None:
    """End the store's listening session from another connection, as a server
    restart or an admin would."""
    pid = listening_pid(store)
    assert pid is not None
    admin = await asyncpg.connect(url)
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


@pytest.fixture
async def two_stores(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a = await Store.open(pg_url, catalog=CATALOG)
    b = await Store.open(pg_url, catalog=CATALOG)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def reconnections() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if t.get_name() == "gpucm: listen to the team again" and not t.done()
    ]


async def test_a_change_made_while_the_session_was_lost_is_resynced(
    pg_url: str, two_stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two_stores
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    gate = Gate(b, monkeypatch)

    gate.open.clear()
    await end_listening_session(pg_url, b)
    await until(lambda: gate.tries, "a reconnection")  # at once, in the background
    await a.replace_offers("runpod", [make_offer("runpod", "gap")])  # said to no one
    await asyncio.sleep(0.2)
    assert heard == []
    gate.open.set()
    await until(lambda: heard, "the resync")
    assert [(e.topic, e.own) for e in heard] == [(RESYNC, False)]
    assert len(gate.tries) == 1
    # listening again: the next change is heard as it commits
    await a.replace_offers("runpod", [make_offer("runpod", "after")])
    await until(lambda: len(heard) == 2, "the next change")
    assert (heard[1].topic, heard[1].details) == ("offers", ("runpod",))
    assert reconnections() == []


async def test_an_away_server_is_tried_with_a_growing_pause_and_one_warning(
    pg_url: str,
    two_stores: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(pg_team, "RECONNECT_FIRST", 0.05)
    monkeypatch.setattr(pg_team, "RECONNECT_MAX", 0.2)
    _, b = two_stores
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    gate = Gate(b, monkeypatch)
    gate.refuse = 5
    caplog.set_level(logging.INFO, logger="gpucm.store.pg.team")

    await end_listening_session(pg_url, b)
    await until(lambda: heard, "the resync")
    assert [e.topic for e in heard] == [RESYNC]
    assert len(gate.tries) == 6
    pauses = [round(t1 - t0, 2) for t0, t1 in zip(gate.tries, gate.tries[1:], strict=False)]
    # 0.05, 0.1, 0.2, then at most 0.2: no busy loop, no growing without bound
    assert pauses[0] >= 0.05 and pauses[1] >= 0.1 and pauses[2] >= 0.2, pauses
    assert all(p < 1.5 for p in pauses), pauses  # (a loaded machine adds a little)
    records = [r for r in caplog.records if r.name == "gpucm.store.pg.team"]
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, [r.getMessage() for r in records]  # lost, and back
    assert "connection refused" in warnings[0].getMessage()
    assert "again after" in warnings[1].getMessage()
    assert all(r.exc_info is None for r in records)


async def test_closing_during_the_pause_leaves_nothing_running(
    pg_url: str, two_stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_team, "RECONNECT_FIRST", 30.0)
    _, b = two_stores
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    gate = Gate(b, monkeypatch)
    gate.refuse = 1

    await end_listening_session(pg_url, b)
    await until(lambda: gate.tries, "a reconnection")
    await asyncio.sleep(0.05)  # refused, now pausing for 30 s
    assert len(reconnections()) == 1
    started = time.monotonic()
    await b.close()
    assert time.monotonic() - started < 5
    assert reconnections() == []
    assert heard == [] and len(gate.tries) == 1


@contextlib.asynccontextmanager
async def following(a: Store, b: Store, *, try_every: float) -> AsyncIterator[list[RefreshOutcome]]:
    """`b`'s refresh workers running while `a` is the team's refresher: what they
    hand on, once `b` listens."""
    assert a.team is not None and b.team is not None
    assert await a.team.try_lead()
    landed: list[RefreshOutcome] = []

    def no_scheduler() -> RefreshScheduler:
        raise AssertionError("b must not refresh")

    follower = TeamRefresh(b.team, b, no_scheduler, on_outcome=landed.append, try_every=try_every)
    task = asyncio.create_task(follower.run())
    try:
        await until(lambda: listening_pid(b), "listening")
        yield landed
    finally:
        task.cancel()
        await asyncio.wait([task])


async def test_a_follower_hands_on_every_provider_after_a_resync(
    pg_url: str, two_stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh workers of a process that does not refresh (the refresher is
    another): a refresh that landed in the gap is handed on, as if heard, so a TUI
    repaints its offers."""
    a, b = two_stores
    assert a.team is not None
    async with following(a, b, try_every=30) as landed:  # `a` refreshes, `b` follows
        gate = Gate(b, monkeypatch)
        gate.open.clear()
        await end_listening_session(pg_url, b)
        await until(lambda: gate.tries, "a reconnection")
        await a.replace_offers("runpod", [make_offer("runpod", "gap", price_per_hour=0.3)])
        await a.save_health(
            ProviderHealth(provider="runpod", status="ok", last_success_at=utcnow(), offer_count=1)
        )
        await asyncio.sleep(0.2)
        assert landed == []
        gate.open.set()
        await until(lambda: landed, "the resync's outcomes")
        assert [(o.provider, o.ok, o.offers, o.by) for o in landed] == [
            ("runpod", True, 1, a.team.who)
        ]


async def test_the_refresher_losing_its_session_leads_again_on_one_new_session(
    pg_url: str, two_stores: tuple[Store, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresher's lock lives on the listening session: its next try to lead and
    the reconnection meet, and share one new session (one resync, no second LISTEN)."""
    a, _ = two_stores
    assert a.team is not None
    lost: list[bool] = []
    a.team.on_lost(lambda: lost.append(True))
    heard: list[TeamEvent] = []
    await a.team.listen(heard.append)
    assert await a.team.try_lead()
    gate = Gate(a, monkeypatch)

    gate.open.clear()
    await end_listening_session(pg_url, a)
    await until(lambda: gate.tries, "a reconnection")
    assert lost == [True] and not a.team.leading
    again = asyncio.create_task(a.team.try_lead())
    await asyncio.sleep(0.1)
    gate.open.set()
    assert await again
    await until(lambda: RESYNC in [e.topic for e in heard], "the resync")
    await until(lambda: len(heard) == 3, "the new lead's announcement")
    # its first lead's announcement, the resync, and the new lead's (its own, marked)
    assert [(e.topic, e.own) for e in heard] == [
        ("refresher", True),
        (RESYNC, False),
        ("refresher", True),
    ]
    assert len(gate.tries) == 1  # one new session, for both
    assert listening_pid(a) is not None


async def test_the_refresh_workers_say_an_away_server_once(
    pg_url: str,
    two_stores: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A follower tries for the refresher's lock every few seconds: while the server
    is away each try fails, and the log says so once, not at every try."""
    monkeypatch.setattr(pg_team, "RECONNECT_FIRST", 0.05)
    monkeypatch.setattr(pg_team, "RECONNECT_MAX", 0.1)
    a, b = two_stores
    async with following(a, b, try_every=0.05):
        gate = Gate(b, monkeypatch)
        gate.refuse = 8
        caplog.set_level(logging.INFO, logger="gpucm.engine.team_refresh")
        await end_listening_session(pg_url, b)
        await until(lambda: len(gate.tries) > 8 and listening_pid(b), "listening again")
        await asyncio.sleep(0.3)  # more tries, with the server back
        records = [r for r in caplog.records if r.name == "gpucm.engine.team_refresh"]
        assert [r.levelno for r in records] == [logging.WARNING], [r.getMessage() for r in records]
        assert "connection refused" in records[0].getMessage()


async def test_the_pools_tries_while_the_server_refuses_are_one_line(pg_url: str) -> None:
    """asyncpg's pool reopens its idle connection after the session ended, and while
    the server refuses it logs each try with a traceback: gpucm's log (logs.py) keeps
    one line of them, no traceback. The refusal here is real: the pool's role may no
    longer log in."""
    import io
    import secrets

    from gpucm import logs

    role = "r_" + secrets.token_hex(4)
    admin = await asyncpg.connect(pg_url)
    out = io.StringIO()
    logs.configure("WARNING", secrets=[], stream=out)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN")
        pool = await asyncpg.create_pool(pg_url, user=role, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                pid = conn.get_server_pid()
            await admin.execute(f"ALTER ROLE {role} NOLOGIN")
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(3.5)  # the pool's tries: at once, after 1 s, after 2 s more
        finally:
            await pool.close()
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {role}")
        await admin.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("gpucm: WARNING: Failed to restore the pool connection floor")
    assert "not permitted to log in" in lines[0]
