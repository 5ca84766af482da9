"""A team's session on a half-open link, on a real PostgreSQL server: the store talks to
the server through a TCP proxy in this test that can freeze, keeping both sockets open
while it forwards nothing (and no close), as a suspended laptop's or a forgetful NAT's
link does. Nobody says the session ended: the liveness check must find it.

The check's intervals are shortened here (the module's constants) so a test runs in
seconds; nothing asserts how fast."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from gpucm.domain.clock import utcnow
from gpucm.domain.models import ProviderHealth
from gpucm.engine.refresher import RefreshOutcome
from gpucm.services import open_services
from gpucm.store.pg import database as pg_database
from gpucm.store.pg import team as pg_team
from gpucm.store.results import REFRESH_REQUEST, RESYNC, TeamEvent
from gpucm.store.store import Store
from tests.engine.test_refresher import FakeSource
from tests.offer_factory import make_offer
from tests.team.test_team import _team_refresh
from tests.team.test_team_resync import (
    CATALOG,
    Gate,
    end_listening_session,
    listening_pid,
    two_stores,
    until,
)

__all__ = ["two_stores"]  # a fixture of this module too


class Link:
    """One proxied connection: forwards while `flowing` is set, holds everything
    (data, and the close of either side) while it is clear."""

    def __init__(self, frozen: bool) -> None:
        self.flowing = asyncio.Event()
        if not frozen:
            self.flowing.set()

    async def pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    await self.flowing.wait()
                    writer.write(data)
                    await writer.drain()
            await self.flowing.wait()
        finally:
            writer.close()  # (cancelled too: no session may outlive the test)


class FreezingProxy:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname and parts.port, url
        self._target = (parts.hostname, parts.port)
        self._parts = parts
        self.links: list[Link] = []
        self.new_links_frozen = False
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        netloc = self._parts.netloc.rsplit(":", 1)[0] + f":{port}"
        return urlunsplit(self._parts._replace(netloc=netloc))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(self.new_links_frozen)
        self.links.append(link)
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        for task in (
            asyncio.create_task(link.pipe(reader, up_writer)),
            asyncio.create_task(link.pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def freeze(self, *, new_links_too: bool) -> None:
        for link in self.links:
            link.flowing.clear()
        self.new_links_frozen = new_links_too

    def thaw(self) -> None:
        self.new_links_frozen = False
        for link in self.links:
            link.flowing.set()

    async def close(self) -> None:
        self.thaw()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))


@pytest.fixture
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_team, "PING_EVERY", 0.2)
    monkeypatch.setattr(pg_team, "PING_TIMEOUT", 2.0)
    monkeypatch.setattr(pg_team, "RECONNECT_FIRST", 0.05)
    monkeypatch.setattr(pg_team, "RECONNECT_MAX", 0.2)
    monkeypatch.setattr(pg_database, "CONNECT_TIMEOUT", 1.0)


@pytest.fixture
async def proxied(
    pg_url: str, quick_checks: None
) -> AsyncIterator[tuple[Store, Store, FreezingProxy]]:
    """`a` straight to the server, `b` through the proxy."""
    proxy = FreezingProxy(pg_url)
    b_url = await proxy.start()
    a = await Store.open(pg_url, catalog=CATALOG)
    b = await Store.open(b_url, catalog=CATALOG)
    try:
        yield a, b, proxy
    finally:
        proxy.thaw()
        await a.close()
        await b.close()
        await proxy.close()


def team_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gpucm.store.pg.team" and r.levelno >= logging.WARNING
    ]


async def test_a_listener_behind_a_frozen_link_resyncs_through_a_new_one(
    proxied: tuple[Store, Store, FreezingProxy], caplog: pytest.LogCaptureFixture
) -> None:
    a, b, proxy = proxied
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    silent = listening_pid(b)
    caplog.set_level(logging.INFO, logger="gpucm.store.pg.team")

    proxy.freeze(new_links_too=False)  # the old path is dead; a new one works
    await a.replace_offers("runpod", [make_offer("runpod", "gap")])  # said into the void
    await until(lambda: heard, "the resync")
    assert [(e.topic, e.own) for e in heard] == [(RESYNC, False)]
    assert listening_pid(b) not in (None, silent)
    # listening again: the next change is heard as it commits
    await a.replace_offers("runpod", [make_offer("runpod", "after")])
    await until(lambda: len(heard) == 2, "the next change")
    assert (heard[1].topic, heard[1].details) == ("offers", ("runpod",))
    warnings = team_warnings(caplog)
    assert len(warnings) == 2, warnings  # lost, and back
    assert "did not answer" in warnings[0]
    assert "again after" in warnings[1]


async def test_a_listener_behind_a_frozen_link_resyncs_once_it_comes_back(
    proxied: tuple[Store, Store, FreezingProxy], caplog: pytest.LogCaptureFixture
) -> None:
    """While the link stays frozen every new try hangs too (until the connect timeout):
    one warning for the whole outage, a resync when the link is back."""
    a, b, proxy = proxied
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    caplog.set_level(logging.INFO, logger="gpucm.store.pg.team")

    proxy.freeze(new_links_too=True)
    await until(lambda: len(proxy.links) >= 4, "new tries through the frozen link", within=30)
    await a.replace_offers("runpod", [make_offer("runpod", "gap")])
    assert heard == []
    proxy.thaw()
    await until(lambda: heard, "the resync", within=20)
    assert [e.topic for e in heard] == [RESYNC]
    await a.replace_offers("runpod", [make_offer("runpod", "after")])
    await until(lambda: len(heard) == 2, "the next change")
    assert (heard[1].topic, heard[1].details) == ("offers", ("runpod",))
    warnings = team_warnings(caplog)
    assert len(warnings) == 2, warnings
    assert "did not answer" in warnings[0] and "again after" in warnings[1]


async def test_a_refresher_behind_a_frozen_link_stops_refreshing(
    proxied: tuple[Store, Store, FreezingProxy],
) -> None:
    """Its lock's session is silent: it stops its workers (the provider call in flight
    is cancelled) though the server still holds the lock, so nobody else refreshes
    meanwhile; once the link is back one of them refreshes, never both."""
    a, b, proxy = proxied
    assert a.team is not None and b.team is not None
    calling = asyncio.Event()  # the provider never answers: a call in flight
    source = FakeSource("vast_ai", calling)
    landed: list[RefreshOutcome] = []
    refresh = _team_refresh(b, source, landed)
    task = asyncio.create_task(refresh.run())
    try:
        await until(lambda: source.active == 1, "b refreshing")
        assert b.team.leading and not await a.team.try_lead()

        proxy.freeze(new_links_too=True)
        await until(lambda: not b.team.leading, "b stops being the refresher", within=20)
        await until(lambda: source.active == 0 and refresh.running == [], "b's workers stopped")
        assert not await a.team.try_lead()  # the server holds b's session: nobody else
        proxy.thaw()
        # b's closed session reaches the server: its lock is freed; one of them leads
        for _ in range(200):
            if b.team.leading or await a.team.try_lead():
                break
            await asyncio.sleep(0.1)
        assert a.team.leading != b.team.leading
    finally:
        proxy.thaw()  # (a failed test must not hang on b's resign)
        task.cancel()
        await asyncio.wait([task])


async def test_the_team_session_asks_the_server_to_notice_a_vanished_client(
    pg_url: str, quick_checks: None
) -> None:
    store = await Store.open(pg_url, catalog=CATALOG)
    try:
        assert store.team is not None
        await store.team.listen(lambda _: None)
        conn = store.team._conn
        assert conn is not None
        shown = {name: await conn.fetchval(f"SHOW {name}") for name in pg_team.SESSION_SETTINGS}
        assert shown == {
            "tcp_keepalives_idle": "30",
            "tcp_keepalives_interval": "10",
            "tcp_keepalives_count": "3",
            "tcp_user_timeout": "60000",
        }
    finally:
        await store.close()


@pytest.mark.parametrize(
    "settings",
    [{"tcp_keepalives_idle": "soon"}, {"gpucm_no_such_setting": "1"}],
    ids=["a-bad-value", "an-unknown-setting"],
)
async def test_a_server_that_refuses_the_settings_still_gets_a_session(
    two_stores: tuple[Store, Store],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    settings: dict[str, str],
) -> None:
    """The refusal is the real server's (a FATAL at connect): the team listens all the
    same, without the settings, and the log says why."""
    monkeypatch.setattr(pg_team, "SESSION_SETTINGS", settings)
    caplog.set_level(logging.INFO, logger="gpucm.store.pg.database")
    a, b = two_stores
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    await a.replace_offers("runpod", [make_offer("runpod", "x")])
    await until(lambda: heard, "a change")
    assert heard[0].topic == "offers"
    said = [r.getMessage() for r in caplog.records if r.name == "gpucm.store.pg.database"]
    assert len(said) == 1 and "refused" in said[0], said


async def test_gpucm_refresh_hears_a_round_that_landed_while_its_session_was_lost(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`gpucm refresh` on a team store asks the refresher and waits to hear its round
    land: the landing falls in a gap of its listening session, and the resync reads
    it from the store rather than waiting for what was said to no one."""
    refresher = await Store.open(pg_url, catalog=CATALOG)
    services = await open_services(db=pg_url, demo=True)
    try:
        assert refresher.team is not None and services.team is not None
        assert await refresher.team.try_lead()
        asked: list[TeamEvent] = []
        await refresher.team.listen(lambda e: e.topic == REFRESH_REQUEST and asked.append(e))
        gate = Gate(services.store, monkeypatch)
        waiting = asyncio.create_task(services.refresh(["runpod"]))
        await until(lambda: asked, "the request")
        gate.open.clear()
        await end_listening_session(pg_url, services.store)
        await until(lambda: gate.tries, "a reconnection")
        await refresher.save_health(  # the round lands in the gap
            ProviderHealth(provider="runpod", status="ok", last_attempt_at=utcnow(), offer_count=3)
        )
        await asyncio.sleep(0.2)
        assert not waiting.done()
        gate.open.set()
        outcomes = await asyncio.wait_for(waiting, 30)
        assert [(o.provider, o.ok, o.offers, o.by) for o in outcomes] == [
            ("runpod", True, 3, refresher.team.who)
        ]
    finally:
        await services.aclose()
        await refresher.close()
