"""Team mode on a real PostgreSQL server: one elected refresher, failover when it dies,
changes heard by a second process as they commit, and the password never shown.

Each test has a fresh schema of the throwaway server (tests/postgres.py): its own
advisory locks and NOTIFY channel."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import utcnow
from gpucm.domain.models import Instance, SearchQuery
from gpucm.engine.refresher import Refresher, RefreshOutcome
from gpucm.engine.scheduler import RefreshScheduler
from gpucm.engine.team_refresh import TeamRefresh
from gpucm.store.db import StoreError
from gpucm.store.results import TeamEvent
from gpucm.store.store import Store
from tests.api.live import live_server
from tests.engine.test_refresher import FakeSource  # records its calls
from tests.offer_factory import make_offer

REPO = Path(__file__).resolve().parents[2]
CATALOG = Catalog.builtin()


@pytest.fixture
async def two_stores(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    a = await Store.open(pg_url, catalog=CATALOG, offer_index=True)
    b = await Store.open(pg_url, catalog=CATALOG, offer_index=True)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


def _team_refresh(store: Store, source: FakeSource, landed: list[RefreshOutcome]) -> TeamRefresh:
    assert store.team is not None
    refresher = Refresher(store, lambda: CATALOG, utcnow, interval=lambda _: 3600)

    def scheduler() -> RefreshScheduler:
        return RefreshScheduler(
            refresher,
            store,
            lambda: [source],
            utcnow,
            lambda _: 3600,
            on_outcome=landed.append,
            supervise_every=0.2,
        )

    return TeamRefresh(store.team, store, scheduler, on_outcome=landed.append, try_every=0.2)


async def _until(check: object, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_one_refresher_is_elected_and_named(two_stores: tuple[Store, Store]) -> None:
    a, b = two_stores
    assert a.team is not None and b.team is not None
    assert await a.team.try_lead()
    assert not await b.team.try_lead()
    info = await b.team.refresher()
    assert info is not None and info.alive and info.who == a.team.who
    await a.team.resign()
    assert await b.team.try_lead()
    assert not await a.team.try_lead()


async def test_only_the_refresher_calls_providers_and_both_see_its_offers(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    offers = [make_offer(provider_id=str(i), price_per_hour=0.5 + i / 10) for i in range(20)]
    sources = [FakeSource("vast_ai", offers), FakeSource("vast_ai", offers)]
    landed: list[list[RefreshOutcome]] = [[], []]
    workers = [
        _team_refresh(s, src, out) for s, src, out in zip((a, b), sources, landed, strict=True)
    ]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        # one of them refreshes; the other hears it land
        await _until(lambda: all(landed))
        assert sorted(src.calls for src in sources) == [0, 1]
        leader = 0 if sources[0].calls else 1
        heard = landed[1 - leader][0]
        assert heard.ok and heard.offers == 20 and heard.by == (a, b)[leader].team.who  # type: ignore[union-attr]
        pages = [await s.search(SearchQuery(limit=50)) for s in (a, b)]
        assert [o.id for o in pages[0].offers] == [o.id for o in pages[1].offers]
        assert pages[0].total == 20
        # `r` in the other one asks the refresher, which refreshes once more
        workers[1 - leader].refresh_now(None)
        await _until(lambda: sources[leader].calls == 2)
        assert sources[1 - leader].calls == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


async def test_a_killed_refresher_hands_over_within_seconds(pg_url: str) -> None:
    """A refresher in another process, killed with SIGKILL: its session ends, the
    server frees its lock, and this process becomes the refresher."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from gpucm.store.store import Store

        async def main():
            store = await Store.open({pg_url!r})
            assert await store.team.try_lead()
            print("leading", flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - a second process, started once
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    store = await Store.open(pg_url)
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.strip() == "leading"
        assert store.team is not None
        assert not await store.team.try_lead()
        info = await store.team.refresher()
        assert info is not None and info.alive
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed_at = time.monotonic()
        while not await store.team.try_lead():
            assert time.monotonic() - killed_at < 10, "the lock was never freed"
            await asyncio.sleep(0.1)
        info = await store.team.refresher()
        assert info is not None and info.alive and info.who == store.team.who
    finally:
        if proc.poll() is None:
            proc.kill()
        await store.close()


async def test_a_second_process_hears_a_refresh_as_it_commits(pg_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from gpucm.store.store import Store

        async def main():
            store = await Store.open({pg_url!r})
            heard = asyncio.Event()
            def listener(event):
                if event.topic == "offers":
                    print("heard", event.topic, ",".join(event.details), event.by, flush=True)
                    heard.set()
            await store.team.listen(listener)
            print("listening", flush=True)
            await asyncio.wait([asyncio.ensure_future(heard.wait())], timeout=30)
            await store.close()

        asyncio.run(main())
        """
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - a second process, started once
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    store = await Store.open(pg_url)
    try:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "listening"
        await store.replace_offers("runpod", [make_offer("runpod", "x")])
        started = time.monotonic()
        line = await asyncio.to_thread(proc.stdout.readline)
        assert time.monotonic() - started < 1.0
        assert store.team is not None
        assert line.split() == ["heard", "offers", "runpod", store.team.who]
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        await store.close()


async def test_launches_and_instances_are_heard_but_own_changes_are_marked(
    two_stores: tuple[Store, Store],
) -> None:
    a, b = two_stores
    assert b.team is not None
    heard: list[TeamEvent] = []
    await b.team.listen(heard.append)
    await a.journal.begin(
        request_id="r1", provider="vast_ai", offer_id="vast_ai:1", label="x", request={}
    )
    await b.journal.update("r1", "failed", error="no")
    await _until(lambda: len(heard) >= 2)
    assert [(e.topic, e.details, e.own) for e in heard[:2]] == [
        ("launches", ("r1",), False),
        ("launches", ("r1",), True),
    ]


async def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    # a port nothing listens on: refused at once, never a hang or a traceback
    with pytest.raises(StoreError) as caught:
        await Store.open("postgresql://me:s3cret-pw@127.0.0.1:9/gpucm")
    text = str(caught.value)
    assert "s3cret-pw" not in text and "me:***@127.0.0.1:9" in text
    assert "connection refused" in text


async def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    from gpucm.store.pg import database

    monkeypatch.setattr(database, "CONNECT_TIMEOUT", 0.5)
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="no answer within"):
            await Store.open(f"postgresql://me:pw@127.0.0.1:{port}/gpucm")
        assert time.monotonic() - started < 5
    finally:
        server.close()


async def test_db_init_and_migrate_from_sqlite(pg_url: str, tmp_path: Path) -> None:
    from gpucm.database_url import DatabaseUrl
    from gpucm.store.pg.admin import copy_from_sqlite, init_database

    report = await init_database(DatabaseUrl.parse(pg_url))
    assert report.schema_version >= 1 and report.server.split(".")[0].isdigit()
    again = await init_database(DatabaseUrl.parse(pg_url))  # idempotent
    assert again.schema_version == report.schema_version
    # one user's store: history from two refreshes, and a launch
    mine = await Store.open(tmp_path / "mine.db")
    try:
        await mine.replace_offers("vast_ai", [make_offer(provider_id="1")])
        await mine.journal.begin(
            request_id="old-1", provider="vast_ai", offer_id="vast_ai:1", label="x", request={}
        )
        # and a machine it ran, in its spend ledger
        await mine.instances.upsert(
            Instance(id="vast_ai:7", provider="vast_ai", provider_id="7", status="running",
                     price_per_hour=1.5)
        )  # fmt: skip
    finally:
        await mine.close()
    added = await copy_from_sqlite(tmp_path / "mine.db", DatabaseUrl.parse(pg_url))
    assert added["price_history"] == 1 and added["launch_journal"] == 1
    assert added["spend_intervals"] == 1
    assert (await copy_from_sqlite(tmp_path / "mine.db", DatabaseUrl.parse(pg_url))) == {
        table: 0 for table in added
    }
    team = await Store.open(pg_url)
    try:
        assert await team.journal.get("old-1") is not None
        assert [(i.instance_id, i.rate) for i in await team.spend.intervals()] == [
            ("vast_ai:7", 1.5)
        ]
        assert [p.gpu_model for p in await team.history(["RTX 4090"])] == ["RTX 4090"]
        assert await team.offer_counts() == {}  # the offers are the team refresher's
    finally:
        await team.close()


def test_the_password_never_shows_in_output_or_logs(pg_url: str, tmp_path: Path) -> None:
    """The test server trusts loopback, so any password logs in: a recognisable one
    rides along in the URL of every command here, with DEBUG logging on."""
    secret = "Zq9-team-db-password"
    url = pg_url.replace("postgresql://gpucm@", f"postgresql://gpucm:{secret}@")
    env = {
        **os.environ,
        "GPUCM_HOME": str(tmp_path / "home"),
        "DATABASE_URL": url,
        "LOG_LEVEL": "DEBUG",
    }
    seen = []
    for args in (
        ["db", "init"],
        ["refresh", "--demo"],
        ["providers", "--demo"],
        ["offers", "--demo", "--limit", "3"],
        # a server that refuses the connection: the error line names the URL, masked
        ["offers", "--demo", "--db", re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:9", url)],
        ["instances", "list", "--demo"],
        ["doctor"],  # it checks SQLite files: it says so, naming the store masked
        # a URL missing its // was once a SQLite file named after it, password and all
        ["offers", "--demo", "--db", url.replace("postgresql://", "postgresql:/")],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "gpucm", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        seen.append((args, proc.returncode, proc.stdout + proc.stderr))
    for args, _, text in seen:
        assert secret not in text, args
    assert [code for _, code, _ in seen] == [0, 0, 0, 0, 1, 0, 2, 2]
    assert "gpucm:***@127.0.0.1" in seen[2][2]  # `gpucm providers` names the store, masked
    assert "gpucm:***@127.0.0.1" in seen[6][2]
    assert not list(REPO.glob("postgresql:*")) and not list(tmp_path.glob("postgresql:*"))
    # gpucm serve on that store: its log and its answers
    with live_server(tmp_path, DATABASE_URL=url, LOG_LEVEL="DEBUG") as server:
        answers = [
            httpx.get(f"{server.url}{path}").text
            for path in ("/api/v1/providers", "/healthz", "/metrics", "/api/v1/instances")
        ]
        server.stop()
    for text in [*answers, *server.stderr]:
        assert secret not in text
    logs = tmp_path / "home" / "logs"
    for path in logs.rglob("*") if logs.exists() else ():
        assert secret not in path.read_text(encoding="utf-8", errors="replace")


async def test_two_users_watches_of_one_name_each_fire(two_stores: tuple[Store, Store]) -> None:
    from gpucm.store.alert_table import AlertTable

    a, _ = two_stores
    alice, bob = AlertTable(a.db, owner="alice@jb-1"), AlertTable(a.db, owner="bob@jb-2")
    assert await alice.claim("cheap", "watch", [("k1", "x")]) == ["k1"]
    assert await bob.claim("cheap", "watch", [("k1", "x")]) == ["k1"]
    assert await alice.claim("cheap", "watch", [("k1", "x")]) == []
    assert await alice.forget("cheap") == 1  # alice's alone
    assert await bob.keys("cheap", "watch") == {"k1"}
    assert await alice.claim("cheap", "watch", [("k1", "x")]) == ["k1"]


async def test_a_dropped_session_is_reconnected_and_a_lost_server_is_one_line(
    pg_url: str,
) -> None:
    import asyncpg

    from gpucm.store.damage import store_failure

    store = await Store.open(pg_url)
    try:
        pid = (await store.db.select("SELECT pg_backend_pid()"))[0][0]
        admin = await asyncpg.connect(pg_url)
        try:  # what a server restart (or an admin) does to the store's session
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)
        assert (await store.search(SearchQuery(limit=1))).total == 0  # a new session
    finally:
        await store.close()
    # and when the server stays away, what escapes a command is one line
    for exc in (asyncpg.ConnectionDoesNotExistError("closed"), ConnectionResetError(104, "x")):
        failure = store_failure(exc, "postgresql://u:***@db/gpucm")
        assert failure is not None
        assert str(failure).startswith(
            "lost the connection to the PostgreSQL store postgresql://u:***@db/gpucm"
        )
