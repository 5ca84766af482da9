"""Pilot tests of the money path in the TUI on the demo market: the launch form, its
confirmation and failover, and the instance manager's lifecycle actions."""

from __future__ import annotations

import contextlib
import io
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual import events
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from gpucm import paths
from gpucm.domain.models import Instance, Offer, SearchQuery
from gpucm.engine.capabilities import not_honoured, unsupported_fields
from gpucm.engine.launch_options import LaunchOptions
from gpucm.providers.demo_instances import PROVISION_SECONDS, fails_for_capacity
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.instance_text import budget_line, limits_sentence, refusal
from gpucm.tui.screens.compare import CompareScreen
from gpucm.tui.screens.help import KEY_HELP
from gpucm.tui.screens.instance_detail import InstanceDetailScreen
from gpucm.tui.screens.instances import InstancesScreen
from gpucm.tui.screens.launch_confirm import ConfirmLaunchScreen
from gpucm.tui.screens.launch_form import LaunchScreen, field_notes
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.mark_bad import MarkBadScreen
from gpucm.tui.screens.terminate import TerminateScreen
from tests.conftest import SteppedClock as Clock
from tests.conftest import launchable
from tests.tui.helpers import open_form, record_notes, settle


def top(app: GpucmApp) -> object:
    """The active screen, read afresh (no narrowing carried over from an earlier check)."""
    return app.screen


async def demo_machines(services: Services) -> int:
    total = 0
    for provider in services.provider_names():
        records = await services.store.get_demo_state(f"instances:{provider}") or {}
        total += len(records)
    return total


async def launch_directly(services: Services, offer: Offer, request_id: str) -> Instance:
    options = LaunchOptions(request_id=request_id, label="train")
    launcher = services.launcher
    outcome = await launcher.launch(await launcher.preflight(offer, options), options)
    return outcome.instance


def text_of(screen: Any, selector: str) -> str:
    """What a Static shows, as plain text (rich tables included)."""
    content = screen.query_one(selector, Static).content
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(content)
    return console.export_text()


# -- pure helpers ------------------------------------------------------------------------


def test_field_notes_are_the_engines_sentences() -> None:
    lam = field_notes("lambda_labs")
    assert set(lam) == {
        "image",
        "env",
        "ports",
        "auto_shutdown",
        "ssh_public_key",
        "interruptible",
    }
    assert "ssh_key" not in lam  # Lambda takes one key per launch
    everything = LaunchOptions(
        request_id="x",
        label="x",
        image="i",
        environment=(("K", "v"),),
        ports=((1, "tcp"),),
        auto_terminate_hours=1.0,
        ssh_key_name="k",
        ssh_public_key="ssh-ed25519 AAAA",
        interruptible=True,
    )
    # one copy of the rules: each note is the engine's sentence, under its field (spot
    # is refused, not ignored: its note is the refusal)
    sentences = unsupported_fields("lambda_labs", everything) + not_honoured(
        "lambda_labs", everything
    )
    assert len(sentences) == len(lam)
    for note in lam.values():
        assert any(s.lower().endswith(note.lower()) for s in sentences)
    assert lam["image"].startswith("Lambda Cloud runs VMs")
    vast = field_notes("vast_ai")
    assert "image" not in vast and "env" not in vast and "ports" not in vast
    # a provider gpucm does not know honours nothing it cannot vouch for
    assert set(field_notes("no-such-provider")) == {
        "image",
        "env",
        "ports",
        "auto_shutdown",
        "ssh_key",
        "ssh_public_key",
        "interruptible",
        "file_systems",
    }


def test_limits_sentence_says_cannot_for_each_missing_action() -> None:
    assert limits_sentence("lambda_labs") == (
        "Lambda Cloud cannot stop or start a machine (terminate it instead) "
        "and cannot show logs (use SSH)."
    )
    assert limits_sentence("vast_ai") == "Vast.ai cannot show logs (use SSH)."
    assert limits_sentence("runpod") == ""  # REST v2: stop, start, restart and logs


def test_help_lists_launch_and_instances() -> None:
    act = dict(dict(KEY_HELP)["Act"])  # keys by binding id (tui/keymap.py)
    assert "{table.launch}" in act and "{table.instances}" in act


# -- launching -----------------------------------------------------------------------------


async def highlight(pilot: Pilot[None], app: GpucmApp, offer: Offer) -> None:
    """Narrow the main table to the offer's model and put the cursor on it."""
    main = app.screen
    assert isinstance(main, MainScreen)
    main.apply_query(SearchQuery(gpu_models=(offer.gpu_model,), providers=(offer.provider,)), "t")
    await settle(pilot)
    for _ in range(200):
        row = main.table.highlighted
        assert row is not None
        if row.id == offer.id:
            return
        await pilot.press("j")
    raise AssertionError(f"{offer.id} not in the table")


async def test_L_form_review_confirm_launches_one_instance(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await highlight(pilot, app, offer)
        await pilot.press("L")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen)
        assert form.offer.id == offer.id
        request_id = form.request_id
        await pilot.press("enter")  # in the label field: review
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        assert confirm.pre.ok
        assert confirm.options.request_id == request_id
        facts = text_of(confirm, "#lc-facts")
        assert "All-in" in facts and "estimated, 50 GB" in facts
        assert await demo_machines(services) == 0  # nothing launched by reviewing
        await pilot.press("enter")  # Launch has the focus
        await settle(pilot)
        manager = app.screen
        assert isinstance(manager, InstancesScreen)
        listed = await services.instances.list()
        assert len(listed) == 1
        assert listed[0].request_id == request_id
        assert manager.current is not None and manager.current.id == listed[0].id
        record = await services.store.journal.get(request_id)
        assert record is not None and record.state == "done"


async def test_confirm_pressed_twice_launches_once(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, services, offer)
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        confirm.action_launch()
        assert confirm.query_one("#lc-launch", Button).disabled
        confirm.action_launch()  # a second press before the provider answers
        await pilot.press("enter")
        await settle(pilot)
        assert await demo_machines(services) == 1
        assert len(await services.instances.list()) == 1


async def test_reviewing_twice_keeps_the_request_id(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        await pilot.press("enter")
        await settle(pilot)
        first = app.screen
        assert isinstance(first, ConfirmLaunchScreen)
        await pilot.press("escape")  # back to the form, then review again
        await settle(pilot)
        assert top(app) is form
        await pilot.press("enter")
        await settle(pilot)
        second = app.screen
        assert isinstance(second, ConfirmLaunchScreen)
        assert second.options.request_id == first.options.request_id == form.request_id


async def failing_with_an_equivalent(services: Services) -> tuple[Offer, Offer]:
    """An offer the demo refuses for capacity whose first failover would launch."""
    page = await services.store.search(SearchQuery(limit=None))
    launcher = services.launcher
    for offer in page.offers:
        if not fails_for_capacity(offer.id):
            continue
        options = LaunchOptions(request_id="probe", label="probe")
        candidates = await launcher.failover_candidates(offer, options)
        if candidates and not fails_for_capacity(candidates[0].offer.id):
            return offer, candidates[0].offer
    raise AssertionError("no failing offer with an equivalent")


async def test_capacity_failure_offers_the_equivalent_and_launches_it(
    services: Services,
) -> None:
    failing, equivalent = await failing_with_an_equivalent(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        form = LaunchScreen(services, failing)
        await app.push_screen(form)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        await pilot.press("enter")
        await settle(pilot)
        assert top(app) is confirm  # the choice, not a launch
        assert confirm.candidates
        assert confirm.pre.offer.id == equivalent.id
        headline = text_of(confirm, "#lc-headline")
        assert "instead (same GPU and count)" in headline
        assert failing.gpu_model in headline
        launch = confirm.query_one("#lc-launch", Button)
        assert str(launch.label) == "Launch that instead" and not launch.disabled
        assert await demo_machines(services) == 0
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
        listed = await services.instances.list()
        assert len(listed) == 1
        assert listed[0].offer_id == equivalent.id
        record = await services.store.journal.get(form.request_id)
        assert record is not None
        assert record.state == "done" and record.offer_id == equivalent.id
        # the price kept is the one confirmed for the offer that launched
        assert record.reserved_per_hour == confirm.pre.cost.per_hour


async def test_lambda_form_disables_what_lambda_cannot_do(services: Services) -> None:
    offer = await launchable(services, "A10", providers=("lambda_labs",))
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, services, offer)
        form = app.screen
        assert isinstance(form, LaunchScreen)
        assert form.query_one("#lf-image", Input).disabled
        assert form.query_one("#lf-image-preset", Select).disabled
        assert form.query_one("#lf-ports", Input).disabled
        assert form.query_one("#lf-auto-terminate", Input).disabled
        assert all(i.disabled for i in form.query(".lf-env-key, .lf-env-value").results(Input))
        assert not form.query_one("#lf-label", Input).disabled
        assert not form.query_one("#lf-ssh-key", Input).disabled
        assert "Lambda Cloud runs VMs with its own OS image" in text_of(form, "#lf-note-image")
        assert "port mapping" in text_of(form, "#lf-note-ports")
        assert form.check_action("add_env", ()) is None


async def test_bad_input_shows_a_hint_and_checks_nothing(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(services)
    calls: list[object] = []

    async def no_preflight(*args: object, **kwargs: object) -> None:
        calls.append(args)

    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        monkeypatch.setattr(type(services), "launch_flow", property(lambda s: no_preflight))
        disk = form.query_one("#lf-disk", Input)
        disk.value = "lots"
        await pilot.pause()
        form.action_review()
        await settle(pilot)
        assert "Disk GB: 'lots' is not a number" in text_of(form, "#lf-error")
        assert disk.has_class("-bad") and disk.has_focus
        disk.value = "80"
        form.query_one("#lf-ports", Input).value = "8888/tcp, 70000"
        await pilot.pause()
        assert not disk.has_class("-bad")  # an edit clears the mark
        form.action_review()
        await settle(pilot)
        error = "Ports: '70000': a port is a number from 1 to 65535, like 8888/tcp"
        assert error in text_of(form, "#lf-error")
        assert top(app) is form
        assert calls == []


async def test_env_values_never_reach_the_screen_or_the_database(services: Services) -> None:
    secret = "hf_Sup3rSecretTokenValue"
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        form.query_one(".lf-env-key", Input).focus()
        await pilot.press(*"HF_TOKEN", "tab", *secret)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press(*"WANDB_MODE", "tab", *"offline")
        await settle(pilot)
        assert secret not in app.export_screenshot()
        options = form.read_options()
        assert dict(options.environment) == {"HF_TOKEN": secret, "WANDB_MODE": "offline"}
        form.action_review()
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        shot = app.export_screenshot()
        assert "HF_TOKEN" in shot and secret not in shot
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstancesScreen)
    await services.store.close()
    db = Path(services.store.path)
    for path in db.parent.glob(db.name + "*"):
        assert secret.encode() not in path.read_bytes(), path


# -- the instance manager ------------------------------------------------------------------


def selected(compare: CompareScreen) -> Offer | None:
    return compare.selected


def status(manager: InstancesScreen) -> str | None:
    return manager.current.status if manager.current else None


def manager_of(app: GpucmApp) -> InstancesScreen:
    screen = app.screen
    assert isinstance(screen, InstancesScreen), screen
    return screen


async def test_manager_lifecycle_stop_start_terminate(
    stepped_market: Services, stepped_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(stepped_market)
    instance = await launch_directly(stepped_market, offer, "life")
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = manager_of(app)
        assert manager.current is not None and manager.current.id == instance.id
        assert status(manager) == "provisioning"
        row = manager.table.get_row(instance.id)
        assert instance.name in [cell.plain for cell in row]
        spend_line = text_of(manager, "#instances-spend")
        assert f"${offer.price_per_hour:.3f}/h" in spend_line

        stepped_clock.advance(PROVISION_SECONDS + 1)
        await pilot.press("r")
        await settle(pilot)
        assert status(manager) == "running"
        assert "running" in [cell.plain for cell in manager.table.get_row(instance.id)]

        await pilot.press("x")
        await settle(pilot)
        assert status(manager) == "stopped"
        assert manager.check_action("act", ("stop",)) is None  # nothing left to stop
        await pilot.press("u")
        await settle(pilot)
        assert status(manager) == "provisioning"
        stepped_clock.advance(15)
        await pilot.press("r")
        await settle(pilot)
        assert status(manager) == "running"

        await pilot.press("t")
        await settle(pilot)
        assert isinstance(app.screen, TerminateScreen)
        dialog = app.screen
        await pilot.press(*"not-the-name", "enter")
        await settle(pilot)
        # a typo keeps the dialog up, says so, and lets the name be typed again
        assert top(app) is dialog
        assert "nothing was terminated" in text_of(dialog, "#terminate-error")
        assert dialog.query_one(Input).value == ""
        assert (await stepped_market.instances.find(instance.id)).status == "running"

        await pilot.press(*instance.name, "enter")
        await settle(pilot)
        assert await stepped_market.instances.list() == []
        assert manager.table.row_count == 0
        assert "No instances" in text_of(manager, "#instances-detail")


async def test_accrued_ticks_between_syncs_and_a_terminated_machines_spend_stays(
    stepped_market: Services, stepped_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(stepped_market)
    instance = await launch_directly(stepped_market, offer, "ledger")
    rate = offer.price_per_hour
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = manager_of(app)
        stepped_clock.advance(2 * 3600)
        await pilot.press("r")
        await settle(pilot)
        shown = manager.table.get_cell(instance.id, "accrued").plain
        assert shown == f"~${2 * rate:.3f}"  # the demo reports no billed rate: ~
        # an hour later with no sync: the tick moves the figure on from the rate,
        # changing only the cells that moved (no new table)
        relaid: list[int] = []
        monkeypatch.setattr(manager.table, "set_data", lambda *a, **k: relaid.append(1))
        stepped_clock.advance(3600)
        manager.tick()
        assert manager.table.get_cell(instance.id, "accrued").plain == f"~${3 * rate:.3f}"
        assert (
            manager.table.update_cells(
                {instance.id: {"name": manager.table.get_cell(instance.id, "name")}}
            )
            == 0
        )  # an unchanged cell repaints nothing
        assert relaid == []
        monkeypatch.undo()
        header = text_of(manager, "#instances-spend")
        assert f"${rate:.3f}/h" in header and f"today ~${3 * rate:.3f}" in header

        await stepped_market.instances.act(instance, "terminate")
        manager.reload()
        await settle(pilot)
        stepped_clock.advance(3600)
        manager.tick()
        header = text_of(manager, "#instances-spend")
        # nothing runs now, and the day's spend is still there
        assert header.startswith("billed $0.000/h") and f"today ~${3 * rate:.3f}" in header
        await pilot.press("a")  # terminated machines too
        await settle(pilot)
        assert manager.table.get_cell(instance.id, "accrued").plain == f"~${3 * rate:.3f}"

    async with GpucmApp(stepped_market, refresh=False).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        header = text_of(manager_of(pilot.app), "#instances-spend")
        assert len(header.splitlines()) == 1 and f"~${3 * rate:.3f}" in header


async def test_lambda_stop_is_greyed_and_says_why(
    stepped_market: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(stepped_market, "A10", providers=("lambda_labs",))
    instance = await launch_directly(stepped_market, offer, "lam")
    app = GpucmApp(stepped_market, refresh=False)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = manager_of(app)
        assert manager.check_action("act", ("stop",)) is None
        assert manager.check_action("terminate", ()) is True
        await pilot.press("x")
        await settle(pilot)
        assert (await stepped_market.instances.find(instance.id)).status == "provisioning"
        sentence = "Lambda Cloud cannot stop or start a machine: terminate it instead."
        assert refusal(manager.current, "stop") == sentence
        assert "Lambda Cloud cannot stop or start" in text_of(manager, "#instances-detail")
        manager.action_act("stop")  # reached another way: refused, with the sentence
        assert sentence in notes


async def test_ssh_on_a_demo_instance_notifies_and_y_copies(
    stepped_market: Services, stepped_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    offer = await launchable(stepped_market)
    instance = await launch_directly(stepped_market, offer, "ssh")
    stepped_clock.advance(PROVISION_SECONDS + 1)
    await stepped_market.instances.sync()

    def no_ssh(*args: object, **kwargs: object) -> None:
        raise AssertionError("ssh must not run for a demo machine")

    monkeypatch.setattr(subprocess, "run", no_ssh)
    app = GpucmApp(stepped_market, refresh=False)
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        command = f"ssh root@{instance.provider_id}.demo.invalid"
        await pilot.press("s")
        await settle(pilot)
        assert any(command in n for n in notes)
        await pilot.press("y")
        await settle(pilot)
        assert app.clipboard == command
        assert f"Copied: {command}" in notes
        await pilot.press("enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, InstanceDetailScreen)
        facts = text_of(detail, "#instance-facts")
        assert "ssh" in facts and "provider says 'running'" in facts


async def test_a_real_instance_hands_the_terminal_to_ssh(
    stepped_market: Services, stepped_clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real machine: the app suspends and runs the system ssh; where it cannot
    suspend (the test driver, Textual Web) the command is shown instead."""
    offer = await launchable(stepped_market)
    instance = await launch_directly(stepped_market, offer, "real")
    stepped_clock.advance(PROVISION_SECONDS + 1)
    await stepped_market.instances.sync()
    monkeypatch.setattr("gpucm.tui.screens.instances.is_demo", lambda _i: False)
    ran: list[object] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: ran.append(cmd))
    app = GpucmApp(stepped_market, refresh=False)
    notes = record_notes(app, monkeypatch)
    command = ["ssh", f"root@{instance.provider_id}.demo.invalid"]
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("s")  # the headless driver cannot suspend
        await settle(pilot)
        assert ran == []
        assert any("cannot be handed to ssh" in n and " ".join(command) in n for n in notes)
        monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
        await pilot.press("s")
        await settle(pilot)
        assert ran == [command]


async def until(pilot: Pilot[None], check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Pause until `check` holds (the app's refresh workers never finish, so waiting for
    every worker is not an option here)."""
    for _ in range(int(seconds / 0.1)):
        if await check():
            return
        await pilot.pause(0.1)
    raise AssertionError("stepped_market out")


async def test_the_app_syncs_once_at_start_and_on_a_timer_while_the_manager_is_open(
    stepped_market: Services, stepped_clock: Clock
) -> None:
    offer = await launchable(stepped_market)
    instance = await launch_directly(stepped_market, offer, "timer")
    stepped_clock.advance(PROVISION_SECONDS + 1)  # the store still says provisioning

    async def stored_status(wanted: str) -> bool:
        current = await stepped_market.store.instances.get(instance.id)
        return current is not None and current.status == wanted

    app = GpucmApp(stepped_market, refresh=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: stored_status("running"), 10)
        await stepped_market.instances.act(instance, "restart")  # provisioning again, for 10 s
        await pilot.press("i")
        manager = manager_of(app)

        async def shown(wanted: str) -> bool:
            return status(manager) == wanted

        await until(pilot, lambda: shown("provisioning"), 5)
        stepped_clock.advance(11)
        await until(pilot, lambda: shown("running"), 5)  # no key pressed: the 2 s timer


def set_budget(services: Services, hourly: float) -> None:
    cfg = paths.config_file()
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(f"[budget]\nmax_hourly_usd = {hourly:.6f}\n")
    services.settings_source._checked -= 5  # re-read the file now, not in a second


async def test_spend_line_warns_near_the_budget_and_flags_passing_it(
    stepped_market: Services,
) -> None:
    offer = await launchable(stepped_market)
    await launch_directly(stepped_market, offer, "budget")
    set_budget(stepped_market, offer.price_per_hour / 0.85)
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        manager = manager_of(app)
        line = manager.query_one("#instances-spend", Static)
        assert "85%" in text_of(manager, "#instances-spend")
        assert line.has_class("-warn") and not line.has_class("-over")
        set_budget(stepped_market, offer.price_per_hour / 2)
        await pilot.press("r")
        await settle(pilot)
        assert "200%" in text_of(manager, "#instances-spend")
        assert line.has_class("-over")


async def test_problems_disable_confirm_and_say_why(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        form.query_one("#lf-max-price", Input).value = "0.01"
        await pilot.pause()
        form.action_review()
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        assert not confirm.pre.ok
        assert confirm.query_one("#lc-launch", Button).disabled
        status = text_of(confirm, "#lc-status")
        assert status.startswith("Cannot launch:") and "over your maximum" in status
        assert "Blocked" in text_of(confirm, "#lc-facts")
        confirm.action_launch()
        await pilot.press("enter")
        await settle(pilot)
        assert await demo_machines(services) == 0


def test_budget_line_warns_from_the_warn_fraction() -> None:
    from gpucm.config import BudgetSettings

    line = budget_line(BudgetSettings(max_hourly_usd=1.0), 0.85)
    assert line is not None
    text, fullest = line
    assert "$0.850/h of $1.00/h (85%)" in text and fullest == pytest.approx(0.85)
    assert budget_line(BudgetSettings(), 0.85) is None
    # the month: spent so far plus the rate to its end, against the monthly budget
    line = budget_line(BudgetSettings(monthly_usd=100.0), 0.5, 90.0, short=True)
    assert line == ("budget 90% of $100.00/mo", pytest.approx(0.9))


# -- integration ----------------------------------------------------------------------------


async def test_L_is_greyed_without_a_highlighted_offer(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert main.check_action("launch", ()) is True
        main.apply_query(SearchQuery(max_price=0.0001), "t")
        await settle(pilot)
        assert main.table.highlighted is None
        assert main.check_action("launch", ()) is None
        await pilot.press("L")
        await settle(pilot)
        assert top(app) is main


async def test_compare_launches_the_offer_under_the_cursor(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("space", "j", "space", "c")
        await settle(pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        first, second = compare.offers
        assert selected(compare) == first
        await pilot.press("right")
        assert selected(compare) == second
        assert "launch #2" in text_of(compare, "#compare-hint")
        await pilot.press("L")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen)
        assert form.offer.id == second.id
        await pilot.press("escape")
        await settle(pilot)
        assert top(app) is compare
        await pilot.press("left", "left", "left")  # never onto the attribute labels
        await pilot.pause()
        assert selected(compare) == first
        assert compare.check_action("launch", ()) is True


async def test_an_enter_typed_before_the_confirmation_showed_does_not_launch(
    services: Services,
) -> None:
    """Enter pressed twice on the form: the second one was typed before the price was on
    screen, so it must not press Launch; a deliberate Enter afterwards does."""
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_form(pilot, services, offer)
        typed_ahead = events.Key("enter", "\r")  # stamped now, before the review
        await pilot.press("enter")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmLaunchScreen)
        assert confirm.focused is confirm.query_one("#lc-launch", Button)
        app.post_message(typed_ahead)
        await settle(pilot)
        assert top(app) is confirm and not confirm.launching
        assert await demo_machines(services) == 0
        await pilot.press("enter")
        await settle(pilot)
        assert await demo_machines(services) == 1


async def test_an_escape_typed_early_still_leaves_the_confirmation(services: Services) -> None:
    offer = await launchable(services)
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        form = await open_form(pilot, services, offer)
        early_escape = events.Key("escape", None)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmLaunchScreen)
        app.post_message(early_escape)
        await settle(pilot)
        assert top(app) is form  # back: it spends nothing, so it is never held back
        assert await demo_machines(services) == 0


async def test_b_marks_the_machine_bad_with_a_reason_and_its_offer_leaves(
    stepped_market: Services,
) -> None:
    offer = await launchable(stepped_market)
    await launch_directly(stepped_market, offer, "dud")
    app = GpucmApp(stepped_market, refresh=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("i")
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert isinstance(top(app), MarkBadScreen)
        await pilot.press("enter")  # no reason yet: it asks for one, and stays
        await settle(pilot)
        assert isinstance(top(app), MarkBadScreen)
        await pilot.press(*"no GPU")
        await pilot.press("enter")
        await settle(pilot)
        await app.workers.wait_for_complete()
        assert not isinstance(top(app), MarkBadScreen)
    [entry] = await stepped_market.store.hosts.list()
    assert (entry.host, entry.reason) == (offer.host_id, "no GPU")
    page = await stepped_market.store.search(SearchQuery(gpu_models=(offer.gpu_model,), limit=500))
    assert offer.id not in {o.id for o in page.offers}
