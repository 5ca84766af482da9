"""The TUI on the one launch flow (engine/launch_flow.py), on the demo market: the form
launches through `LaunchFlow.run`, a preflight that finds the offer gone or over the
maximum offers the next equivalent right there (no dead end), and no key pressed twice
launches twice."""

from __future__ import annotations

from typing import Any

import pytest
from textual import events
from textual.widgets import Button, Input, Select

from gpucm import formatting as fmt
from gpucm.domain.models import Instance, Offer, SearchQuery
from gpucm.domain.pricing import default_bid
from gpucm.engine.capabilities import capabilities
from gpucm.engine.launch_flow import LaunchFlow
from gpucm.engine.launch_options import LaunchOptions
from gpucm.engine.launcher import Preflight
from gpucm.providers.demo_instances import fails_for_capacity
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.launch_confirm import ConfirmLaunchScreen
from gpucm.tui.screens.launch_form import DEFAULT_DISK_GB
from tests.conftest import launchable
from tests.tui.helpers import open_form, settle
from tests.tui.test_launch_and_instances import demo_machines, text_of, top

GONE = "which is gone"
OVER = "which is over your maximum"


def form_disk(offer: Offer) -> float | None:
    """The disk the launch form asks for by default (priced into the all-in)."""
    if not capabilities(offer.provider).storage_billed_separately:
        return None
    return min(DEFAULT_DISK_GB, offer.storage_gb or DEFAULT_DISK_GB)


def probe(offer: Offer, **kw: Any) -> LaunchOptions:
    return LaunchOptions(request_id="probe", label="probe", disk_gb=form_disk(offer), **kw)


def good_first(candidates: list[Preflight]) -> bool:
    """The first equivalent offered would launch (the demo refuses some for capacity)."""
    return bool(candidates) and not fails_for_capacity(candidates[0].offer.id)


async def gone_with_an_equivalent(services: Services) -> tuple[Offer, Preflight]:
    """An offer the provider no longer lists (its id is not in the market any more) and
    the equivalent the flow offers first."""
    page = await services.store.search(SearchQuery(limit=300))
    for listed in page.offers:
        gone = listed.model_copy(update={"id": f"{listed.id}-gone"})
        candidates = await services.launcher.failover_candidates(gone, probe(gone), why=GONE)
        if good_first(candidates):
            return gone, candidates[0]
    raise AssertionError("no offer with a launchable equivalent")


async def over_maximum_with_an_equivalent(services: Services) -> tuple[Offer, float, Preflight]:
    """An offer whose all-in price is just over a maximum that a cheaper equivalent
    stays under, the maximum, and that equivalent."""
    page = await services.store.search(SearchQuery(limit=300, sort_by="price", sort_order="desc"))
    launcher = services.launcher
    for offer in page.offers:
        pre = await launcher.preflight(offer, probe(offer))
        if not pre.ok:
            continue
        maximum = round(pre.cost.per_hour - 0.001, 3)
        candidates = await launcher.failover_candidates(
            offer, probe(offer, max_price_per_hour=maximum), why=OVER
        )
        if good_first(candidates):
            return offer, maximum, candidates[0]
    raise AssertionError("no offer with a cheaper launchable equivalent")


async def test_the_form_launches_through_the_one_launch_flow(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    calls: list[str] = []
    original = LaunchFlow.run

    async def run(self: LaunchFlow, target: Any, options: LaunchOptions, **kw: Any) -> Any:
        calls.append(target.describe())
        return await original(self, target, options, **kw)

    monkeypatch.setattr(LaunchFlow, "run", run)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, services, offer)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmLaunchScreen)
        assert calls == [f"offer {offer.id}"]  # the flow asks; it has not launched
        assert await demo_machines(services) == 0
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        assert calls == [f"offer {offer.id}"] and await demo_machines(services) == 1


async def test_an_offer_gone_at_review_offers_the_equivalent_and_launches_it(
    services: Services,
) -> None:
    gone, equivalent = await gone_with_an_equivalent(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, gone)
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)  # not a dead end
        assert confirm.pre.offer.id == equivalent.offer.id
        assert confirm.pre.replaces is not None and confirm.pre.replaces.id == gone.id
        headline = text_of(confirm, "#lc-headline")
        assert GONE in headline and "instead (same GPU and count)" in headline
        assert gone.gpu_model in headline
        launch = confirm.query_one("#lc-launch", Button)
        assert str(launch.label) == "Launch that instead" and not launch.disabled
        assert confirm.focused is launch
        # the price of what it launches instead is on screen, all-in
        assert "All-in" in text_of(confirm, "#lc-facts")
        assert await demo_machines(services) == 0  # offering it launched nothing
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        listed = await services.instances.list()
        assert [i.offer_id for i in listed] == [equivalent.offer.id]
        record = await services.store.journal.get(form.request_id)
        assert record is not None and record.state == "done"
        assert record.offer_id == equivalent.offer.id
        assert record.reserved_per_hour == pytest.approx(confirm.pre.cost.per_hour)


async def twice_without_capacity(services: Services) -> tuple[Offer, Preflight, Preflight]:
    """An offer the demo refuses for capacity, whose first equivalent it refuses too,
    and the equivalent offered after that, which it launches."""
    page = await services.store.search(SearchQuery(limit=1000))
    launcher = services.launcher
    for offer in page.offers:
        if (
            not fails_for_capacity(offer.id)
            or not (await launcher.preflight(offer, probe(offer))).ok
        ):
            continue
        first = await launcher.failover_candidates(offer, probe(offer), exclude=[offer.id])
        if not first or not fails_for_capacity(first[0].offer.id):
            continue
        tried = [offer.id, first[0].offer.id]
        then = await launcher.failover_candidates(offer, probe(offer), exclude=tried)
        if good_first(then):
            return offer, first[0], then[0]
    raise AssertionError("no offer whose first equivalent has no capacity either")


async def test_an_equivalent_without_capacity_either_is_said_with_the_next(
    services: Services,
) -> None:
    """The second round said only that the first offer had no capacity, and named the
    next equivalent as if the one just chosen had not been tried."""
    offer, first, then = await twice_without_capacity(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, services, offer)
        await pilot.press("enter")  # review
        await settle(pilot)
        await pilot.press("enter")  # Launch: no capacity
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        assert confirm.pre.offer.id == first.offer.id
        assert "either" not in text_of(confirm, "#lc-headline")
        title = text_of(confirm, "#lc-title").strip()
        assert title.startswith("Launch ") and title.endswith(" instead?"), title
        await pilot.press("enter")  # Launch that instead: no capacity either
        await settle(pilot)
        assert confirm.pre.offer.id == then.offer.id
        headline = " ".join(text_of(confirm, "#lc-headline").split())
        tried = first.offer
        assert f"{tried.gpu_model} at " in headline
        assert f"({tried.region}) had no capacity either" in headline, headline
        assert f"({then.offer.region}) for " in headline
        assert await demo_machines(services) == 0  # nothing launched while asking
        await pilot.press("enter")
        await settle(pilot)
        assert [i.offer_id for i in await services.instances.list()] == [then.offer.id]


async def test_back_on_the_equivalent_launches_nothing_and_says_why(services: Services) -> None:
    gone, _ = await gone_with_an_equivalent(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, services, gone)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmLaunchScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert top(app) is form
        error = text_of(form, "#lf-error")
        assert "the offer is gone" in error and "nothing was launched" in error
        assert not form.reviewing  # the form may be changed and reviewed again
        assert await demo_machines(services) == 0
        assert await services.store.journal.get(form.request_id) is None


async def test_an_offer_over_the_maximum_offers_a_cheaper_equivalent(services: Services) -> None:
    offer, maximum, equivalent = await over_maximum_with_an_equivalent(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        form.query_one("#lf-max-price", Input).value = f"{maximum:.3f}"
        await pilot.pause()
        form.action_review()
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        assert confirm.pre.ok and confirm.pre.offer.id == equivalent.offer.id
        assert confirm.pre.cost.per_hour <= maximum
        assert OVER in text_of(confirm, "#lc-headline")
        assert str(confirm.query_one("#lc-launch", Button).label) == "Launch that instead"
        confirm.action_launch()
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        assert [i.offer_id for i in await services.instances.list()] == [equivalent.offer.id]


async def test_enter_typed_twice_on_the_form_and_twice_on_the_price_launches_once(
    services: Services,
) -> None:
    """Keys typed together reach the app together, stamped when they were read: the
    second Enter on the form was typed before the price was on screen, so it launches
    nothing; two Enters on the price launch one machine."""
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        app.post_message(events.Key("enter", "\r"))
        app.post_message(events.Key("enter", "\r"))
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen) and not confirm.launching
        # one confirmation for the one request, not one per Enter
        assert [type(s) for s in app.screen_stack].count(ConfirmLaunchScreen) == 1
        assert await demo_machines(services) == 0
        app.post_message(events.Key("enter", "\r"))
        app.post_message(events.Key("enter", "\r"))
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        assert await demo_machines(services) == 1
        launches = [r for r in await services.store.journal.recent() if r.state == "done"]
        assert [r.request_id for r in launches] == [form.request_id]


# -- interruptible (spot) -------------------------------------------------------------------


async def test_spot_form_bids_the_minimum_plus_margin_refuses_less_and_launches_spot(
    services: Services,
) -> None:
    offer = await launchable(services, providers=("vast_ai",))
    assert offer.min_bid_per_gpu_hour is not None and offer.spot_price_per_hour is not None
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        rental = form.query_one("#lf-rental", Select)
        bid = form.query_one("#lf-bid", Input)
        assert rental.value == "on-demand" and bid.disabled  # on demand unless chosen
        assert float(bid.value) == pytest.approx(default_bid(offer.min_bid_per_gpu_hour))
        rental.value = "interruptible"
        await pilot.pause()
        assert not bid.disabled
        note = text_of(form, "#lf-note-interruptible")
        assert "stops when outbid" in note and "disk stays and keeps billing" in note
        bid.value = f"{offer.min_bid_per_gpu_hour * 0.5:.4f}"
        await pilot.pause()
        form.action_review()
        await settle(pilot)
        assert top(app) is form and bid.has_class("-bad") and bid.has_focus
        assert "below the minimum" in text_of(form, "#lf-error")
        bid.value = f"{default_bid(offer.min_bid_per_gpu_hour):.4f}"
        await pilot.pause()
        form.action_review()
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen) and confirm.pre.ok
        assert confirm.pre.interruptible
        facts = text_of(confirm, "#lc-facts")
        expected = fmt.bid(default_bid(offer.min_bid_per_gpu_hour))
        assert f"interruptible, bid {expected}/GPU·h" in facts
        assert "stops when outbid" in facts  # the engine's caveat, as a warning
        await pilot.press("enter")
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        [instance] = await services.instances.list()
        assert instance.interruptible
        assert manager.table.get_cell(instance.id, "status").plain == "provisioning (spot)"
        assert "Interruptible (spot)" in text_of(manager, "#instances-detail")


async def test_the_interruptible_warning_shows_only_while_interruptible_is_chosen(
    services: Services,
) -> None:
    offer = await launchable(services, providers=("vast_ai",))
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        rental = form.query_one("#lf-rental", Select)
        warning = form.query_one("#lf-note-interruptible")

        def shown() -> bool:
            return warning.display and warning.region.area > 0

        assert rental.value == "on-demand" and not shown()  # on demand: no spot warning
        rental.value = "interruptible"
        await pilot.pause()
        assert shown() and "stops when outbid" in text_of(form, "#lf-note-interruptible")
        rental.value = "on-demand"
        await pilot.pause()
        assert not shown()


async def test_without_a_spot_price_the_form_says_why_it_cannot_be_chosen(
    services: Services,
) -> None:
    listed = await launchable(services, providers=("vast_ai",))
    offer = listed.model_copy(update={"spot_price_per_hour": None})
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        assert form.query_one("#lf-rental", Select).disabled
        assert not form.query("#lf-note-interruptible")  # no warning for what cannot be had
        why = form.query_one("#lf-note-no-spot")
        assert why.display and why.region.area > 0
        assert "lists no interruptible price for this offer now" in text_of(
            form, "#lf-note-no-spot"
        )


async def test_no_rental_choice_where_the_provider_has_no_spot(services: Services) -> None:
    offer = await launchable(services, "A10", providers=("lambda_labs",))
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, services, offer)
        assert not form.query("#lf-rental") and not form.query("#lf-bid")
        assert not form.read_options().interruptible


async def test_the_manager_says_spot_and_an_outbid_stop(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services, providers=("vast_ai",))
    options = LaunchOptions(request_id="spot", label="train", interruptible=True)
    launcher = services.launcher
    await launcher.launch(await launcher.preflight(offer, options), options)
    control = services.control("vast_ai")
    listed = control.list_instances

    async def outbid() -> list[Instance]:  # the provider reports a higher bid took it
        return [
            i.model_copy(update={"status": "stopped", "status_reason": "outbid"})
            for i in await listed()
        ]

    monkeypatch.setattr(control, "list_instances", outbid)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        [instance] = await services.instances.list()
        assert instance.status_reason == "outbid"
        assert manager.table.get_cell(instance.id, "status").plain == "stopped (outbid)"
        detail = text_of(manager, "#instances-detail")
        assert "outbid" in detail and "disk stays and keeps billing" in detail


async def test_every_form_field_tabbed_to_at_80x24_is_drawn_above_the_buttons(
    services: Services,
) -> None:
    """At 80x24 the form's body scrolls under its docked buttons: a field that Tab
    reaches is drawn where the user sees it (the rental and the bid sit last, and were
    left under the buttons while they had the focus)."""
    offer = await launchable(services, providers=("vast_ai",))
    assert offer.spot_price_per_hour is not None  # the rental row is offered
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        form = await open_form(pilot, services, offer)
        body = form.query_one("#launch-dialog")
        footer = form.query_one(".dialog-bottom")
        rental = form.query_one("#lf-rental", Select)
        seen: set[str] = set()
        for _ in range(40):
            await pilot.press("tab")
            await pilot.pause()
            focused = form.focused
            assert focused is not None
            if focused.id == "lf-review":
                break
            if focused in footer.walk_children() or focused is footer:
                continue
            region = focused.region
            assert region and body.content_region.y <= region.y < footer.region.y, focused.id
            seen.add(focused.id or "")
        # Tab reaches the rental and the bid before the buttons, as the form reads
        assert rental.id in seen and "lf-gb-out" in seen
