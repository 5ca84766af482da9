"""The server's background work, on the same engine as the TUI: the per-provider
refresh workers (RefreshScheduler), the armed watches fired after a refresh lands
(when this server is the one that fires them: alone, or the team's refresher), and a
periodic instance sync that also settles launches left in doubt. None may stop the
server: failures are logged and retried."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from gpucm.engine.refresher import RefreshOutcome
from gpucm.providers.errors import redact
from gpucm.services import Services

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


def log_outcome(outcome: RefreshOutcome) -> None:
    if outcome.ok:
        log.info("refresh %s", outcome.summary())
    else:
        log.warning("refresh %s", outcome.summary())


async def fire_armed(services: Services, lock: asyncio.Lock) -> None:
    """Fire the store's armed watches (every team member's), one firing at a time."""
    if not services.fires_watches():
        return
    try:
        async with lock:
            if not await services.armings.armed():
                return
            results = await services.sniper().fire_all()
        await services.send_events()  # a snipe's launch events, to [events]
    except Exception as exc:  # the next landing tries again
        log.warning(
            "firing armed watches failed: %s", redact(str(exc), services.settings.secrets())
        )
        return
    for result in results:
        log.info("armed watch: %s", result.message)


async def sync_once(services: Services) -> None:
    try:
        outcomes = await services.instances.sync()
        await services.launcher.reconcile()
        await services.send_events()  # the API's launches' and the sync's events out
    except Exception as exc:  # the next round tries again
        log.warning("instance sync failed: %s", redact(str(exc), services.settings.secrets()))
        return
    synced = sum(o.instances for o in outcomes if o.ok)
    log.debug("instance sync: %d instances from %d providers", synced, len(outcomes))


async def sync_instances_forever(
    services: Services, interval: float, *, sleep: Sleep = asyncio.sleep
) -> None:
    while True:
        await sync_once(services)
        await sleep(interval)


@contextlib.asynccontextmanager
async def background_workers(services: Services, *, sync_interval: float) -> AsyncIterator[None]:
    """Run the refresh workers and the instance sync while the body runs."""
    firing = asyncio.Lock()

    async def landed(outcome: RefreshOutcome) -> None:
        log_outcome(outcome)
        if outcome.ok:
            await fire_armed(services, firing)

    scheduler = services.scheduler(on_outcome=landed)
    tasks = [
        asyncio.create_task(scheduler.run(), name="gpucm-refresh"),
        asyncio.create_task(
            sync_instances_forever(services, sync_interval), name="gpucm-instance-sync"
        ),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        # asyncio.wait, not gather: a cancellation of this shutdown itself must not be
        # swallowed with the workers' own
        await asyncio.wait(tasks)
        await scheduler.stop()
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s ended with %r", task.get_name(), task.exception())
