"""Snipes in the engine, on the demo market (both store backends): two machines from
one arming go to two offers; an offer over the max all-in passes to the next match; a
missing env value or an unsupported spot launch launches nothing and stays armed;
request ids are the same in every process and differ per arming. The armings are the
store's (engine/armings.py): whoever fires them fires every owner's, and one disarmed
by another process is not fired."""

from __future__ import annotations

import dataclasses

import pytest

from gpucm.domain.models import SearchQuery
from gpucm.engine.armings import Armings
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.snipe import Sniper, SnipeResult, snipe_request_id
from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch
from gpucm.services import Services

ARMED = "2026-11-26T12:00:00+00:00"


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


def sniper(services: Services, env: dict[str, str] | None = None, who: str = "alice@jb") -> Sniper:
    return Sniper(
        services.launch_flow, services.store, armings=services.store.armed, who=who, env=env or {}
    )


async def arm(services: Services, watch: Watch, owner: str = "alice") -> None:
    await Armings(services.store.armed, who=f"{owner}@jb").arm(watch, ARMED)


async def fire_one(s: Sniper) -> SnipeResult | None:
    results = await s.fire_all()
    assert len(results) <= 1, results
    return results[0] if results else None


async def still_armed(services: Services, name: str, owner: str = "alice") -> bool:
    row = await services.store.armed.get(owner, name)
    return row is not None and row.is_armed


async def cheapest(services: Services, n: int) -> list[float]:
    page = await services.store.search(
        SearchQuery(gpu_models=("RTX 4090",), available=True, sort_by="price", limit=n)
    )
    return [o.price_per_hour for o in page.offers]


async def test_two_machines_from_one_arming_go_to_two_offers(services: Services) -> None:
    prices = await cheapest(services, 10)
    template = LaunchTemplate(max_price_per_hour=prices[-1] * 1.5, count=2)
    await arm(services, Watch("two", 'gpu="RTX 4090"', launch=template))
    result = await fire_one(sniper(services))
    assert result is not None and result.fired, result
    assert len({i.offer_id for i in result.instances}) == 2
    assert sorted(i.request_id or "" for i in result.instances) == [
        snipe_request_id("alice", "two", ARMED, n) for n in range(2)
    ]
    row = await services.store.armed.get("alice", "two")
    assert row is not None and not row.is_armed
    assert row.disarmed_by == "alice@jb" and row.disarm_reason == "launched"
    assert await sniper(services).fire_all() == []  # disarmed: not fired again
    # fired again (the disarm lost): the same two machines, nothing new
    again = await sniper(services).fire(dataclasses.replace(row, disarmed_at=None))
    assert again is not None and again.reused
    assert {i.id for i in again.instances} == {i.id for i in result.instances}
    assert len(await services.instances.list()) == 2


async def test_an_offer_over_the_max_all_in_passes_to_the_next(services: Services) -> None:
    page = await services.store.search(
        SearchQuery(gpu_models=("RTX 4090",), available=True, sort_by="price", limit=5)
    )
    first, second = page.offers[0], page.offers[1]
    # the first re-quotes over the maximum (as a dearer all-in price would)
    template = LaunchTemplate(max_price_per_hour=second.price_per_hour * 1.2)
    await arm(services, Watch("next", 'gpu="RTX 4090"', launch=template))
    flow = services.launch_flow
    real = flow.launcher.preflight

    async def dearer_first(offer, options, **kw):  # type: ignore[no-untyped-def]
        pre = await real(offer, options, **kw)
        if offer.id == first.id:
            return dataclasses.replace(pre, problems=["over your maximum"])
        return pre

    flow.launcher.preflight = dearer_first  # type: ignore[method-assign]
    s = Sniper(flow, services.store, armings=services.store.armed, who="alice@jb", env={})
    result = await fire_one(s)
    assert result is not None and result.fired
    assert result.instances[0].offer_id != first.id


async def test_a_missing_env_value_launches_nothing_and_stays_armed(services: Services) -> None:
    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, env=("HF_TOKEN",))
    await arm(services, Watch("env", 'gpu="RTX 4090"', launch=template))
    result = await fire_one(sniper(services))
    assert result is not None and not result.fired and "HF_TOKEN not set" in result.message
    assert await still_armed(services, "env") and await services.instances.list() == []
    # another member's process firing it says whose environment lacks it
    result = await fire_one(sniper(services, who="carol@jb-2"))
    assert result is not None and not result.fired
    assert "HF_TOKEN not set" in result.message and "carol@jb-2" in result.message
    assert result.message.startswith("alice's env: ")
    # with the value in the environment it launches; the value is in no message
    result = await fire_one(sniper(services, {"HF_TOKEN": "tok-secret-1"}))
    assert result is not None and result.fired and "tok-secret-1" not in result.message
    (row,) = await services.store.armed.list()
    assert "tok-secret-1" not in repr(row) and row.template["env"] == ["HF_TOKEN"]
    record = await services.store.journal.get(snipe_request_id("alice", "env", ARMED, 0))
    assert record is not None and record.request["environment"] == {"HF_TOKEN": "***"}
    assert record.request["origin"] == "watch env"


async def test_a_spot_snipe_without_the_spot_flow_refuses(services: Services) -> None:
    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2, interruptible=True)
    await arm(services, Watch("spot", 'gpu="RTX 4090"', launch=template))
    result = await fire_one(sniper(services))
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
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2)
    await arm(services, Watch("k", 'gpu="RTX 4090"', launch=template))

    async def refuse(spec: object) -> object:
        raise AuthError("vast_ai", "the key was refused")

    for name in services.provider_names():
        monkeypatch.setattr(services.control(name), "launch", refuse)
    result = await fire_one(sniper(services))
    assert result is not None and not result.fired
    assert "the key was refused" in result.message and "still armed" in result.message
    assert await still_armed(services, "k") and await services.instances.list() == []


async def test_a_fired_snipe_reaches_the_watch_webhook(services: Services) -> None:
    from gpucm.engine.snipe import deliver_snipe
    from tests.engine.test_events_out import Receiver

    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 2)
    await arm(services, Watch("hook", 'gpu="RTX 4090"', launch=template))
    result = await fire_one(sniper(services))
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


async def test_every_owners_arming_fires_once_and_a_disarmed_one_never(
    services: Services,
) -> None:
    """The firing process fires bob's watch as well as its own user's, each machine's
    request id with the row's owner; an arming disarmed by its owner elsewhere, even
    after this process read the list, launches nothing."""
    prices = await cheapest(services, 1)
    template = LaunchTemplate(max_price_per_hour=prices[0] * 3)
    await arm(services, Watch("bobs", 'gpu="RTX 4090"', launch=template), owner="bob")
    await arm(services, Watch("dave", 'gpu="RTX 4090"', launch=template), owner="dave")
    rows = await services.store.armed.list(armed_only=True)
    dave = next(r for r in rows if r.owner == "dave")
    await Armings(services.store.armed, who="dave@jb-3").disarm("dave")
    s = sniper(services)  # alice's process
    assert await s.fire(dave) is None  # read as armed, disarmed since: not fired
    (result,) = await s.fire_all()
    assert result.fired and result.owner == "bob" and result.message.startswith("bob's bobs: ")
    (machine,) = result.instances
    assert machine.request_id == snipe_request_id("bob", "bobs", ARMED, 0)
    assert machine.origin == "watch bobs"
    row = await services.store.armed.get("bob", "bobs")
    assert row is not None and not row.is_armed and row.disarmed_by == "alice@jb"
    assert await s.fire_all() == [] and len(await services.instances.list()) == 1


async def test_armings_are_per_owner_and_an_old_files_arming_is_read_once(
    services: Services, tmp_path: object
) -> None:
    from pathlib import Path

    from gpucm.presets import load_book

    assert isinstance(tmp_path, Path)
    path = tmp_path / "filters.toml"
    path.write_text(
        "[watches.old]\nquery = 'gpu=\"RTX 4090\"'\n[watches.old.launch]\n"
        f'max_price_per_hour = 0.5\nenv = ["HF_TOKEN"]\narmed = "{ARMED}"\n',
        encoding="utf-8",
    )
    alice = Armings(services.store.armed, who="alice@jb")
    assert await alice.adopt(load_book(path), path) == ["old"]
    assert "armed" not in path.read_text(encoding="utf-8")  # the store holds it now
    row = await alice.get("old")
    assert row is not None and row.is_armed and row.armed == ARMED
    assert row.template == {"max_price_per_hour": 0.5, "env": ["HF_TOKEN"]}
    # bob's watch of the same name is another watch
    await Armings(services.store.armed, who="bob@jb").arm(
        Watch("old", "gpu=H100", launch=LaunchTemplate(max_price_per_hour=3)), "later"
    )
    assert {(r.owner, r.query) for r in await alice.all()} == {
        ("alice", 'gpu="RTX 4090"'),
        ("bob", "gpu=H100"),
    }
    # an old file read again after that arming fired never arms it again
    await alice.disarm("old", reason="launched")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "max_price_per_hour = 0.5", f'max_price_per_hour = 0.5\narmed = "{ARMED}"'
        ),
        encoding="utf-8",
    )
    assert await alice.adopt(load_book(path), path) == []
    row = await alice.get("old")
    assert row is not None and not row.is_armed
    assert "armed" not in path.read_text(encoding="utf-8")


def test_the_same_reason_for_several_machines_is_said_once() -> None:
    from gpucm.engine.snipe import _message

    watch = Watch("pair", 'gpu="RTX 4090"', launch=LaunchTemplate(max_price_per_hour=2.0, count=3))
    gone = "disarmed elsewhere meanwhile"
    text = _message(watch, [], [gone, "Vast.ai: no capacity", gone], disarmed=True, reused=False)
    assert text == (f"pair: not launched: 2 machines: {gone}; Vast.ai: no capacity; disarmed")
