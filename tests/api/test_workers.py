"""The server's background work: the refresh workers and the instance sync run beside
the API, survive failures, and stop cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gpucm.api.workers import background_workers, sync_once
from gpucm.domain.models import SearchQuery
from gpucm.engine.instances import InstanceManager
from gpucm.providers.base import LaunchSpec
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import Services
from gpucm.store.store import INDEX_BUILD_TASK


def running_tasks() -> set[asyncio.Task[object]]:
    # but the store's own index build, which comes and goes with refreshes
    return {t for t in asyncio.all_tasks() if t.get_name() != INDEX_BUILD_TASK}


async def test_instances_launched_elsewhere_appear_and_the_market_refreshes(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gpucm.api.workers")
    page = await services.store.search(SearchQuery(providers=("runpod",), limit=50))
    offer = next(o for o in page.offers if not fails_for_capacity(o.id))
    # launched by another gpucm (the CLI, the TUI): the store does not know it yet
    launched = await services.control("runpod").launch(
        LaunchSpec(offer=offer, label="elsewhere", request_id="r1")
    )
    assert await services.store.instances.get(launched.id) is None
    before = running_tasks()

    def refreshed() -> bool:
        return any(r.getMessage().startswith("refresh ") for r in caplog.records)

    async with background_workers(services, sync_interval=0.05):
        # both, whichever lands first: the sync can beat the first refresh round
        for _ in range(250):
            if await services.store.instances.get(launched.id) is not None and refreshed():
                break
            await asyncio.sleep(0.02)
        assert await services.store.instances.get(launched.id) is not None
    assert running_tasks() == before  # nothing left running
    assert refreshed()


async def test_a_failing_sync_is_logged_and_tried_again(
    services: Services, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    async def broken(self: InstanceManager, providers: list[str] | None = None) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("provider exploded")

    monkeypatch.setattr(InstanceManager, "sync", broken)
    await sync_once(services)  # does not raise
    assert "instance sync failed: provider exploded" in caplog.text
    async with background_workers(services, sync_interval=0.01):
        for _ in range(100):
            if calls >= 3:
                break
            await asyncio.sleep(0.01)
    assert calls >= 3


async def test_the_server_fires_every_members_armed_watch_when_it_refreshes(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """`gpucm serve` is a refresher like the TUI and `gpucm watch`: after a refresh
    lands it fires the store's armed watches, whoever armed them (alone, or as the
    team's refresher: the scheduler refreshes only while it leads)."""
    from gpucm.engine.armings import Armings
    from gpucm.launch_template import LaunchTemplate
    from gpucm.presets import Watch

    caplog.set_level(logging.INFO, logger="gpucm.api.workers")
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=1))
    template = LaunchTemplate(max_price_per_hour=page.offers[0].price_per_hour * 3)
    bob = Armings(services.store.armed, who="bob@laptop")
    await bob.arm(Watch("snipe", 'gpu="RTX 4090"', launch=template), "2026-12-07T10:00:00")
    async with background_workers(services, sync_interval=60):
        for _ in range(500):
            if not await bob.armed():
                break
            await asyncio.sleep(0.02)
    assert not await bob.armed()
    (machine,) = await services.instances.list()
    assert machine.origin == "watch snipe"
    assert "armed watch: bob's snipe: launched" in caplog.text
