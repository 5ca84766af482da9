"""The memory of bad hosts on the demo market: a host marked bad disappears from the
default table and from failover; `hosts=all` shows it; it comes back when it expires
or is forgotten; a machine gpucm launched that failed is remembered once."""

from __future__ import annotations

from typing import Any

import pytest

from gpucm.domain.hosts import DEFAULT_TTL
from gpucm.domain.models import Instance, SearchQuery
from gpucm.engine.host_memory import mark_bad, record_failures
from gpucm.engine.launch_errors import NoCapacity
from gpucm.engine.launch_flow import LaunchTarget
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import Preflight
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import Services
from tests.conftest import SteppedClock, launchable


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


async def ids(services: Services, **q: Any) -> list[str]:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=1000, **q))
    return [o.id for o in page.offers]


async def confirm(pre: Preflight) -> bool:
    return True


async def test_a_marked_host_leaves_the_default_table_and_failover(services: Services) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    doomed = next(o for o in page.offers if fails_for_capacity(o.id) and o.gpu_count == 1)
    options = LaunchOptions(
        request_id="fo", label="x", max_price_per_hour=doomed.price_per_hour * 3
    )
    # failover's first choice, before any host is bad
    first: list[list[str]] = []

    async def look(failure: str, candidates: list[Preflight]) -> None:
        first.append([c.offer.id for c in candidates])
        return None

    with pytest.raises(NoCapacity):
        await services.launch_flow.run(
            LaunchTarget.of(doomed), options, confirm=confirm, choose=look
        )
    choice = first[0][0]
    bad = await services.store.get_offer(choice)
    assert bad is not None and choice in await ids(services)

    # a launch there came up broken: the user marks it bad
    launched = await services.launch_flow.run(
        LaunchTarget.of(bad), LaunchOptions(request_id="dud", label="dud"), confirm=confirm
    )
    entry = await mark_bad(services.store, launched.instance, "CUDA error on boot")
    assert entry.host == bad.host_id and entry.kind == "marked_bad"
    assert entry.expires_at - entry.recorded_at == DEFAULT_TTL

    assert choice not in await ids(services)  # gone from the default table
    assert choice in await ids(services, hosts="all")  # `hosts=all` shows it
    assert await services.store.count(SearchQuery(hosts="all")) == (
        await services.store.count(SearchQuery()) + 1
    )
    # and failover passes it by
    again: list[list[str]] = []

    async def look_again(failure: str, candidates: list[Preflight]) -> None:
        again.append([c.offer.id for c in candidates])
        return None

    with pytest.raises(NoCapacity):
        await services.launch_flow.run(
            LaunchTarget.of(doomed),
            replace_request(options, "fo2"),
            confirm=confirm,
            choose=look_again,
        )
    assert choice not in again[0]
    # the same equivalents otherwise (a sixth moves up into the five shown)
    assert again[0][: len(first[0]) - 1] == [c for c in first[0] if c != choice]

    # forgotten, it shows again
    assert await services.store.hosts.forget(bad.host_id) == 1
    assert choice in await ids(services)


def replace_request(options: LaunchOptions, request_id: str) -> LaunchOptions:
    return LaunchOptions(
        request_id=request_id, label=options.label, max_price_per_hour=options.max_price_per_hour
    )


async def test_a_bad_host_comes_back_when_it_expires(
    services: Services, stepped_clock: SteppedClock
) -> None:
    offer = await launchable(services)
    await services.store.hosts.record(offer.host_id, offer.provider, "marked_bad", "flaky")
    assert offer.id not in await ids(services)
    stepped_clock.advance(DEFAULT_TTL.total_seconds() + 1)
    assert offer.id in await ids(services)
    assert await services.store.hosts.list() == []
    [expired] = await services.store.hosts.list(include_expired=True)
    assert expired.expired(stepped_clock()) and expired.reason == "flaky"


async def test_a_launched_machine_that_failed_is_remembered_once(services: Services) -> None:
    offer = await launchable(services)
    launched = await services.launch_flow.run(
        LaunchTarget.of(offer), LaunchOptions(request_id="boot", label="b"), confirm=confirm
    )
    now = services.clock()
    broken = launched.instance.model_copy(update={"status": "error", "started_at": None})
    healthy = launched.instance
    [entry] = await record_failures(services.store, [broken, healthy], now)
    assert (entry.host, entry.kind) == (offer.host_id, "launch_failed")
    assert await record_failures(services.store, [broken], now) == []  # once
    assert offer.id not in await ids(services)
    # forgotten, it is not brought back by the next sync seeing the same failure
    assert await services.store.hosts.forget() == 1
    assert await record_failures(services.store, [broken], now) == []
    assert offer.id in await ids(services)
    # not launched by gpucm (no request id): nothing to remember
    theirs = Instance.model_validate({**broken.model_dump(), "request_id": None, "id": "x:1"})
    assert await record_failures(services.store, [theirs], now) == []


def test_a_vast_offer_is_known_by_its_machine() -> None:
    from tests.offer_factory import make_offer

    offer = make_offer("vast_ai", "7", "RTX 4090", provider_data={"machine_id": 31877})
    assert offer.host_id == "vast_ai:machine:31877"
    assert make_offer("runpod", "7", "RTX 4090").host_id == "runpod:7"
