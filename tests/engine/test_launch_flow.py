"""The one launch flow every front end calls, on the demo market: confirmation, reuse
of a request id, the request fingerprint, failover within its limit, the budget
reservation taken after the confirmation, and the label kept as typed."""

from __future__ import annotations

from typing import Any

import pytest

from gpucm import paths
from gpucm.domain.models import Offer, SearchQuery
from gpucm.engine.launch_errors import NoCapacity, OverBudget, RequestMismatch
from gpucm.engine.launch_flow import Declined, LaunchFlow, LaunchRefused, LaunchTarget
from gpucm.engine.launcher import Preflight
from gpucm.providers.base import LaunchSpec
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.providers.errors import CapacityError
from gpucm.services import Services
from tests.conftest import launchable
from tests.engine.launch_helpers import Confirm, opts


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


def set_budget(services: Services, max_hourly: float) -> None:
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"[budget]\nmax_hourly_usd = {max_hourly:.6f}\n")
    services.settings_source._checked -= 5  # re-read now, not after its interval


async def test_a_confirmed_launch_happens_once_per_request_id(services: Services) -> None:
    offer = await launchable(services)
    confirm = Confirm()
    progress: list[str] = []
    flow = services.launch_flow
    first = await flow.run(
        LaunchTarget.of(offer), opts(), confirm=confirm, progress=progress.append
    )
    assert not first.reused and first.preflight is not None
    assert first.preflight.offer.id == offer.id
    assert [p.offer.id for p in confirm.seen] == [offer.id]
    assert any("Launching at" in line for line in progress)
    # the same request again: the instance it launched, no confirmation, no machine
    again = await flow.run(LaunchTarget.by_id(offer.id), opts(), confirm=confirm)
    assert again.reused and again.instance.id == first.instance.id
    assert len(confirm.seen) == 1
    assert len(await services.instances.list()) == 1


async def test_declined_launches_nothing_and_journals_nothing(services: Services) -> None:
    offer = await launchable(services)
    with pytest.raises(Declined, match="nothing was launched"):
        await services.launch_flow.run(
            LaunchTarget.of(offer), opts("no"), confirm=Confirm(answer=False)
        )
    assert await services.store.journal.get("no") is None
    assert await services.instances.list() == []


async def test_a_request_id_reused_for_another_offer_is_refused(services: Services) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=100))
    first, other = [o for o in page.offers if not fails_for_capacity(o.id)][:2]
    flow = services.launch_flow
    await flow.run(LaunchTarget.by_id(first.id), opts("key"), confirm=Confirm())
    with pytest.raises(RequestMismatch) as caught:
        await flow.run(LaunchTarget.by_id(other.id), opts("key"), confirm=Confirm())
    assert f"first used for offer {first.id}" in str(caught.value)
    assert other.id in str(caught.value)
    # the same offer under another spelling is the same request
    provider_id = first.id.split(":", 1)[1]
    same = await flow.run(
        LaunchTarget.by_id(provider_id, first.provider), opts("key"), confirm=Confirm()
    )
    assert same.reused
    # and other options are another request too
    with pytest.raises(RequestMismatch):
        await flow.run(
            LaunchTarget.by_id(first.id), opts("key", image="other:1"), confirm=Confirm()
        )
    assert len(await services.instances.list()) == 1


async def test_a_request_that_failed_for_sure_may_be_tried_again_changed(
    services: Services,
) -> None:
    """A launch form edited after a refusal keeps its request id: nothing was created
    under it, so the changed request is not a mismatch."""
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    doomed = next(o for o in page.offers if fails_for_capacity(o.id) and o.gpu_count == 1)
    good = await launchable(services)
    flow = services.launch_flow
    with pytest.raises(NoCapacity):
        await flow.run(LaunchTarget.of(doomed), opts("form"), confirm=Confirm())
    assert (await services.store.journal.get("form")).state == "failed"  # type: ignore[union-attr]
    outcome = await flow.run(LaunchTarget.of(good), opts("form"), confirm=Confirm())
    assert not outcome.reused and outcome.instance.offer_id == good.id


async def test_a_blocked_preflight_never_reaches_the_confirmation(services: Services) -> None:
    offer = await launchable(services)
    confirm = Confirm()
    with pytest.raises(LaunchRefused) as caught:
        await services.launch_flow.run(
            LaunchTarget.of(offer),
            opts("cheap", max_price_per_hour=offer.price_per_hour / 2),
            confirm=confirm,
        )
    assert not caught.value.preflight.ok
    assert "over your maximum" in str(caught.value)
    assert confirm.seen == []


async def test_failover_stops_after_its_limit(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    tried: list[str] = []

    async def no_capacity(self: Any, spec: LaunchSpec) -> Any:
        tried.append(spec.offer.id)
        raise CapacityError(spec.offer.provider, "sold out (test)")

    for name in services.provider_names():
        monkeypatch.setattr(type(services.control(name)), "launch", no_capacity)
    chosen: list[list[str]] = []

    async def choose(failure: str, candidates: list[Preflight]) -> Preflight:
        chosen.append([c.offer.id for c in candidates])
        return candidates[0]

    flow = LaunchFlow(services.ports, max_failovers=2)
    with pytest.raises(NoCapacity, match="3 offers in a row had no capacity"):
        await flow.run(
            LaunchTarget.of(offer),
            opts("fo", max_price_per_hour=offer.price_per_hour * 3),
            confirm=Confirm(),
            choose=choose,
        )
    assert len(tried) == 3 and len(set(tried)) == 3  # one request id, three offers
    assert len(chosen) == 2
    assert (await services.store.journal.get("fo")).state == "failed"  # type: ignore[union-attr]


async def test_choosing_none_stops_and_no_chooser_stops_at_once(
    services: Services,
) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    doomed = next(o for o in page.offers if fails_for_capacity(o.id) and o.gpu_count == 1)

    async def cancel(failure: str, candidates: list[Preflight]) -> None:
        return None

    options = opts("c1", max_price_per_hour=doomed.price_per_hour * 2)
    with pytest.raises(NoCapacity, match="cancelled"):
        await services.launch_flow.run(
            LaunchTarget.of(doomed), options, confirm=Confirm(), choose=cancel
        )
    with pytest.raises(NoCapacity, match="nothing was launched"):
        await services.launch_flow.run(LaunchTarget.of(doomed), opts("c2"), confirm=Confirm())
    assert await services.instances.list() == []


async def test_the_budget_is_decided_at_the_reservation_not_the_preflight(
    services: Services,
) -> None:
    """Another launch takes the budget while the confirmation is on screen: the
    preflight passed, the reservation refuses, and nothing is launched."""
    offer = await launchable(services)
    set_budget(services, offer.price_per_hour * 1.5)

    async def meanwhile(pre: Preflight) -> bool:
        await services.store.journal.begin(
            request_id="elsewhere",
            provider=offer.provider,
            offer_id=offer.id,
            label="other",
            request={},
            reserve_per_hour=pre.cost.per_hour,
        )
        return True

    with pytest.raises(OverBudget, match=r"over the hourly budget .* on the way"):
        await services.launch_flow.run(LaunchTarget.of(offer), opts("late"), confirm=meanwhile)
    assert await services.store.journal.get("late") is None
    assert await services.instances.list() == []


async def test_the_label_is_kept_as_typed(services: Services) -> None:
    offer = await launchable(services)
    label = "ML Training Workstation"
    outcome = await services.launch_flow.run(
        LaunchTarget.of(offer), opts("lbl", label=label), confirm=Confirm()
    )
    assert outcome.instance.label == label
    assert " " not in outcome.instance.name  # the provider's name stays sanitised, tagged
    stored = await services.store.instances.get(outcome.instance.id)
    assert stored is not None and stored.label == label
    # a sync from the provider (which knows only the name) keeps it
    await services.instances.sync([offer.provider])
    synced = await services.store.instances.get(outcome.instance.id)
    assert synced is not None and synced.label == label


async def test_cheapest_target_and_missing_offers(services: Services) -> None:
    from gpucm.engine.launch_flow import NoMatch, OfferNotFound, WrongProvider

    flow = services.launch_flow
    with pytest.raises(NoMatch):
        await flow.run(
            LaunchTarget.cheapest(SearchQuery(gpu_models=("RTX 4090",), max_price=0.0001)),
            opts("nm"),
            confirm=Confirm(),
        )
    with pytest.raises(OfferNotFound):
        await flow.run(LaunchTarget.by_id("vast_ai:nope"), opts("nf"), confirm=Confirm())
    offer: Offer = await launchable(services, providers=("vast_ai",))
    with pytest.raises(WrongProvider):
        await flow.run(LaunchTarget.by_id(offer.id, "runpod"), opts("wp"), confirm=Confirm())


async def test_gb_out_per_hour_is_priced_into_the_confirmed_all_in(services: Services) -> None:
    from gpucm.domain.pricing import egress_per_gb

    offer = await launchable(services)  # a demo Vast.ai offer, which bills egress per GB
    rate = egress_per_gb(offer)
    assert offer.provider == "vast_ai" and rate
    plain, sending = Confirm(), Confirm()
    await services.launch_flow.run(LaunchTarget.of(offer), opts("e0"), confirm=plain)
    await services.launch_flow.run(
        LaunchTarget.of(offer), opts("e1", gb_out_per_hour=20), confirm=sending
    )
    [without], [with_egress] = plain.seen, sending.seen
    assert with_egress.cost.egress_per_hour == pytest.approx(20 * rate)
    assert with_egress.cost.per_hour == pytest.approx(without.cost.per_hour + 20 * rate)
    record = await services.store.journal.get("e1")
    assert record is not None
    assert record.request["confirmed"]["egress_per_hour"] == pytest.approx(20 * rate)
