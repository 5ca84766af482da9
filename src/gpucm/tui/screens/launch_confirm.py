"""The launch confirmation: what the launch will cost and what stands in its way.
Only Launch here spends money.

The screen is the TUI's side of the one launch flow (engine/launch_flow.py), which
runs in the launch form's worker and asks this screen:

- `ask_launch(pre)`: Launch (True) or Back (False), for the offer as re-quoted;
- `ask_instead(failure, candidates)`: an equivalent offer instead of one that is gone,
  over the maximum, or out of capacity: "Launch that instead" (that one), n for the
  next option, or Back (None);

and tells it what happens: `progress(line)`, `launched(outcome)`, `stopped(...)`.
A refused preflight (a budget, a bad bid, no equivalent) is shown with Launch
disabled. Each question is answered at most once: a second press of Launch while the
first is on its way answers nothing, and the request id of the form makes one machine
at most in any case.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from gpucm import formatting as fmt
from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import display_name
from gpucm.engine.launch_options import LaunchOptions, tagged_label
from gpucm.engine.launcher import LaunchOutcome, Preflight
from gpucm.tui.screens.help import CONFIRM_LAUNCH_HELP, HELP_KEY
from gpucm.tui.text import clean, one_line

if TYPE_CHECKING:
    from gpucm.services import Services

log = logging.getLogger(__name__)

__all__ = ["ConfirmLaunchScreen", "event_clock"]


def where(offer: Offer) -> str:
    """The provider and the place: equivalents are often one provider's same GPU in
    other regions (Lambda Cloud), which the provider's name alone does not tell apart."""
    name = display_name(offer.provider)
    return f"{name} ({offer.region})" if offer.region else name


def event_clock() -> float:
    """Now, on the clock Textual stamps every event's `time` with: a Message made now
    carries it (public API; the clock itself is private to Textual)."""
    return Message().time


class ConfirmLaunchScreen(ModalScreen[Instance | None]):
    """What the launch will cost and what stands in its way; Launch spends the money.
    Dismissed with the new instance, or None to go back to the form."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "confirm--changed",
        "confirm--warning",
        "confirm--problem",
        "confirm--muted",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        # q too: the app's q would quit, and cancel a launch in flight with it
        Binding("escape,q", "back", "Back", id="confirm.back"),
        Binding("n", "next_option", "Next option", id="confirm.next_option"),
        HELP_KEY,
    ]
    HELP_TITLE = "confirm launch keys"
    KEYS_HELP = CONFIRM_LAUNCH_HELP

    def __init__(
        self,
        services: Services,
        pre: Preflight,
        options: LaunchOptions,
        *,
        refusal: str | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.pre = pre
        self.options = options
        # why the flow refused the launch (a refused preflight): shown, nothing to ask
        self.refusal = refusal
        self.launching = False
        self.failed = False  # an error ended this confirmation: nothing more to launch
        self.candidates: list[Preflight] = []
        self.candidate = 0
        # equivalents chosen here that had no capacity either, in the order tried
        self.also_failed: list[Offer] = []
        self.headline: Text | None = None
        self.shown_at = 0.0  # when the price now on screen was first painted
        # the flow's open question: answered with the offer to launch, or None
        self._answer: asyncio.Future[Preflight | None] | None = None

    def compose(self) -> ComposeResult:
        # not focusable itself: Tab cycles the buttons with no invisible stop
        with VerticalScroll(id="confirm-dialog", can_focus=False):
            yield Static("", classes="dialog-title", id="lc-title")
            yield Static("", id="lc-headline")
            yield Static("", id="lc-facts")
            with Vertical(classes="dialog-bottom"):
                yield Static("", id="lc-status")
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Launch", id="lc-launch", variant="success", compact=True)
                    yield Button("Next option (n)", id="lc-next", compact=True)
                    yield Button("Back", id="lc-back", compact=True)
                yield Static(
                    "enter: press the focused button   esc: back to the form",
                    classes="dialog-hint",
                    markup=False,
                )

    def on_mount(self) -> None:
        if self.candidates:
            self._show_candidate()
        else:
            self.show_preflight()

    def on_key(self, event: events.Key) -> None:
        # An Enter typed before this price was painted, such as a second Enter on the
        # form while the offer was being re-quoted, must not press Launch: it was not an
        # answer to this confirmation. Textual resolves bindings after the key has
        # bubbled up to the app, so stopping it here stops the button's press. Esc and
        # the rest still count: they cannot spend anything.
        if event.key == "enter" and event.time < self.shown_at:
            log.info("ignored %r typed before the confirmation was shown", event.key)
            event.stop()
            event.prevent_default()

    def _mark_shown(self) -> None:
        self.shown_at = event_clock()

    # -- the flow's questions ---------------------------------------------------------

    @property
    def asking(self) -> bool:
        """The flow waits for an answer here (Launch would answer it)."""
        return self._answer is not None and not self._answer.done()

    async def ask_launch(self, pre: Preflight) -> bool:
        """Launch (True) or Back (False), for `pre` as shown now."""
        self.pre, self.candidates, self.headline = pre, [], None
        return await self._ask() is not None

    async def ask_instead(self, failure: str, candidates: list[Preflight]) -> Preflight | None:
        """The equivalent to launch instead of an offer that cannot be (`failure` says
        why), or None (Back): the choice is the consent to its price."""
        log.info("offering %d equivalents: %s", len(candidates), failure)
        if self.launching and self.pre.replaces is not None:
            # the equivalent chosen here had no capacity either: the headline says so
            self.also_failed.append(self.pre.offer)
        self.candidates, self.candidate = candidates, 0
        self.pre = candidates[0]
        return await self._ask()

    def _ask(self) -> asyncio.Future[Preflight | None]:
        self._answer = asyncio.get_running_loop().create_future()
        self.launching = False
        if self.is_mounted:  # else on_mount shows it
            if self.candidates:
                self._show_candidate()
            else:
                self.show_preflight()
        return self._answer

    def _answer_with(self, chosen: Preflight | None) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(chosen)

    def progress(self, line: str) -> None:
        """What the flow does now, while it launches."""
        self.set_status(self._clean(line), "busy")

    def launched(self, outcome: LaunchOutcome) -> None:
        instance = outcome.instance
        verb = "Already launched" if outcome.reused else "Launched"
        self.app.notify(
            self._clean(
                f"{verb} {instance.name or instance.id} at "
                f"{display_name(instance.provider)} ({instance.status})."
            ),
            title="Launch",
            markup=False,
        )
        self.launching = False
        self.dismiss(instance)

    def stopped(self, message: str, kind: str = "problem", *, headline: bool = False) -> None:
        """The flow ended without a machine (or in doubt): say so, Back only."""
        message = self._clean(message)
        self.launching = False
        self.failed = True
        self.candidates = []
        if headline:
            self.headline = Text(one_line(message), style=self._style(kind))
        self.show_preflight()
        self.set_status(message, kind)
        self.app.notify(message, severity="error", markup=False)

    # -- rendering ------------------------------------------------------------------

    def _style(self, name: str) -> str:
        style = self.get_component_rich_style(f"confirm--{name}", partial=True)
        return str(style) if style else ""

    def facts(self) -> Table:
        pre, options = self.pre, self.options
        offer, cost = pre.offer, pre.cost
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        rows: list[tuple[str, Text]] = [
            (
                "Provider",
                Text(f"{display_name(offer.provider)}  ({offer.id}, {offer.region or '-'})"),
            ),
            (
                "GPU",
                Text(
                    f"{offer.gpu_count} x {offer.gpu_model}, "
                    f"{fmt.gigabytes(offer.gpu_memory_gb)} VRAM each, "
                    f"{fmt.number(offer.vcpus)} vCPU, {fmt.gigabytes(offer.ram_gb)} RAM"
                ),
            ),
        ]
        all_in = Text(f"{fmt.price(cost.per_hour)}/h")
        all_in.stylize("bold")
        if cost.storage_per_hour:
            detail = (
                f"  = {fmt.price(cost.compute_per_hour)} compute"
                f" + {fmt.price(cost.storage_per_hour)} storage"
            )
            if cost.estimated:
                detail += f" (estimated, {options.disk_gb:g} GB)"
            all_in.append(detail)
        rows.append(("All-in", all_in))
        if pre.bid_per_gpu is not None:
            rows.append(("Rental", Text(f"interruptible, bid {fmt.bid(pre.bid_per_gpu)}/GPU·h")))
        rows.append(("Estimate", Text(f"{fmt.price(pre.estimated_cost)} for {pre.hours:g} h")))
        rows.append(("Image", Text(options.image or "the provider's default")))
        rows.append(("Name", Text(tagged_label(options.label, options.request_id))))
        if options.environment:
            keys = ", ".join(k for k, _ in options.environment)
            rows.append(("Environment", Text(f"{keys} (values hidden)")))
        if options.ports:
            rows.append(("Ports", Text(", ".join(f"{p}/{proto}" for p, proto in options.ports))))
        if options.auto_terminate_hours:
            rows.append(("Stops after", Text(f"{options.auto_terminate_hours:g} h")))
        for label, items, style in (
            ("Changed", pre.changes(), "changed"),
            ("Not honoured", pre.unsupported, "warning"),
            ("Warning", pre.warnings, "warning"),
            ("Blocked", pre.problems, "problem"),
        ):
            for i, item in enumerate(items):
                rows.append((label if i == 0 else "", Text(item, style=self._style(style))))
        for label, value in rows:
            table.add_row(label, value)
        return table

    def show_preflight(self) -> None:
        pre = self.pre
        offer = pre.offer
        instead = pre.replaces is not None
        what = f"{offer.gpu_count} x {offer.gpu_model} at {display_name(offer.provider)}"
        self.query_one("#lc-title", Static).update(
            Text(f"Launch {what} instead?" if instead else f"Confirm the launch: {what}")
        )
        headline = self.query_one("#lc-headline", Static)
        headline.update(self.headline or "")
        headline.display = self.headline is not None
        self.query_one("#lc-facts", Static).update(self.facts())
        launch = self.query_one("#lc-launch", Button)
        if not self.launching:
            launch.label = "Launch that instead" if instead else "Launch"
        launch.disabled = not pre.ok or self.launching or self.failed or not self.asking
        nxt = self.query_one("#lc-next", Button)
        nxt.display = len(self.candidates) > 1
        nxt.disabled = self.launching
        if not pre.ok:
            self.set_status(
                "Cannot launch: "
                + (self.refusal or "; ".join(pre.problems))
                + ". Esc to change the form.",
                "problem",
            )
        elif not self.failed and not self.launching:
            verb = "Launch that instead" if instead else "Launch"
            self.set_status(
                f"{verb} spends money at {display_name(offer.provider)}: "
                f"about {fmt.price(pre.cost.per_hour)} every hour until you stop it.",
                "muted",
            )
        self.set_focus(self.query_one("#lc-back", Button) if launch.disabled else launch)
        self.refresh_bindings()
        self._mark_shown()
        self.call_after_refresh(self._mark_shown)  # and again once it is painted

    def _show_candidate(self) -> None:
        candidate = self.candidates[self.candidate]
        offer = candidate.offer
        gone = candidate.replaces or offer
        more = len(self.candidates) - 1
        either = "".join(f"; {where(failed)} had no capacity either" for failed in self.also_failed)
        self.headline = Text(
            f"{gone.gpu_count} x {gone.gpu_model} at {where(gone)}, "
            f"{candidate.replaced_why}{either}. {offer.gpu_model} at {where(offer)} "
            f"for {fmt.price(candidate.cost.per_hour)}/h all-in instead (same GPU and count)"
            + (f"; {more} more option{'s' if more > 1 else ''} (n)" if more else "")
            + ".",
            style=self._style("changed"),
        )
        self.pre = candidate
        self.show_preflight()

    def set_status(self, message: str, kind: str = "muted") -> None:
        status = self.query_one("#lc-status", Static)
        status.update(Text(one_line(message)))
        for name in ("muted", "problem", "warning", "busy"):
            status.set_class(name == kind, f"-{name}")

    # -- actions --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "next_option":
            return True if len(self.candidates) > 1 and not self.launching else None
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        if action == "next_option":
            if self.launching:
                return "Launching: wait for the provider's answer."
            return "No other option: n shows the next equivalent when there are several."
        return None

    def action_back(self) -> None:
        if self.launching:
            # leaving would cancel the launch in flight and leave its outcome in doubt
            self.notify("Launching: wait for the provider's answer.", timeout=3)
            return
        self._answer_with(None)  # the flow stops: nothing is launched
        self.dismiss(None)

    @on(Button.Pressed, "#lc-back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#lc-next")
    def _next_pressed(self) -> None:
        self.action_next_option()

    @on(Button.Pressed, "#lc-launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        if self.launching or self.failed or not self.pre.ok or not self.asking:
            return  # a second press while the first is on its way does nothing
        self.launching = True
        launch = self.query_one("#lc-launch", Button)
        launch.disabled = True
        launch.label = "Launching…"
        self.query_one("#lc-next", Button).disabled = True
        self.set_status(f"Launching at {display_name(self.pre.offer.provider)}…", "busy")
        self.refresh_bindings()
        self._answer_with(self.pre)

    def action_next_option(self) -> None:
        if len(self.candidates) < 2 or self.launching:
            return
        self.candidate = (self.candidate + 1) % len(self.candidates)
        self._show_candidate()

    def _clean(self, text: str) -> str:
        return clean(text, self.services.settings.secrets())
