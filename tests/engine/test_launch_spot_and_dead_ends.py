"""Interruptible (spot) launches and the flow's "no dead ends", on the demo market:
the bid (default, minimum, the price at it), the fingerprint, the budget held at the
bid's all-in rate, providers without spot; a preflight that finds the offer gone or
over the maximum offering an equivalent through `choose`; a Paperspace capacity
failure (the real adapter's error) failing over to an equivalent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpucm import paths
from gpucm.config import ProviderSettings
from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.pricing import all_in, default_bid, interruptible_price
from gpucm.engine.launch_errors import RequestMismatch
from gpucm.engine.launch_flow import (
    Declined,
    LaunchFlow,
    LaunchRefused,
    LaunchTarget,
    NotHonoured,
)
from gpucm.engine.launch_options import request_fingerprint
from gpucm.engine.launcher import Preflight
from gpucm.engine.ports import EnginePorts
from gpucm.providers.base import InstanceControl
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.providers.paperspace import PaperspaceAdapter
from gpucm.services import Services
from tests.conftest import launchable
from tests.engine.launch_helpers import Confirm, opts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "providers"


@pytest.fixture
def services(stepped_market: Services) -> Services:
    return stepped_market


class Choose:
    """Takes the first equivalent (or none), remembering what it was offered."""

    def __init__(self, take: bool = True) -> None:
        self.take = take
        self.offered: list[tuple[str, list[Preflight]]] = []

    async def __call__(self, failure: str, candidates: list[Preflight]) -> Preflight | None:
        self.offered.append((failure, candidates))
        return candidates[0] if self.take else None


async def spot_offer(services: Services, provider: str = "vast_ai") -> Offer:
    offer = await launchable(services, providers=(provider,))
    assert offer.min_bid_per_gpu_hour is not None and offer.spot_price_per_hour is not None
    return offer


# -- pricing -------------------------------------------------------------------------------


def test_default_bid_is_the_minimum_plus_five_percent_rounded_up() -> None:
    assert default_bid(0.2667) == 0.281  # 0.280035 up to the next tenth of a cent
    assert default_bid(0.2) == 0.21  # exact: not rounded up past it
    assert default_bid(0.0004) == 0.001  # a tiny bid still bids a tenth of a cent
    for minimum in (0.0123, 0.5, 1.9999, 3.0):
        assert default_bid(minimum) >= minimum * 1.05 - 1e-12


def test_interruptible_price_keeps_what_the_spot_price_folds_in() -> None:
    base = {
        "id": "vast_ai:1",
        "provider": "vast_ai",
        "provider_id": "1",
        "gpu_name": "RTX 4090",
        "gpu_count": 2,
        "price_per_hour": 1.0,
        "fetched_at": "2026-11-26T12:00:00Z",
    }
    # Vast: the spot price is the minimum bid for both GPUs plus $0.02/h of storage
    offer = Offer.model_validate(base | {"spot_price_per_hour": 0.62, "min_bid_per_gpu_hour": 0.3})
    assert interruptible_price(offer, 0.3) == pytest.approx(0.62)
    assert interruptible_price(offer, 0.4) == pytest.approx(0.82)
    cost = all_in(offer, None, bid_per_gpu=0.4)
    assert cost.compute_per_hour == pytest.approx(0.82) and cost.per_hour == pytest.approx(0.82)
    # without a spot price on the offer, only the bid is known
    plain = Offer.model_validate(base)
    assert interruptible_price(plain, 0.4) == pytest.approx(0.8)


# -- interruptible through the flow ---------------------------------------------------------


async def test_an_interruptible_launch_is_priced_and_held_at_its_bid(
    services: Services,
) -> None:
    offer = await spot_offer(services)
    confirm = Confirm()
    outcome = await services.launch_flow.run(
        LaunchTarget.of(offer), opts("spot", interruptible=True), confirm=confirm
    )
    (pre,) = confirm.seen
    assert offer.min_bid_per_gpu_hour is not None
    bid = default_bid(offer.min_bid_per_gpu_hour)
    assert pre.interruptible and pre.bid_per_gpu == bid
    assert pre.cost.compute_per_hour == pytest.approx(interruptible_price(pre.offer, bid))
    assert pre.cost.compute_per_hour < offer.price_per_hour
    # the confirmation says what an interruptible machine does
    assert any("stops when outbid" in w and "keeps billing" in w for w in pre.warnings)
    instance = outcome.instance
    assert instance.interruptible
    assert instance.price_per_hour == pytest.approx(bid * offer.gpu_count)
    record = await services.store.journal.get("spot")
    assert record is not None
    # the budget held the bid's all-in rate, and the journal kept the bid
    assert record.reserved_per_hour == pytest.approx(pre.cost.per_hour)
    assert record.request["interruptible"] is True
    assert record.request["bid_per_gpu"] is None  # the default: the flow chose it


async def test_a_bid_below_the_minimum_is_refused_before_anything_is_reserved(
    services: Services,
) -> None:
    offer = await spot_offer(services)
    assert offer.min_bid_per_gpu_hour is not None
    low = offer.min_bid_per_gpu_hour / 2
    confirm = Confirm()
    with pytest.raises(LaunchRefused, match="below the minimum") as caught:
        await services.launch_flow.run(
            LaunchTarget.of(offer),
            opts("low", interruptible=True, bid_per_gpu=low),
            confirm=confirm,
            choose=Choose(),  # a bad bid follows the request: no equivalent is offered
        )
    assert not caught.value.preflight.replaceable
    assert confirm.seen == []
    assert await services.store.journal.get("low") is None


async def test_an_explicit_bid_is_sent_and_priced(services: Services) -> None:
    offer = await spot_offer(services)
    assert offer.min_bid_per_gpu_hour is not None
    bid = round(offer.min_bid_per_gpu_hour * 1.5, 4)
    confirm = Confirm()
    outcome = await services.launch_flow.run(
        LaunchTarget.of(offer),
        opts("bid", interruptible=True, bid_per_gpu=bid),
        confirm=confirm,
    )
    assert confirm.seen[0].bid_per_gpu == bid
    assert outcome.instance.price_per_hour == pytest.approx(bid * offer.gpu_count)


async def test_the_fingerprint_tells_spot_from_on_demand_and_one_bid_from_another(
    services: Services,
) -> None:
    target = "offer vast_ai:1"
    on_demand = request_fingerprint(target, opts())
    spot = request_fingerprint(target, opts(interruptible=True))
    higher = request_fingerprint(target, opts(interruptible=True, bid_per_gpu=0.5))
    assert len({on_demand, spot, higher}) == 3
    # a request journaled before spot existed keeps its fingerprint
    assert "interruptible" not in opts().fingerprint_fields()
    offer = await spot_offer(services)
    flow = services.launch_flow
    await flow.run(LaunchTarget.of(offer), opts("same"), confirm=Confirm())
    with pytest.raises(RequestMismatch):
        await flow.run(LaunchTarget.of(offer), opts("same", interruptible=True), confirm=Confirm())


async def test_spot_at_a_provider_without_spot_is_bad_input(services: Services) -> None:
    offer = await launchable(services, "A10", providers=("lambda_labs",))
    confirm = Confirm()
    with pytest.raises(NotHonoured, match="Lambda Cloud rents no interruptible"):
        await services.launch_flow.run(
            LaunchTarget.of(offer), opts("lam", interruptible=True), confirm=confirm
        )
    assert confirm.seen == []
    assert await services.store.journal.get("lam") is None


async def test_the_cheapest_match_of_a_spot_launch_is_by_its_spot_price(
    services: Services,
) -> None:
    query = SearchQuery(gpu_models=("RTX 4090",))
    confirm = Confirm(answer=False)
    with pytest.raises(Declined):
        await services.launch_flow.run(
            LaunchTarget.cheapest(query), opts("ch", interruptible=True), confirm=confirm
        )
    page = await services.store.search(query.model_copy(update={"sort_by": "spot", "limit": 1}))
    assert confirm.seen[0].listed.id == page.offers[0].id
    assert confirm.seen[0].listed.spot_price_per_hour is not None


async def test_a_retired_spot_api_is_one_line(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RunPod after GraphQL's retirement: the adapter's own sentence, before anything is
    reserved (the demo stands in for the adapter's `spot_refusal`)."""
    offer = await spot_offer(services, "runpod")
    control = type(services.control("runpod"))
    retired = "RunPod has retired the API for spot launches (GraphQL); launch on demand"
    monkeypatch.setattr(control, "spot_refusal", retired, raising=False)
    with pytest.raises(LaunchRefused, match="RunPod has retired the API for spot launches"):
        await services.launch_flow.run(
            LaunchTarget.of(offer), opts("rp", interruptible=True), confirm=Confirm()
        )
    assert await services.store.journal.get("rp") is None


# -- no dead ends --------------------------------------------------------------------------


async def gone(services: Services, monkeypatch: pytest.MonkeyPatch, offer: Offer) -> None:
    """The provider no longer quotes `offer` (rented since the last refresh)."""
    control = type(services.control(offer.provider))
    real = control.quote

    async def quote(self: Any, asked: Offer) -> Offer | None:
        return None if asked.id == offer.id else await real(self, asked)

    monkeypatch.setattr(control, "quote", quote)


async def test_a_gone_offer_offers_an_equivalent_and_launches_it_without_a_second_confirm(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    await gone(services, monkeypatch, offer)
    confirm, choose = Confirm(), Choose()
    outcome = await services.launch_flow.run(
        LaunchTarget.of(offer),
        opts("g1", max_price_per_hour=offer.price_per_hour * 3),
        confirm=confirm,
        choose=choose,
    )
    (failure, candidates), *_ = choose.offered
    assert "the offer is gone" in failure and offer.id in failure
    assert confirm.seen == []  # choosing was the consent
    first = candidates[0]
    assert first.replaces is not None and first.replaces.id == offer.id
    assert first.offer.gpu_model == offer.gpu_model and first.offer.gpu_count == offer.gpu_count
    assert any("which is gone" in c for c in first.changes())
    assert all(c.cost.per_hour <= offer.price_per_hour * 3 for c in candidates)
    assert outcome.preflight is not None and outcome.preflight.offer.id == first.offer.id
    record = await services.store.journal.get("g1")
    assert record is not None and record.state == "done" and record.offer_id == first.offer.id


async def test_back_on_the_equivalent_launches_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    await gone(services, monkeypatch, offer)
    with pytest.raises(LaunchRefused, match="the offer is gone"):
        await services.launch_flow.run(
            LaunchTarget.of(offer), opts("g2"), confirm=Confirm(), choose=Choose(take=False)
        )
    assert await services.store.journal.get("g2") is None
    assert await services.instances.list() == []


async def test_over_the_maximum_offers_a_cheaper_equivalent(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = await services.store.search(SearchQuery(gpu_models=("RTX 4090",), limit=300))
    ones = [o for o in page.offers if o.gpu_count == 1 and not fails_for_capacity(o.id)]
    cheap, dear = ones[0], ones[-1]
    maximum = all_in(cheap, None).per_hour * 1.5
    assert dear.price_per_hour > maximum
    choose = Choose()
    outcome = await services.launch_flow.run(
        LaunchTarget.of(dear),
        opts("over", max_price_per_hour=maximum),
        confirm=Confirm(),
        choose=choose,
    )
    (failure, candidates), *_ = choose.offered
    assert "over your maximum" in failure
    assert all(c.cost.per_hour <= maximum for c in candidates)
    assert any("which is over your maximum" in c for c in candidates[0].changes())
    assert outcome.instance.offer_id == candidates[0].offer.id


async def test_without_equivalents_the_refusal_says_none_was_found(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    await gone(services, monkeypatch, offer)
    choose = Choose()
    with pytest.raises(LaunchRefused, match=r"no equivalent offer .* is available either"):
        await services.launch_flow.run(
            LaunchTarget.of(offer),
            opts("g3", max_price_per_hour=0.0001),
            confirm=Confirm(),
            choose=choose,
        )
    assert choose.offered == []


async def test_a_budget_refusal_offers_no_equivalent(services: Services) -> None:
    offer = await launchable(services)
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[budget]\nmax_hourly_usd = 0.0001\n")
    services.settings_source._checked -= 5
    choose = Choose()
    with pytest.raises(LaunchRefused, match="budget"):
        await services.launch_flow.run(
            LaunchTarget.of(offer), opts("b"), confirm=Confirm(), choose=choose
        )
    assert choose.offered == []


# -- a Paperspace capacity failure fails over ------------------------------------------------


class WithPaperspace:
    """The demo's providers, with Paperspace's real adapter (on a recorded transport)."""

    def __init__(self, services: Services, paperspace: PaperspaceAdapter) -> None:
        self.services = services
        self.paperspace = paperspace

    def provider_names(self) -> list[str]:
        return self.services.provider_names()

    def is_active(self, name: str) -> bool:
        return self.services.is_active(name)

    def control(self, name: str) -> InstanceControl:
        return self.paperspace if name == "paperspace" else self.services.control(name)


def _paperspace(path: str) -> Any:
    return json.loads((FIXTURES / "paperspace" / path).read_text())


async def test_a_paperspace_capacity_failure_fails_over_to_an_equivalent(
    services: Services,
) -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/machine-availability"):
            return httpx.Response(200, json=_paperspace("machine_availability_yes.json"))
        if request.url.path.endswith("/os-templates"):
            return httpx.Response(200, json=_paperspace("os_templates.json"))
        if request.method == "POST" and request.url.path.endswith("/machines"):
            return httpx.Response(400, json=_paperspace("error_create_capacity.json"))
        return httpx.Response(599, text=f"unexpected {request.url}")

    adapter = PaperspaceAdapter(
        ProviderSettings(api_key="ps-test-key"),
        transport=httpx.MockTransport(answer),
        clock=services.clock,
    )
    adapter.read_default_key = lambda: None  # type: ignore[method-assign]  # no ~/.ssh here
    page = await services.store.search(SearchQuery(providers=("paperspace",), limit=100))
    offers = [o for o in page.offers if o.gpu_count == 1]
    ports = services.ports
    flow = LaunchFlow(
        EnginePorts(
            store=ports.store,
            providers=WithPaperspace(services, adapter),
            settings=ports.settings,
            catalog=ports.catalog,
            clock=ports.clock,
        )
    )
    choose = Choose()
    try:
        for offer in offers:  # the first Paperspace type another provider also rents
            probe = opts("probe", max_price_per_hour=offer.price_per_hour * 3)
            if await flow.launcher.failover_candidates(offer, probe):
                break
        else:
            raise AssertionError("no Paperspace offer with an equivalent elsewhere")
        outcome = await flow.run(
            LaunchTarget.of(offer),
            opts("ps", max_price_per_hour=offer.price_per_hour * 3),
            confirm=Confirm(),
            choose=choose,
        )
    finally:
        await adapter.aclose()
    assert "POST /v1/machines" in seen
    ((failure, _),) = choose.offered
    assert "out of capacity" in failure
    assert outcome.instance.provider != "paperspace"
    assert outcome.instance.gpu_model == offer.gpu_model
    record = await services.store.journal.get("ps")
    assert record is not None and record.state == "done"
