"""The money path on the demo market: preflight, idempotent launches, crash and timeout
recovery, failover, guards, and the demo lifecycle end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gpucm import paths
from gpucm.domain.models import Instance, SearchQuery
from gpucm.engine import spend
from gpucm.engine.instances import InstanceError, ssh_command
from gpucm.engine.launcher import (
    SETTLE,
    LaunchError,
    LaunchInDoubt,
    NoCapacity,
    Preflight,
    request_tag,
    tagged_label,
)
from gpucm.providers.base import LaunchSpec
from gpucm.providers.demo_instances import PROVISION_SECONDS, fails_for_capacity
from gpucm.providers.errors import ProviderUnavailable
from gpucm.services import Services
from tests.conftest import SteppedClock as Clock
from tests.conftest import launchable
from tests.engine.launch_helpers import opts


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


async def demo_records(services: Services, provider: str) -> dict[str, Any]:
    return dict(await services.store.get_demo_state(f"instances:{provider}") or {})


async def test_demo_lifecycle_end_to_end(services: Services, stepped_clock: Clock) -> None:
    offer = await launchable(services)
    launcher = services.launcher
    pre = await launcher.preflight(offer, opts(hours=5))
    assert pre.ok, pre.problems
    assert pre.estimated_cost == pytest.approx(pre.cost.per_hour * 5)
    outcome = await launcher.launch(pre, opts(hours=5))
    inst = outcome.instance
    assert not outcome.reused
    assert inst.status == "provisioning"
    assert inst.name == tagged_label("train", "req-1")
    assert inst.request_id == "req-1"
    assert (await services.store.journal.get("req-1")).state == "done"  # type: ignore[union-attr]

    manager = services.instances
    stepped_clock.advance(PROVISION_SECONDS + 1)
    await manager.sync()
    inst = await manager.find(inst.id)
    assert inst.status == "running"
    assert ssh_command(inst) == ["ssh", f"root@{inst.provider_id}.demo.invalid"]
    assert inst.request_id == "req-1"  # kept across syncs

    if inst.provider != "lambda_labs":
        inst = await manager.act(inst, "stop")
        assert inst.status == "stopped"
        inst = await manager.act(inst, "start")
        assert inst.status == "provisioning"
        stepped_clock.advance(15)
        await manager.sync()
        assert (await manager.find(inst.id)).status == "running"
    inst = await manager.act(inst, "terminate")
    assert inst.status == "terminated"
    assert await manager.list() == []
    with pytest.raises(InstanceError, match="terminated"):
        await manager.act(inst, "stop")


async def test_a_restarted_machine_is_billed_from_its_restart(
    services: Services, stepped_clock: Clock
) -> None:
    offer = await launchable(services, provider="vast_ai")
    inst = (
        await services.launcher.launch(await services.launcher.preflight(offer, opts()), opts())
    ).instance
    manager = services.instances
    stepped_clock.advance(3600)
    await manager.sync()
    inst = await manager.act(await manager.find(inst.id), "stop")
    stepped_clock.advance(7200)  # stopped: not billed
    inst = await manager.act(inst, "start")
    stepped_clock.advance(5)
    await manager.sync()
    booting = await manager.find(inst.id)
    assert booting.status == "provisioning"
    # five seconds since the start, not three hours since the first launch
    assert spend.hours_running(booting, stepped_clock.now) == pytest.approx(5 / 3600)


async def test_lambda_cannot_stop_and_says_so(services: Services) -> None:
    offer = await launchable(services, "A10", providers=("lambda_labs",))
    outcome = await services.launcher.launch(
        await services.launcher.preflight(offer, opts()), opts()
    )
    with pytest.raises(InstanceError, match="cannot stop"):
        await services.instances.act(outcome.instance, "stop")


async def test_same_request_id_never_launches_twice(services: Services) -> None:
    offer = await launchable(services)
    launcher = services.launcher
    first = await launcher.launch(await launcher.preflight(offer, opts("X")), opts("X"))
    again = await launcher.launch(await launcher.preflight(offer, opts("X")), opts("X"))
    assert again.reused
    assert again.instance.id == first.instance.id
    assert len(await demo_records(services, offer.provider)) == 1


async def test_a_double_press_launches_once(services: Services) -> None:
    offer = await launchable(services)
    launcher = services.launcher
    pre = await launcher.preflight(offer, opts("twice"))
    results = await asyncio.gather(
        launcher.launch(pre, opts("twice")),
        launcher.launch(pre, opts("twice")),
        return_exceptions=True,
    )
    launched = [r for r in results if not isinstance(r, BaseException)]
    assert launched, results
    assert all(isinstance(r, LaunchInDoubt) for r in results if isinstance(r, BaseException))
    assert len(await demo_records(services, offer.provider)) == 1


async def test_crash_after_the_provider_call_is_settled_not_repeated(
    services: Services,
) -> None:
    """The process dies after the provider created the instance but before the journal
    said so: the next attempt, and start-up reconciliation, find it by its tag."""
    offer = await launchable(services)
    control = services.control(offer.provider)
    await services.store.journal.begin(
        request_id="crashy",
        provider=offer.provider,
        offer_id=offer.id,
        label="train",
        request={},
    )
    await control.launch(
        LaunchSpec(offer=offer, label=tagged_label("train", "crashy"), request_id="crashy")
    )
    # -- the process dies here; a new start reconciles --
    settled = await services.launcher.reconcile()
    assert [r.request_id for r in settled] == ["crashy"]
    assert settled[0].state == "done"
    again = await services.launcher.launch(
        await services.launcher.preflight(offer, opts("crashy")), opts("crashy")
    )
    assert again.reused
    assert len(await demo_records(services, offer.provider)) == 1


async def test_timeout_after_sending_is_in_doubt_until_settled(
    services: Services, stepped_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    control = services.control(offer.provider)

    async def lost(spec: LaunchSpec) -> Instance:
        raise ProviderUnavailable(offer.provider, "timed out waiting for an answer")

    monkeypatch.setattr(control, "launch", lost)
    launcher = services.launcher
    with pytest.raises(LaunchInDoubt, match="may still have happened"):
        await launcher.launch(await launcher.preflight(offer, opts("t")), opts("t"))
    assert (await services.store.journal.get("t")).state == "unknown"  # type: ignore[union-attr]
    with pytest.raises(LaunchInDoubt, match="not known yet"):
        await launcher.launch(await launcher.preflight(offer, opts("t")), opts("t"))
    monkeypatch.undo()
    stepped_clock.advance(SETTLE.total_seconds() + 1)
    outcome = await launcher.launch(await launcher.preflight(offer, opts("t")), opts("t"))
    assert not outcome.reused
    assert len(await demo_records(services, offer.provider)) == 1


async def test_timeout_that_did_launch_is_found(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    control = services.control(offer.provider)
    real = control.launch

    async def created_then_lost(spec: LaunchSpec) -> Instance:
        await real(spec)
        raise ProviderUnavailable(offer.provider, "connection dropped")

    monkeypatch.setattr(control, "launch", created_then_lost)
    outcome = await services.launcher.launch(
        await services.launcher.preflight(offer, opts("found")), opts("found")
    )
    assert outcome.instance.name.endswith(request_tag("found"))
    assert (await services.store.journal.get("found")).state == "done"  # type: ignore[union-attr]


async def test_capacity_failure_fails_over_to_an_equivalent(services: Services) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    doomed = next(o for o in page.offers if fails_for_capacity(o.id) and o.gpu_count == 1)
    launcher = services.launcher
    options = opts("fo", max_price_per_hour=doomed.price_per_hour * 2)
    pre = await launcher.preflight(doomed, options)
    with pytest.raises(Exception, match="no longer any instances"):
        await launcher.launch(pre, options)
    assert (await services.store.journal.get("fo")).state == "failed"  # type: ignore[union-attr]
    candidates = await launcher.failover_candidates(doomed, options)
    assert candidates
    best = candidates[0]
    assert best.replaces == doomed
    assert best.offer.gpu_model == doomed.gpu_model
    assert best.offer.gpu_count == doomed.gpu_count
    assert best.cost.per_hour <= options.max_price_per_hour  # type: ignore[operator]
    assert "no capacity" in best.changes()[0]
    assert [c.cost.per_hour for c in candidates] == sorted(c.cost.per_hour for c in candidates)
    outcome = await launcher.launch(best, options)  # the same request id, now on the stand-in
    assert outcome.instance.offer_id == best.offer.id
    assert (await services.store.journal.get("fo")).state == "done"  # type: ignore[union-attr]


async def doomed_rtx4090(services: Services) -> Any:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    return next(o for o in page.offers if fails_for_capacity(o.id) and o.gpu_count == 1)


async def test_launch_failing_over_asks_once_and_launches_the_choice(services: Services) -> None:
    doomed = await doomed_rtx4090(services)
    launcher = services.launcher
    options = opts("lfo", max_price_per_hour=doomed.price_per_hour * 2)
    asked: list[tuple[str, list[str]]] = []

    async def choose(failure: str, candidates: list[Preflight]) -> Preflight:
        asked.append((failure, [c.offer.id for c in candidates]))
        return next(c for c in candidates if not fails_for_capacity(c.offer.id))

    pre = await launcher.preflight(doomed, options)
    outcome, placed = await launcher.launch_failing_over(pre, options, choose)
    assert len(asked) == 1 and "no longer any instances" in asked[0][0]
    assert doomed.id not in asked[0][1]
    assert placed.replaces is not None and placed.replaces.id == doomed.id
    assert outcome.instance.offer_id == placed.offer.id
    assert len(await services.instances.list()) == 1


async def test_launch_failing_over_without_an_equivalent_launches_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    doomed = await doomed_rtx4090(services)
    launcher = services.launcher
    options = opts("none", max_price_per_hour=doomed.price_per_hour * 2)

    async def no_equivalents(*args: object, **kwargs: object) -> list[Preflight]:
        return []

    async def never(failure: str, candidates: list[Preflight]) -> Preflight:
        raise AssertionError("nothing to choose from")

    monkeypatch.setattr(launcher, "failover_candidates", no_equivalents)
    pre = await launcher.preflight(doomed, options)
    with pytest.raises(NoCapacity, match=r"no equivalent offer .* nothing was launched"):
        await launcher.launch_failing_over(pre, options, never)
    assert await services.instances.list() == []
    assert (await services.store.journal.get("none")).state == "failed"  # type: ignore[union-attr]


async def test_guards_refuse_before_anything_is_recorded(services: Services) -> None:
    offer = await launchable(services)
    launcher = services.launcher
    cheap = opts("guard", max_price_per_hour=offer.price_per_hour / 2)
    pre = await launcher.preflight(offer, cheap)
    assert not pre.ok
    assert "over your maximum" in pre.problems[0]
    with pytest.raises(LaunchError, match="over your maximum"):
        await launcher.launch(pre, cheap)
    assert await services.store.journal.get("guard") is None
    greedy = opts("big", min_gpus=offer.gpu_count + 1)
    assert any("fewer than" in p for p in (await launcher.preflight(offer, greedy)).problems)


async def test_budget_warns_at_80_percent_and_refuses_past_it(
    services: Services, stepped_clock: Clock
) -> None:
    offer = await launchable(services)
    rate = offer.price_per_hour
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"[budget]\nmax_hourly_usd = {rate / 0.85:.6f}\n")
    services.settings_source._checked -= 5
    pre = await services.launcher.preflight(offer, opts())
    assert pre.ok
    assert any("of the hourly budget" in w for w in pre.warnings)
    await services.launcher.launch(pre, opts())
    second = await services.launcher.preflight(offer, opts("again"))
    assert not second.ok
    assert any("over the hourly budget" in p for p in second.problems)


async def test_unsupported_fields_are_named_not_dropped(services: Services) -> None:
    offer = await launchable(services, "A10", providers=("lambda_labs",))
    options = opts(
        image="pytorch/pytorch:latest", environment=(("HF_TOKEN", "x"),), ports=((8888, "tcp"),)
    )
    notes = (await services.launcher.preflight(offer, options)).unsupported
    assert any(n.startswith("image:") for n in notes)
    assert any(n.startswith("environment:") for n in notes)
    assert any(n.startswith("ports:") for n in notes)
    vast = await launchable(services, providers=("vast_ai",))
    assert (await services.launcher.preflight(vast, options)).unsupported == []


async def test_environment_values_never_stored_in_clear(services: Services) -> None:
    secret = "hf_SECRET_VALUE_0123456789"
    offer = await launchable(services, providers=("vast_ai",))
    options = opts("env", environment=(("HF_TOKEN", secret),))
    assert secret not in repr(options)
    await services.launcher.launch(await services.launcher.preflight(offer, options), options)
    record = await services.store.journal.get("env")
    assert record is not None
    assert record.request["environment"] == {"HF_TOKEN": "***"}
    await services.aclose()
    stored = b"".join(p.read_bytes() for p in Path(paths.data_dir()).rglob("*") if p.is_file())
    assert secret.encode() not in stored


async def test_price_change_since_refresh_is_shown(services: Services) -> None:
    offer = await launchable(services, providers=("vast_ai",))
    for _ in range(3):  # the demo market moves on
        await services.refresh(["vast_ai"])
    pre = await services.launcher.preflight(offer, opts())
    if not pre.vanished:
        assert pre.price_changed == (pre.offer.price_per_hour != offer.price_per_hour)
        if pre.price_changed:
            assert "the price moved" in pre.changes()[0]
    else:
        assert any("gone" in p for p in pre.problems)
