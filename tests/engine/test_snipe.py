"""Snipes in the engine, on the demo market: two machines from one arming go to two
offers; an offer over the max all-in passes to the next match; a missing env value or
an unsupported spot launch launches nothing and stays armed; request ids are the same
in every process and differ per arming."""

from __future__ import annotations

import dataclasses

import pytest

from gpucm.domain.models import SearchQuery
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.snipe import Sniper, snipe_request_id
from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch
from gpucm.services import Services

ARMED = "2026-11-26T12:00:00+00:00"


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


def sniper(services: Services, disarmed: list[str], env: dict[str, str] | None = None) -> Sniper:
    return Sniper(
        services.launch_flow,
        services.store,
        owner="alice",
        env=env or {},
        disarm=lambda w: disarmed.append(w.name),
    )


async def cheapest(services: Services, n: int) -> list[float]:
    page = await services.store.search(
        SearchQuery(gpu_models=("RTX 4090",), available=True, sort_by="price", limit=n)
    )
    return [o.price_per_hour for o in page.offers]


async def test_two_machines_from_one_arming_go_to_two_offers(services: Services) -> None:
    prices = await cheapest(services, 10)
    template = LaunchTemplate(max_price_per_hour=prices[-1] * 1.5, count=2, armed=ARMED)
    disarmed: list[str] = []
    result = await sniper(services, disarmed).fire(Watch("two", 'gpu="RTX 4090"', launch=template))
    assert result is not None and result.fired, result
    assert len({i.offer_id for i in result.instances}) == 2
    assert sorted(i.request_id or "" for i in result.instances) == [
        snipe_request_id("alice", "two", ARMED, n) for n in range(2)
    ]
    assert disarmed == ["two"]
    # fired again (the disarm lost): the same two machines, nothing new
    again = await sniper(services, []).fire(Watch("two", 'gpu="RTX 4090"', launch=template))
    assert again is not None and again.reused
    assert {i.id for i in again.instances} == {i.id for i in result.instances}
    assert len(await services.instances.list()) == 2


async def test_an_offer_over_the_max_all_in_passes_to_the_next(services: Services) -> None:
    page = await services.store.search(
        SearchQuery(gpu_models=("RTX 4090",), available=True, sort_by="price", limit=5)
    )
    first, second = page.offers[0], page.offers[1]
    # the first re-quotes over the maximum (as a dearer all-in price would)
    template = LaunchTemplate(max_price_per_hour=second.price_per_hour * 1.2, armed=ARMED)
    flow = services.launch_flow
    real = flow.launcher.preflight

    async def dearer_first(offer, options, **kw):  # type: ignore[no-untyped-def]
        pre = await real(offer, options, **kw)
        if offer.id == first.id:
            return dataclasses.replace(pre, problems=["over your maximum"])
        return pre

    flow.launcher.preflight = dearer_first  # type: ignore[method-assign]
    s = Sniper(flow, services.store, owner="alice", env={}, disarm=lambda w: None)
    result = await s.fire(Watch("next", 'gpu="RTX 4090"', launch=template))
    assert result is not None and result.fired
    assert result.instances[0].offer_id != first.id


async def test_a_missing_env_value_launches_nothing_and_stays_armed(services: Services) -> None:
    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, env=("HF_TOKEN",), armed=ARMED)
    disarmed: list[str] = []
    watch = Watch("env", 'gpu="RTX 4090"', launch=template)
    result = await sniper(services, disarmed).fire(watch)
    assert result is not None and not result.fired and "HF_TOKEN not set" in result.message
    assert disarmed == [] and await services.instances.list() == []
    # with the value in the environment it launches; the value is in no message
    result = await sniper(services, disarmed, {"HF_TOKEN": "tok-secret-1"}).fire(watch)
    assert result is not None and result.fired and "tok-secret-1" not in result.message
    record = await services.store.journal.get(snipe_request_id("alice", "env", ARMED, 0))
    assert record is not None and record.request["environment"] == {"HF_TOKEN": "***"}
    assert record.request["origin"] == "watch env"


async def test_a_spot_snipe_without_the_spot_flow_refuses(services: Services) -> None:
    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, interruptible=True, armed=ARMED)
    result = await sniper(services, []).fire(Watch("spot", 'gpu="RTX 4090"', launch=template))
    assert result is not None
    if "interruptible" in {f.name for f in dataclasses.fields(LaunchOptions)}:
        assert result.fired  # the spot launch flow is in: it launches interruptible
    else:
        assert not result.fired and "interruptible launches are not supported" in result.message
        assert await services.instances.list() == []


def test_request_ids_are_per_owner_watch_and_arming() -> None:
    a = snipe_request_id("alice", "w", ARMED, 0)
    assert a == snipe_request_id("alice", "w", ARMED, 0)
    assert (
        len({a, snipe_request_id("bob", "w", ARMED, 0), snipe_request_id("alice", "w", "x", 0)})
        == 3
    )


async def test_a_provider_refusal_is_said_and_the_watch_stays_armed(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gpucm.providers.errors import AuthError

    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, armed=ARMED)

    async def refuse(spec: object) -> object:
        raise AuthError("vast_ai", "the key was refused")

    for name in services.provider_names():
        monkeypatch.setattr(services.control(name), "launch", refuse)
    disarmed: list[str] = []
    result = await sniper(services, disarmed).fire(Watch("k", 'gpu="RTX 4090"', launch=template))
    assert result is not None and not result.fired
    assert "the key was refused" in result.message and "still armed" in result.message
    assert disarmed == [] and await services.instances.list() == []


async def test_a_fired_snipe_reaches_the_watch_webhook(services: Services) -> None:
    from gpucm.engine.snipe import deliver_snipe
    from tests.engine.test_events_out import Receiver

    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, armed=ARMED)
    result = await sniper(services, []).fire(Watch("hook", 'gpu="RTX 4090"', launch=template))
    assert result is not None and result.fired
    receiver = Receiver()
    try:
        (sent,) = await deliver_snipe(result, command=None, webhook_url=receiver.url)
    finally:
        receiver.close()
    assert sent.ok
    (body,) = receiver.bodies
    assert body["kind"] == "launch" and body["watch"] == "hook" and body["fired"]
    assert body["instances"][0]["origin"] == "watch hook"
    assert "disarmed" in body["message"]
