"""The refresh workers: one async task per provider, each on its own interval.

The set of providers is read afresh every cycle, so a key added to (or removed from)
the config file starts (or stops) a worker without a restart. A failing provider's
next attempt follows its backoff (stored in its health row); the others carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from gpucm.domain.clock import Clock
from gpucm.engine.ports import RefreshStore
from gpucm.engine.refresher import Refresher, RefreshOutcome
from gpucm.providers.base import OfferSource

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
OutcomeHandler = Callable[[RefreshOutcome], Awaitable[None] | None]


class RefreshWorkers(Protocol):
    """What a long-running front end runs: a process's own workers (RefreshScheduler),
    or in a team, workers that run only while it is the team's refresher
    (engine/team_refresh.py)."""

    @property
    def running(self) -> list[str]: ...

    def refresh_now(self, name: str | None = None) -> None: ...

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


class RefreshScheduler:
    def __init__(
        self,
        refresher: Refresher,
        store: RefreshStore,
        sources: Callable[[], Sequence[OfferSource]],
        clock: Clock,
        interval: Callable[[str], float],
        *,
        on_outcome: OutcomeHandler | None = None,
        supervise_every: float = 2.0,
    ) -> None:
        self._refresher = refresher
        self._store = store
        self._sources = sources
        self._clock = clock
        self._interval = interval
        self._on_outcome = on_outcome
        self._supervise_every = supervise_every
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # workers of providers no longer configured, cancelled but maybe still winding down
        self._retired: set[asyncio.Task[None]] = set()
        self._wake: dict[str, asyncio.Event] = {}
        self._stopping = False

    @property
    def running(self) -> list[str]:
        return sorted(name for name, task in self._tasks.items() if not task.done())

    def refresh_now(self, name: str | None = None) -> None:
        """Wake one worker (or all) to refresh at once, whatever its schedule."""
        for provider, event in self._wake.items():
            if name is None or provider == name:
                event.set()

    async def run(self) -> None:
        """Supervise workers until cancelled: start one per current provider, stop
        the ones whose provider is no longer configured."""
        try:
            while not self._stopping:
                self._sync_workers()
                await asyncio.sleep(self._supervise_every)
        finally:
            await self.stop()

    async def stop(self) -> None:
        self._stopping = True
        tasks = [*self._tasks.values(), *self._retired]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            # asyncio.wait, not awaiting each task: a cancellation of stop() itself
            # (a shutdown deadline) must not be swallowed with the workers' own
            await asyncio.wait(tasks)

    def _sync_workers(self) -> None:
        current = {s.name: s for s in self._sources()}
        for name in list(self._tasks):
            if name not in current:
                log.info("provider %s is no longer configured; its worker stops", name)
                retired = self._tasks.pop(name)
                retired.cancel()
                self._retired.add(retired)
                retired.add_done_callback(self._retired.discard)
                self._wake.pop(name, None)
        for name in current:
            task = self._tasks.get(name)
            if task is None or task.done():
                self._wake[name] = asyncio.Event()
                self._tasks[name] = asyncio.create_task(self._worker(name), name=f"refresh:{name}")

    def _source(self, name: str) -> OfferSource | None:
        return next((s for s in self._sources() if s.name == name), None)

    async def _worker(self, name: str) -> None:
        wake = self._wake[name]
        while True:
            source = self._source(name)
            if source is None:
                return
            forced = wake.is_set()
            wake.clear()
            outcome = await self._refresher.refresh(source, force=forced)
            await self._notify(outcome)
            delay = await self._delay(name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()

    async def _delay(self, name: str) -> float:
        health = (await self._store.health()).get(name)
        next_at: datetime | None = health.next_attempt_at if health else None
        if next_at is None:
            return self._interval(name)
        return max(1.0, (next_at - self._clock()).total_seconds())

    async def _notify(self, outcome: RefreshOutcome) -> None:
        await deliver(self._on_outcome, outcome)


async def deliver(handler: OutcomeHandler | None, outcome: RefreshOutcome) -> None:
    """Hand an outcome to its handler, awaiting what it returns."""
    if handler is None:
        return
    try:
        result = handler(outcome)
        if inspect.isawaitable(result):
            await result
    except Exception:  # a listener's bug must not stop the refreshes
        log.exception("refresh outcome handler failed")
