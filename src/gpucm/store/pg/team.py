"""The team behind a PostgreSQL store: who refreshes, and what the others change.

- **One refresher.** `try_lead` takes a session-level advisory lock on a connection
  of its own (`pg_try_advisory_lock`): whoever holds it is the team's refresher and
  the only process that calls the providers. The lock lives as long as that session:
  a refresher that dies, or whose machine drops off the network, loses it when the
  server sees the session end, and the next process to try takes over
  (engine/team_refresh.py tries every few seconds). The refresher's name (OS user
  and host) is kept in `meta`, so every status bar can say who refreshes.
- **Changes, as they commit.** Every write transaction says what it changed (offers,
  health, instances, launches, watches) and the store's database layer NOTIFYs it inside the
  transaction (store/pg/database.py), so the others hear it exactly when it commits;
  `listen` hands them to the front end. A refresh request (`r` in a TUI, `gpucm
  refresh`) is a notification the refresher acts on.
- **A lost session comes back.** The server does not keep notifications for a listener
  that is away, so when the listening session ends (the server restarted, the network
  dropped, an admin's `pg_terminate_backend`) while anyone listens, a new one is opened
  at once in the background, and again with a growing pause (RECONNECT_FIRST to
  RECONNECT_MAX) while the server stays away; one warning per outage says so. Once
  listening again, every listener hears a RESYNC event: read again all it follows,
  since what was committed in the gap was said to no one.
- **A silent session is a lost one.** A half-open link (a laptop suspended, a NAT or
  VPN that forgot the connection, a server's host gone without a word) ends nothing:
  the socket stays "connected" and hears nothing, for hours. So the team's session
  is asked `SELECT 1` every PING_EVERY seconds; no answer within PING_TIMEOUT and it
  is taken as lost: closed here, and the path above runs (one warning, listening
  again, RESYNC). A refresher whose session goes silent stops refreshing then
  (engine/team_refresh.py hears `on_lost`), before the server can free its lock.
- **The server notices a vanished process within about a minute.** The team's
  session asks the server for TCP keepalives (SESSION_SETTINGS: first probe after
  30 s idle, then every 10 s, dead after 3 unanswered) and a 60 s limit on data
  it sent that goes unacknowledged (a NOTIFY to a machine that is gone): the
  session ends, the refresher's lock with it, and another process takes over,
  rather than after the OS's default two hours. A server (or pooler) that refuses
  these settings gets a session without them (store/pg/database.py `connect`).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable

import asyncpg

from gpucm.domain.clock import from_epoch
from gpucm.store.pg.database import LEADER_LOCK, PgDatabase
from gpucm.store.results import REFRESH_REQUEST, RESYNC, RefresherInfo, TeamEvent

log = logging.getLogger(__name__)

_REFRESHER_KEY = "refresher"
# seconds between tries to listen again while the server is away: doubling from the
# first to the last (each try itself gives up after the database's connect timeout)
RECONNECT_FIRST = 0.25
RECONNECT_MAX = 5.0
# the session's liveness check: a round trip per process every 15 s costs the server
# nothing, and a silent link is found within 25 s, well before the server's
# keepalives below free a vanished refresher's lock (60 s): a refresher behind a
# dead link stops before another can start. 10 s to answer: a loaded server answers
# SELECT 1 far sooner; a link that cannot is as good as lost for a live table
PING_EVERY = 15.0
PING_TIMEOUT = 10.0
# per session (PostgreSQL's defaults are the OS's: 2 hours before the first probe)
SESSION_SETTINGS = {
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "60000",  # ms, PostgreSQL 12+ (gpucm's oldest)
}


def whoami() -> str:
    """user@host: who launched a machine, who refreshes."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def new_origin() -> str:
    """This process's store, in the notifications it sends (to skip its own)."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


Listener = Callable[[TeamEvent], None]


class PgTeam:
    def __init__(self, db: PgDatabase) -> None:
        self._db = db
        self._conn: asyncpg.Connection | None = None
        self._listeners: list[Listener] = []
        self.leading = False
        self._lost: list[Callable[[], None]] = []
        # one session at a time: the refresher's next try and the reconnection can
        # both find the session gone
        self._connecting = asyncio.Lock()
        self._missed = False  # the listening session ended: listeners missed what was said
        self._reconnecting: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        # one statement at a time on the session: the liveness check, the lock's
        self._using = asyncio.Lock()
        self._silent_since: float | None = None  # the check found the session silent
        self._closed = False

    @property
    def who(self) -> str:
        return self._db.who

    async def _connection(self) -> asyncpg.Connection:
        async with self._connecting:
            conn = self._conn
            if conn is not None and not conn.is_closed():
                return conn
            conn = await self._db.connect(SESSION_SETTINGS)
            try:
                conn.add_termination_listener(self._terminated)
                await conn.add_listener(self._db.channel, self._heard)
            except BaseException:
                conn.terminate()
                raise
            self._conn = conn
            self._watch(conn)
            missed, self._missed = self._missed, False
        if missed:
            self._tell(TeamEvent(topic=RESYNC, details=(), by="", own=False))
        return conn

    def _terminated(self, conn: object) -> None:
        # the session ended (the server restarted, the network dropped): so did the
        # lock, and the listening
        if conn is not self._conn:
            return  # one this process closed, or already replaced
        was = self.leading
        self.leading = False
        self._conn = None
        if self._listeners:
            self._missed = True
            self._listen_again()
        else:
            self._silent_since = None  # no outage to tell of: nobody listens
        if was:
            log.warning("lost the team's refresher lock (the session ended)")
            for lost in self._lost:
                lost()

    def _watch(self, conn: asyncpg.Connection) -> None:
        if self._watching is not None:
            self._watching.cancel()
        self._watching = asyncio.get_running_loop().create_task(
            self._check_alive(conn), name="gpucm: is the team's session alive"
        )

    async def _check_alive(self, conn: asyncpg.Connection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(PING_EVERY)
            if conn is not self._conn or conn.is_closed():
                return
            ping = loop.create_task(self._ping(conn))
            done, _ = await asyncio.wait([ping], timeout=PING_TIMEOUT)
            if not done and conn is self._conn:
                # no answer: lost, as if the server had ended it. Terminated rather
                # than the ping cancelled: asyncpg would send the server a cancel
                # request over a new connection, down the same dead link
                self._silent_since = loop.time() - PING_TIMEOUT
                log.warning(
                    "the team's database did not answer within %g s; listening again",
                    PING_TIMEOUT,
                )
                conn.terminate()
            with contextlib.suppress(Exception):
                await ping
            if not done:
                return

    async def _ping(self, conn: asyncpg.Connection) -> None:
        async with self._using:
            await conn.fetchval("SELECT 1")

    def _listen_again(self) -> None:
        if self._closed or (self._reconnecting is not None and not self._reconnecting.done()):
            return
        self._reconnecting = asyncio.get_running_loop().create_task(
            self._reconnect(), name="gpucm: listen to the team again"
        )

    async def _reconnect(self) -> None:
        pause = RECONNECT_FIRST
        # an outage the liveness check found is said already: once per outage
        since, self._silent_since = self._silent_since, None
        loop = asyncio.get_running_loop()
        while self._conn is None and not self._closed:
            try:
                await self._connection()
            except Exception as exc:  # the server is away: try again, quietly
                if since is None:
                    since = loop.time()
                    log.warning("not hearing the team's changes, trying again: %s", exc)
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX)
        if since is not None and self._conn is not None:
            log.warning("hearing the team's changes again after %.0f s", loop.time() - since)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Told when this process stops being the refresher without resigning."""
        self._lost.append(callback)

    # -- listening --------------------------------------------------------------------

    async def listen(self, listener: Listener) -> None:
        """Hear every change other processes (and this one) commit, from now on."""
        self._listeners.append(listener)
        await self._connection()

    def _heard(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            data = json.loads(str(payload))
            event = TeamEvent(
                topic=str(data["topic"]),
                details=tuple(str(d) for d in data.get("detail", ())),
                by=str(data.get("by", "")),
                own=data.get("origin") == self._db.origin,
            )
        except (ValueError, KeyError, TypeError):
            log.debug("ignored a notification that is not gpucm's")
            return
        self._tell(event)

    def _tell(self, event: TeamEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one listener's bug must not deafen the others
                log.exception("team event listener failed")

    async def announce(self, topic: str, details: list[str] | None = None) -> None:
        """Tell the team something outside a write (a refresh request)."""
        await self._db.select(
            "SELECT pg_notify(?, ?)", (self._db.channel, self._db.payload(topic, details or []))
        )

    async def ask_refresh(self, providers: list[str] | None = None) -> None:
        await self.announce(REFRESH_REQUEST, providers)

    # -- the refresher ------------------------------------------------------------------

    async def try_lead(self) -> bool:
        """Become the team's refresher if nobody is; True while this process is."""
        if self.leading and self._conn is not None and not self._conn.is_closed():
            return True
        conn = await self._connection()
        async with self._using:
            got = bool(
                await conn.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", LEADER_LOCK, self._db.key
                )
            )
        if got and conn is self._conn:
            self.leading = True
            since = self._db.now().timestamp()
            async with self._db.write() as tx:
                await tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (_REFRESHER_KEY, json.dumps({"who": self.who, "since": since})),
                )
                tx.changed("refresher", self.who)
        # the session may have ended meanwhile, and the lock with it
        return self.leading and conn is self._conn and not conn.is_closed()

    async def resign(self) -> None:
        if not self.leading:
            return
        self.leading = False
        conn = self._conn
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                async with self._using:
                    await conn.execute(
                        "SELECT pg_advisory_unlock($1, $2)", LEADER_LOCK, self._db.key
                    )

    async def refresher(self) -> RefresherInfo | None:
        """Who refreshes for the team (or last did), and whether it still holds the lock."""
        rows = await self._db.select(
            "SELECT (SELECT value FROM meta WHERE key = ?),"
            " EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = ? AND objid = ? AND objsubid = 2)",
            (_REFRESHER_KEY, LEADER_LOCK, self._db.key & 0xFFFFFFFF),
        )
        value, alive = rows[0]
        if value is None:
            return None
        try:
            data = json.loads(value)
            return RefresherInfo(str(data["who"]), from_epoch(data.get("since")), bool(alive))
        except (ValueError, KeyError, TypeError):
            return None

    async def close(self) -> None:
        self._closed = True
        task, self._reconnecting = self._reconnecting, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
        watching, self._watching = self._watching, None
        if watching is not None and not watching.done():
            watching.cancel()
            await asyncio.wait([watching])
        await self.resign()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
