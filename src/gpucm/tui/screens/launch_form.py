"""`L` on an offer: the launch form.

Launching spends the user's money. The form's request id is made once, when the form
opens, and every review, confirm and failover of that form reuses it: the launcher's
journal then creates at most one machine for it, however often a key is pressed.

Review runs the one launch flow (engine/launch_flow.py) in this form's worker, as the
CLI and the API do: it re-quotes the offer and puts its questions (Launch at this
price? this equivalent instead?) to the confirmation screen
(screens/launch_confirm.py), which is where money is spent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from gpucm import formatting as fmt
from gpucm.domain.container_ports import PortError, parse_port_list
from gpucm.domain.models import Instance, Offer
from gpucm.domain.pricing import default_bid, egress_per_gb
from gpucm.domain.provider_names import display_name
from gpucm.domain.vocabulary import ENV_NAME
from gpucm.engine.capabilities import capabilities, capability_caveats, capability_notes
from gpucm.engine.launch_errors import LaunchInDoubt, NoCapacity
from gpucm.engine.launch_flow import Declined, LaunchRefused, LaunchTarget
from gpucm.engine.launch_options import LaunchOptions, new_request_id
from gpucm.engine.launcher import Preflight
from gpucm.tui.numbers import NumberError, parse_number
from gpucm.tui.screens.help import HELP_KEY, LAUNCH_FORM_HELP
from gpucm.tui.text import clean, one_line
from gpucm.tui.widgets.choice import Choice
from gpucm.tui.widgets.dialog_footer import DialogFooter, keep_focus_in_view

if TYPE_CHECKING:
    from gpucm.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "AUTO_TERMINATE_HOURS",
    "IMAGE_PRESETS",
    "LAUNCH_FLOW",
    "FormError",
    "LaunchScreen",
    "field_notes",
]

# The worker group of the launch flow: it waits on the user's answers between steps
LAUNCH_FLOW = "launch-flow"

# Current CUDA images people launch GPUs for; the Input beside them takes any other.
IMAGE_PRESETS: tuple[str, ...] = (
    "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
    "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
    "nvcr.io/nvidia/pytorch:24.10-py3",
    "vllm/vllm-openai:latest",
    "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04",
)

# A default disk where storage is billed by the GB: enough for a CUDA image and a model,
# and it makes the all-in price include the storage the launch will really pay for.
DEFAULT_DISK_GB = 50.0

# "Stop after" bounds: under six minutes a machine is gone before it has booted and
# been used; past 30 days the timer is no longer a guard against a forgotten machine.
AUTO_TERMINATE_HOURS = (0.1, 720.0)

ON_DEMAND = "on-demand"
INTERRUPTIBLE = "interruptible"


class FormError(ValueError):
    """Bad input in one field: shown under the form, the field focused."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def field_notes(provider: str) -> dict[str, str]:
    """The form fields a provider cannot honour, each with the engine's sentence that
    says why (the same table the confirmation's "Not honoured" lines come from)."""
    return {
        field: note[:1].upper() + note[1:] for field, note in capability_notes(provider).items()
    }


def egress_note(offer: Offer) -> str:
    """What "GB out per h" does for this offer (0 by default: egress not counted)."""
    rate = egress_per_gb(offer)
    if rate is None:
        return (
            f"GB out per h: 0 by default. {display_name(offer.provider)} gives no per-GB "
            "egress rate: nothing is added."
        )
    return (
        f"GB out per h: 0 by default (egress not counted); {display_name(offer.provider)} "
        f"bills ${rate:.4f}/GB out here, added to the all-in price."
    )


def default_label(offer: Offer) -> str:
    return re.sub(r"[^a-z0-9]+", "-", offer.gpu_model.lower()).strip("-") or "gpucm"


def offer_summary(offer: Offer) -> Text:
    price = f"{fmt.price(offer.price_per_hour)}/h"
    if offer.spot_price_per_hour:
        price += f" (spot {fmt.price(offer.spot_price_per_hour)}/h)"
    parts = [
        f"{offer.gpu_count} x {offer.gpu_model}",
        price,
        f"{fmt.gigabytes(offer.gpu_memory_gb)} VRAM",
        f"{fmt.number(offer.vcpus)} vCPU",
        f"{fmt.gigabytes(offer.ram_gb)} RAM",
        offer.region or "-",
    ]
    return Text(" · ".join(parts) + f"   ({offer.id})")


def _label(text: str) -> Static:
    """A field's name, in the form's left column ("": a field that continues the
    one above)."""
    return Static(text, classes="lf-label", markup=False)


class EnvRow(Horizontal):
    """KEY = value, the value masked on screen (tokens and keys go here)."""

    def __init__(self, first: bool, disabled: bool) -> None:
        super().__init__(classes="lf-row lf-env-row")
        self._first = first
        self._off = disabled

    def compose(self) -> ComposeResult:
        yield _label("Environment" if self._first else "")
        yield Input(placeholder="KEY", classes="lf-env-key", compact=True, disabled=self._off)
        yield Input(
            placeholder="value (hidden)",
            password=True,
            classes="lf-env-value",
            compact=True,
            disabled=self._off,
        )

    def pair(self) -> tuple[str, str]:
        key = self.query_one(".lf-env-key", Input).value.strip()
        return key, self.query_one(".lf-env-value", Input).value


@dataclass(frozen=True)
class _Numeric:
    id: str
    label: str
    placeholder: str
    note: str | None = None  # field_notes key that disables it


_NUMERIC: tuple[_Numeric, ...] = (
    _Numeric("lf-disk", "Disk GB", "provider default"),
    _Numeric("lf-hours", "Estimate for h", "1"),
    _Numeric("lf-min-ram", "Min RAM GB", "-"),
    _Numeric("lf-min-storage", "Min disk GB", "-"),
    _Numeric("lf-min-gpus", "Min GPUs", "-"),
    _Numeric("lf-max-price", "Max $/h", "no limit"),
    _Numeric("lf-gb-out", "GB out per h", "0: not counted"),
    _Numeric("lf-auto-terminate", "Stop after h", "never", "auto_shutdown"),
)


class LaunchScreen(ModalScreen[None]):
    """The launch form for one offer. Nothing is sent to the provider from here but a
    quote: the confirmation screen is where money is spent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "cancel", "Cancel", id="launch.cancel"),
        Binding("ctrl+n", "add_env", "Add variable", id="launch.add_env"),
        Binding("ctrl+r", "review", "Review", id="launch.review"),
        HELP_KEY,
    ]
    HELP_TITLE = "launch form keys"
    KEYS_HELP = LAUNCH_FORM_HELP

    def __init__(self, services: Services, offer: Offer, *, request_id: str | None = None) -> None:
        super().__init__()
        self.services = services
        self.offer = offer
        self.notes = field_notes(offer.provider)
        # made before anything can be pressed, kept for the form's lifetime
        self.request_id = request_id or _request_id_for(self)
        self.reviewing = False

    # -- layout ---------------------------------------------------------------------

    def _note(self, key: str) -> Iterable[Widget]:
        if key in self.notes:
            yield Static(Text(self.notes[key]), classes="lf-note", id=f"lf-note-{key}")

    def _row(self, label: str, field: Widget, note: str | None = None) -> Iterator[Widget]:
        """One line of the form: the field's name, then the field. Where the provider
        cannot honour the `note` field, the field is greyed out, the reason under it."""
        if note in self.notes:
            field.disabled = True
        yield Horizontal(_label(label), field, classes="lf-row")
        if note is not None:
            yield from self._note(note)

    def compose(self) -> ComposeResult:
        offer = self.offer
        title = Text(
            f"Launch {offer.gpu_count} x {offer.gpu_model} at {display_name(offer.provider)}"
        )
        caps = capabilities(offer.provider)
        no_image = "image" in self.notes
        # not focusable itself: Tab goes from field to field, never to the frame
        with VerticalScroll(id="launch-dialog", can_focus=False):
            yield Static(title, classes="dialog-title", id="lf-title")
            yield Static(offer_summary(offer), id="lf-offer")
            yield from self._row(
                "Label",
                Input(
                    value=default_label(offer),
                    placeholder="a name for the machine",
                    id="lf-label",
                    compact=True,
                ),
            )
            yield from self._row(
                "Image",
                Choice(
                    [(Text(image), image) for image in IMAGE_PRESETS],
                    prompt="pick a preset image…",
                    id="lf-image-preset",
                    compact=True,
                    disabled=no_image,
                ),
            )
            yield from self._row(
                "",
                Input(
                    placeholder="or type one (empty: the provider's default image)",
                    id="lf-image",
                    compact=True,
                ),
                note="image",
            )
            with Vertical(id="lf-env-rows"):
                yield EnvRow(first=True, disabled="env" in self.notes)
            yield from self._row(
                "",
                Button("+ variable (ctrl+n)", id="lf-add-env", compact=True),
                note="env",
            )
            yield from self._row(
                "Ports",
                Input(placeholder="8888/tcp, 6006/http", id="lf-ports", compact=True),
                note="ports",
            )
            yield from self._row(
                "SSH key",
                Input(
                    placeholder="name of a key saved at the provider", id="lf-ssh-key", compact=True
                ),
                note="ssh_key",
            )
            disk = ""
            if caps.storage_billed_separately:
                size = min(DEFAULT_DISK_GB, offer.storage_gb or DEFAULT_DISK_GB)
                disk = f"{size:g}"
            with Grid(id="lf-numbers"):
                for spec in _NUMERIC:
                    yield _label(spec.label)
                    yield Input(
                        value=disk if spec.id == "lf-disk" else "",
                        placeholder=spec.placeholder,
                        id=spec.id,
                        compact=True,
                        disabled=spec.note is not None and spec.note in self.notes,
                    )
            yield from self._note("auto_shutdown")
            yield Static(Text(egress_note(offer)), classes="lf-note", id="lf-note-egress")
            yield from self._rental()
            # docked: the buttons stay on screen while the fields scroll (80x24)
            with DialogFooter(classes="dialog-bottom"):
                yield Static("", id="lf-error")
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Review", id="lf-review", variant="primary", compact=True)
                    yield Button("Cancel", id="lf-cancel", compact=True)
                yield Static(
                    "enter: review the price   ctrl+n: add variable   esc: cancel",
                    classes="dialog-hint",
                    markup=False,
                )

    def _rental(self) -> Iterable[Widget]:
        """On demand or interruptible (spot), with the bid: where the provider rents
        spot machines at all (elsewhere the form has no such choice)."""
        if not capabilities(self.offer.provider).spot:
            return
        offer = self.offer
        spot = offer.spot_price_per_hour
        choices = [(Text(f"on demand, {fmt.price(offer.price_per_hour)}/h"), ON_DEMAND)]
        if spot is not None:
            choices.append((Text(f"interruptible (spot), from {fmt.price(spot)}/h"), INTERRUPTIBLE))
        yield from self._row(
            "Rental",
            Choice(
                choices,
                value=ON_DEMAND,
                allow_blank=False,
                id="lf-rental",
                compact=True,
                disabled=spot is None,
            ),
        )
        minimum = offer.min_bid_per_gpu_hour
        yield from self._row(
            "Bid $/GPU·h",
            Input(
                value=_bid_text(default_bid(minimum)) if minimum is not None else "",
                placeholder=f"at least {fmt.bid(minimum)}" if minimum else "the minimum + 5%",
                id="lf-bid",
                compact=True,
                disabled=True,  # until interruptible is chosen
            ),
        )
        if spot is None:
            why = f"{display_name(offer.provider)} lists no interruptible price for this offer now."
            yield Static(Text(why), classes="lf-note", id="lf-note-no-spot")
            return
        caveat = capability_caveats(offer.provider).get("interruptible", "")
        if caveat:
            warning = Static(
                Text(f"Interruptible: {caveat}."), classes="lf-note", id="lf-note-interruptible"
            )
            warning.display = False  # a warning about spot, shown once spot is chosen
            yield warning

    @on(events.DescendantFocus)
    @on(DialogFooter.Resized)
    def _keep_focus_in_view(self) -> None:
        keep_focus_in_view(self, self.query_one("#launch-dialog", VerticalScroll))

    def on_mount(self) -> None:
        _no_blink(self)
        self.set_focus(self.query_one("#lf-label", Input))

    # -- form actions ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_env":
            return None if "env" in self.notes else True
        return True

    def disabled_reason(self, action: str, parameters: tuple[object, ...]) -> str | None:
        if action == "add_env" and "env" in self.notes:
            return self.notes["env"]
        return None

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def action_add_env(self) -> None:
        if "env" in self.notes:
            return
        row = EnvRow(first=False, disabled=False)
        await self.query_one("#lf-env-rows").mount(row)
        _no_blink(row)
        # focus now, not after the keys already queued: what is typed right after
        # ctrl+n belongs in the new row, never in the previous row's hidden value
        self.set_focus(row.query_one(".lf-env-key", Input))

    @on(Button.Pressed, "#lf-add-env")
    async def _add_pressed(self) -> None:
        await self.action_add_env()

    @on(Button.Pressed, "#lf-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Select.Changed, "#lf-image-preset")
    def _preset(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.query_one("#lf-image", Input).value = event.value

    @on(Select.Changed, "#lf-rental")
    def _rental_changed(self, event: Select.Changed) -> None:
        bid = self.query_one("#lf-bid", Input)
        bid.disabled = event.value != INTERRUPTIBLE
        bid.remove_class("-bad")
        for warning in self.query("#lf-note-interruptible"):
            warning.display = not bid.disabled
            warning.set_class(not bid.disabled, "-chosen")

    @property
    def interruptible(self) -> bool:
        """Interruptible (spot) is chosen."""
        rental = self.query(Select).filter("#lf-rental")
        return any(r.value == INTERRUPTIBLE and not r.disabled for r in rental.results(Select))

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        event.input.remove_class("-bad")

    @on(Input.Submitted)
    @on(Button.Pressed, "#lf-review")
    def _submit(self) -> None:
        self.action_review()

    def read_options(self) -> LaunchOptions:
        """The form as LaunchOptions, or FormError naming the first bad field."""

        def text(field: str) -> str:
            widget = self.query_one(f"#{field}", Input)
            return "" if widget.disabled else widget.value.strip()

        def number(
            field: str,
            what: str,
            *,
            integer: bool = False,
            bounds: tuple[float, float] | None = None,
        ) -> float | None:
            low, high = bounds or (0.0, None)
            try:
                return parse_number(
                    text(field),
                    integer=integer,
                    minimum=low,
                    above_minimum=bounds is None,
                    maximum=high,
                )
            except NumberError as exc:
                raise FormError(field, f"{what}: {exc}") from None

        env: list[tuple[str, str]] = []
        if "env" not in self.notes:
            for row in self.query(EnvRow):
                key, value = row.pair()
                if not key and not value:
                    continue
                if not ENV_NAME.match(key):
                    field = row.query_one(".lf-env-key", Input).id or "lf-env-rows"
                    shown = key or "(empty)"
                    raise FormError(
                        field, f"Environment: {shown!r} is not a variable name (A-Z, 0-9, _)"
                    )
                env = [(k, v) for k, v in env if k != key] + [(key, value)]
        try:
            ports = parse_port_list(text("lf-ports"))
        except PortError as exc:
            raise FormError("lf-ports", f"Ports: {exc}") from None
        min_gpus = number("lf-min-gpus", "Min GPUs", integer=True)
        bid: float | None = None
        if self.interruptible:
            try:
                bid = parse_number(text("lf-bid"), prefix="$", suffixes=_BID_UNITS)
            except NumberError as exc:
                raise FormError("lf-bid", f"Bid: {exc}") from None
            minimum = self.offer.min_bid_per_gpu_hour
            if bid is not None and minimum is not None and bid < minimum:
                raise FormError(
                    "lf-bid",
                    f"Bid: {fmt.bid(bid)}/GPU·h is below the minimum of {fmt.bid(minimum)}/GPU·h "
                    f"{display_name(self.offer.provider)} takes for this offer",
                )
        return LaunchOptions(
            request_id=self.request_id,
            label=text("lf-label") or "gpucm",
            image=text("lf-image") or None,
            environment=tuple(env),
            ports=ports,
            disk_gb=number("lf-disk", "Disk GB"),
            ssh_key_name=text("lf-ssh-key") or None,
            max_price_per_hour=number("lf-max-price", "Max $/h"),
            auto_terminate_hours=number(
                "lf-auto-terminate", "Stop after (hours)", bounds=AUTO_TERMINATE_HOURS
            ),
            min_ram_gb=number("lf-min-ram", "Min RAM"),
            min_storage_gb=number("lf-min-storage", "Min disk"),
            min_gpus=int(min_gpus) if min_gpus is not None else None,
            hours=number("lf-hours", "Estimate hours"),
            interruptible=self.interruptible,
            bid_per_gpu=bid,
            gb_out_per_hour=number("lf-gb-out", "GB out per hour", bounds=(0.0, 1e6)) or 0.0,
        )

    def show_error(self, message: str, *, error: bool = True) -> None:
        """A line under the form: a refusal or bad input (`error`), or what the launch
        flow is doing while it re-quotes."""
        line = self.query_one("#lf-error", Static)
        line.update(Text(one_line(message)))
        line.set_class(bool(message) and error, "-error")

    def action_review(self) -> None:
        if self.reviewing:  # a launch flow is on its way: one confirmation at a time
            return
        try:
            options = self.read_options()
        except FormError as exc:
            self.show_error(exc.message)
            for widget in self.query(f"#{exc.field}"):
                widget.add_class("-bad")
                self.set_focus(widget)
            return
        self.show_error("")
        self.reviewing = True
        button = self.query_one("#lf-review", Button)
        button.disabled = True
        # short: the compact button is as wide as its label, in every layout
        button.label = "Quoting…"
        self._launch(options)

    def _reviewed(self) -> None:
        self.reviewing = False
        if self.is_attached:  # not when the form was closed meanwhile
            button = self.query_one("#lf-review", Button)
            button.disabled = False
            button.label = "Review"

    # no `exclusive`: a second worker must never cancel a launch on its way (the
    # `reviewing` guard lets one run at a time)
    @work(group=LAUNCH_FLOW, exit_on_error=False)
    async def _launch(self, options: LaunchOptions) -> None:
        """The one launch flow (engine/launch_flow.py) for this form's request, its
        questions put to the confirmation screen: nothing launches without the price
        on screen and Launch pressed there."""
        from gpucm.tui.screens.launch_confirm import ConfirmLaunchScreen

        screen: ConfirmLaunchScreen | None = None

        async def shown(pre: Preflight) -> ConfirmLaunchScreen:
            nonlocal screen
            if screen is None:
                screen = ConfirmLaunchScreen(self.services, pre, options)
                await self.app.push_screen(screen, self._confirmed)
                # the re-quote is done: the form waits under the confirmation
                self.show_error("")
                self.query_one("#lf-review", Button).label = "Review"
            return screen

        async def confirm(pre: Preflight) -> bool:
            return await (await shown(pre)).ask_launch(pre)

        async def choose(failure: str, candidates: list[Preflight]) -> Preflight | None:
            return await (await shown(candidates[0])).ask_instead(failure, candidates)

        def progress(line: str) -> None:
            if screen is not None and screen.is_attached:
                screen.progress(line)
            else:
                self.show_error(self._clean(line), error=False)

        try:
            outcome = await self.services.launch_flow.run(
                LaunchTarget.of(self.offer),
                options,
                confirm=confirm,
                choose=choose,
                progress=progress,
            )
        except Declined:
            self.show_error("")  # Back on the confirmation: the form as it was
            return
        except LaunchRefused as exc:
            if screen is None:  # why it cannot launch, on the confirmation's facts
                refused = ConfirmLaunchScreen(
                    self.services, exc.preflight, options, refusal=_refusal(exc)
                )
                self.show_error("")
                await self.app.push_screen(refused, self._confirmed)
            else:  # Back on the equivalent offered instead
                self.show_error(self._clean(_sentence(exc)))
            return
        except Exception as exc:  # LaunchError, ProviderError, a missing provider...
            log.info("launch of %s did not happen: %s", self.offer.id, exc)
            message = self._clean(_sentence(exc))
            kind = "warning" if isinstance(exc, LaunchInDoubt) else "problem"
            if screen is not None and screen.is_attached:
                screen.stopped(message, kind, headline=isinstance(exc, NoCapacity))
            else:
                self.show_error(message)
            return
        finally:
            self._reviewed()
        if screen is not None and screen.is_attached:
            screen.launched(outcome)
        else:  # the request id had launched it already: no confirmation was needed
            self.notify(
                self._clean(f"Already launched {outcome.instance.name or outcome.instance.id}."),
                title="Launch",
                markup=False,
            )
            self._confirmed(outcome.instance)

    def _confirmed(self, instance: Instance | None) -> None:
        if instance is None:
            return  # back to the form, as it was
        from gpucm.tui.screens.instances import open_instances

        self.dismiss(None)
        open_instances(self.app, self.services, focus=instance.id)

    def _clean(self, text: str) -> str:
        return clean(text, self.services.settings.secrets())


_BID_UNITS = ("/gpu·h", "/gpu-h", "/gpuh", "/h")


def _bid_text(bid: float) -> str:
    """A bid as the form's field shows it: 0.2814, 0.05."""
    return f"{bid:.4f}".rstrip("0").rstrip(".")


def _sentence(exc: BaseException) -> str:
    """Why a launch did not happen, as one sentence under the form or on the
    confirmation (the engine's own words where they already say it)."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, LaunchInDoubt):
        return f"Outcome unknown: {text}"
    if text.startswith(("not launched", "cancelled")):
        return text[:1].upper() + text[1:]
    return f"Not launched: {text}"


def _refusal(exc: LaunchRefused) -> str:
    """What stands in the way of a refused preflight, for its confirmation's status."""
    pre = exc.preflight
    said = "; ".join(pre.problems)
    if exc.equivalents_checked:
        offer = pre.offer
        said += f"; no other {offer.gpu_count} x {offer.gpu_model} within your maximum either"
    return said


def _request_id_for(screen: ModalScreen[None]) -> str:
    """A new request id, from the app's `request_ids` when it has one (snapshot runs use
    a fixed sequence, so the instance names they show never change)."""
    try:
        make = getattr(screen.app, "request_ids", None)
    except Exception:  # built outside a running app
        make = None
    return str(make()) if callable(make) else new_request_id()


def _no_blink(widget: Widget) -> None:
    # snapshot runs turn blinking off app-wide; inputs mounted later must follow
    if not getattr(widget.app, "cursor_blink", True):
        for field in widget.query(Input):
            field.cursor_blink = False
