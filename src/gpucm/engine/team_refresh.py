"""One refresher per team: the refresh workers of a process sharing a team store run
only while it is the team's elected refresher.

Every long-running front end (gpucm-tui, `gpucm serve`, `gpucm watch`) runs one of
these in place of its own workers. It tries for the team's refresher lock now and
every `try_every` seconds while another holds it, so when the refresher dies (its
session ends, and its lock with it) another takes over within a few seconds, well
inside one refresh interval; the new refresher's workers read each provider's next
attempt from the shared health rows, so nothing is refreshed twice.

While it follows, it hears each refresh the refresher lands (the provider's health
row, written after its offers) and hands its owner the same `RefreshOutcome` a refresh
of its own would (with `by` set), so a TUI repaints and a watch checks exactly as
after its own refresh. `refresh_now` asks the refresher instead of calling providers.
When the team's listening session was lost and is back (a RESYNC), what landed in the
gap was heard by no one: it hands on every provider's health row as it stands.

A refresher whose session is lost (ended, or silent: store/pg/team.py checks it) is
told at once (`on_lost`) and stops its workers, cancelling any provider call in
flight, then tries for the lock again like any follower. A silent session is found
(25 s) before the server gives up on it and frees the lock (about a minute), so the
old refresher has stopped before a new one can start.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Callable, Sequence

from gpucm.engine.ports import RefreshStore, Team
from gpucm.engine.refresher import RefreshOutcome
from gpucm.engine.scheduler import OutcomeHandler, RefreshScheduler, deliver
from gpucm.store.results import REFRESH_REQUEST, RESYNC, TeamEvent

log = logging.getLogger(__name__)

TRY_EVERY = 2.0


class TeamRefresh:
    def __init__(
        self,
        team: Team,
        store: RefreshStore,
        scheduler: Callable[[], RefreshScheduler],
        *,
        on_outcome: OutcomeHandler | None = None,
        try_every: float = TRY_EVERY,
    ) -> None:
        self._team = team
        self._store = store
        self._make_scheduler = scheduler
        self._scheduler: RefreshScheduler | None = None
        self._on_outcome = on_outcome
        self._try_every = try_every
        self._lost = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server_away = False  # said once per outage
        team.on_lost(self._lost.set)

    @property
    def leading(self) -> bool:
        return self._team.leading

    @property
    def running(self) -> list[str]:
        return self._scheduler.running if self._scheduler is not None and self.leading else []

    def refresh_now(self, name: str | None = None) -> None:
        """Refresh one provider (or all) at once: as the refresher, wake its worker;
        else ask the refresher for the round."""
        if self.leading and self._scheduler is not None:
            self._scheduler.refresh_now(name)
        else:
            self._spawn(self._team.ask_refresh([name] if name else None))

    async def run(self) -> None:
        """Until cancelled: listen to the team, and refresh while elected."""
        await self._team.listen(self._heard)
        try:
            while True:
                # cleared before the try: a session lost during it (the lock with it)
                # must stop the lead it would start
                self._lost.clear()
                if await self._try_lead():
                    await self._lead()
                else:
                    await asyncio.sleep(self._try_every)
        finally:
            await self.stop()

    async def _try_lead(self) -> bool:
        try:
            leading = await self._team.try_lead()
        except Exception as exc:  # the server is away: keep trying, never crash
            if not self._server_away:
                log.warning("could not ask for the team's refresher lock: %s", exc)
            self._server_away = True
            return False
        self._server_away = False
        return leading

    async def _lead(self) -> None:
        if self._lost.is_set() or not self._team.leading:
            return
        log.info("%s is the team's refresher", self._team.who)
        scheduler = self._scheduler = self._make_scheduler()
        task = asyncio.create_task(scheduler.run(), name="gpucm: team refresher")
        lost = asyncio.create_task(self._lost.wait())
        try:
            await asyncio.wait([task, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            await scheduler.stop()
            task.cancel()
            await asyncio.wait([task, lost])
            self._scheduler = None

    async def stop(self) -> None:
        if self._scheduler is not None:
            await self._scheduler.stop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))
        with contextlib.suppress(Exception):
            await self._team.resign()

    # -- what the team says ----------------------------------------------------------

    def _heard(self, event: TeamEvent) -> None:
        if event.topic == REFRESH_REQUEST and self.leading and self._scheduler is not None:
            for name in event.details or (None,):
                self._scheduler.refresh_now(name)
        elif event.topic == "health" and not event.own and not self.leading:
            self._spawn(self._landed_elsewhere(event.details, event.by))
        elif event.topic == RESYNC:
            self._spawn(self._resynced())

    async def _resynced(self) -> None:
        # what landed in the gap was announced to no one: every provider's last landing,
        # as the refresher's (the health rows do not say who wrote them)
        try:
            info = await self._team.refresher()
        except Exception:  # the outcomes matter more than the name on them
            info = None
        await self._landed_elsewhere(None, info.who if info is not None else None)

    async def _landed_elsewhere(self, providers: Sequence[str] | None, by: str | None) -> None:
        """Hand on what landed for `providers` (None: every provider) as outcomes."""
        health = await self._store.health()
        for name in health if providers is None else providers:
            h = health.get(name)
            if h is None:
                continue
            outcome = RefreshOutcome(
                name,
                ok=h.status == "ok",
                offers=h.offer_count,
                latency_ms=h.latency_ms or 0.0,
                error=None if h.status == "ok" else h.last_error,
                error_kind=None if h.status == "ok" else h.last_error_kind,
                by=by,
            )
            await deliver(self._on_outcome, outcome)

    def _spawn(self, work: object) -> None:
        assert inspect.iscoroutine(work)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
