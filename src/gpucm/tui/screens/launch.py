"""`L` on an offer: the launch form, its confirmation, and the failover choice.

Launching spends the user's money. The form's request id is made once, when the form
opens, and every review, confirm and failover of that form reuses it: the launcher's
journal then creates at most one machine for it, however often a key is pressed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import events, on, work
from textual._time import get_time  # the clock a Key event's `time` is read from
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static

from gpucm import formatting as fmt
from gpucm.domain.models import Instance, Offer
from gpucm.domain.provider_names import DISPLAY_NAMES
from gpucm.engine.launcher import (
    LaunchInDoubt,
    LaunchOptions,
    Preflight,
    new_request_id,
    tagged_label,
)
from gpucm.providers.base import Capabilities
from gpucm.providers.errors import CapacityError, redact
from gpucm.providers.registry import PROVIDER_META

if TYPE_CHECKING:
    from gpucm.services import Services

log = logging.getLogger(__name__)

__all__ = [
    "IMAGE_PRESETS",
    "ConfirmLaunchScreen",
    "FormError",
    "LaunchScreen",
    "field_notes",
    "parse_ports",
]

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

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_PROTOCOLS = ("tcp", "udp", "http")


class FormError(ValueError):
    """Bad input in one field: shown under the form, the field focused."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def provider_name(provider: str) -> str:
    return DISPLAY_NAMES.get(provider, provider)


def capabilities(provider: str) -> Capabilities:
    meta = PROVIDER_META.get(provider)
    return meta.capabilities if meta else Capabilities()


def field_notes(provider: str) -> dict[str, str]:
    """The form fields a provider cannot honour, each with the one line that says why."""
    caps = capabilities(provider)
    name = provider_name(provider)
    vm = not caps.container_image
    notes: dict[str, str] = {}
    if not caps.container_image:
        notes["image"] = f"{name} runs VMs: no image (its own OS image is used)"
    if not caps.env_vars:
        notes["env"] = (
            f"{name} runs VMs: no environment variables (set them on the machine)"
            if vm
            else f"{name} cannot set environment variables"
        )
    if not caps.port_mapping:
        notes["ports"] = f"{name} has no port mapping: open ports on the machine"
    if not caps.auto_terminate:
        notes["auto_terminate"] = f"{name} cannot stop a machine on a timer"
    if not caps.ssh_key_per_launch:
        notes["ssh_key"] = f"{name} uses the SSH keys saved in your account"
    return notes


def parse_ports(text: str) -> tuple[tuple[int, str], ...]:
    """`8888/tcp, 6006/http 22` -> ((8888, "tcp"), (6006, "http"), (22, "tcp"))."""
    out: list[tuple[int, str]] = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        number, _, proto = part.partition("/")
        proto = (proto or "tcp").lower()
        if not number.isdigit() or not 1 <= int(number) <= 65535:
            raise ValueError(f"{part!r}: a port is a number from 1 to 65535, like 8888/tcp")
        if proto not in _PROTOCOLS:
            raise ValueError(f"{part!r}: the protocol is tcp, udp or http")
        if (int(number), proto) not in out:
            out.append((int(number), proto))
    return tuple(out)


def parse_number(text: str, field: str, what: str, *, integer: bool = False) -> float | None:
    value = text.strip()
    if not value:
        return None
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise FormError(field, f"{what}: {value!r} is not {kind}") from None
    if not number > 0 or number != number or number == float("inf"):
        raise FormError(field, f"{what}: must be more than 0")
    return number


def default_label(offer: Offer) -> str:
    return re.sub(r"[^a-z0-9]+", "-", offer.gpu_model.lower()).strip("-") or "gpucm"


def offer_summary(offer: Offer) -> Text:
    parts = [
        f"{offer.gpu_count} x {offer.gpu_model}",
        f"{fmt.price(offer.price_per_hour)}/h",
        f"{fmt.gigabytes(offer.gpu_memory_gb)} VRAM",
        f"{fmt.number(offer.vcpus)} vCPU",
        f"{fmt.gigabytes(offer.ram_gb)} RAM",
        offer.region or "-",
    ]
    return Text(" · ".join(parts) + f"   ({offer.id})")


# -- the form --------------------------------------------------------------------------


class EnvRow(Horizontal):
    """KEY = value, the value masked on screen (tokens and keys go here)."""

    def __init__(self, first: bool, disabled: bool) -> None:
        super().__init__(classes="lf-row lf-env-row")
        self._first = first
        self._off = disabled

    def compose(self) -> ComposeResult:
        yield Static("Environment" if self._first else "", classes="lf-label", markup=False)
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
    _Numeric("lf-auto-terminate", "Stop after h", "never", "auto_terminate"),
)


class LaunchScreen(ModalScreen[None]):
    """The launch form for one offer. Nothing is sent to the provider from here but a
    quote: the confirmation screen is where money is spent."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="launch-cancel"),
        Binding("q", "cancel", "Cancel", show=False),
        Binding("ctrl+n", "add_env", "Add variable", id="launch-add-env"),
        Binding("ctrl+r", "review", "Review", id="launch-review"),
    ]

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

    def compose(self) -> ComposeResult:
        offer = self.offer
        title = Text(
            f"Launch {offer.gpu_count} x {offer.gpu_model} at {provider_name(offer.provider)}"
        )
        caps = capabilities(offer.provider)
        no_image = "image" in self.notes
        with VerticalScroll(id="launch-dialog"):
            yield Static(title, classes="dialog-title", id="lf-title")
            yield Static(offer_summary(offer), id="lf-offer")
            with Horizontal(classes="lf-row"):
                yield Static("Label", classes="lf-label", markup=False)
                yield Input(
                    value=default_label(offer),
                    placeholder="a name for the machine",
                    id="lf-label",
                    compact=True,
                )
            with Horizontal(classes="lf-row"):
                yield Static("Image", classes="lf-label", markup=False)
                yield Select[str](
                    [(Text(image), image) for image in IMAGE_PRESETS],
                    prompt="pick a preset image…",
                    id="lf-image-preset",
                    compact=True,
                    disabled=no_image,
                )
            with Horizontal(classes="lf-row"):
                yield Static("", classes="lf-label")
                yield Input(
                    placeholder="or type one (empty: the provider's default image)",
                    id="lf-image",
                    compact=True,
                    disabled=no_image,
                )
            yield from self._note("image")
            with Vertical(id="lf-env-rows"):
                yield EnvRow(first=True, disabled="env" in self.notes)
            with Horizontal(classes="lf-row"):
                yield Static("", classes="lf-label")
                yield Button(
                    "+ variable (ctrl+n)",
                    id="lf-add-env",
                    compact=True,
                    disabled="env" in self.notes,
                )
            yield from self._note("env")
            with Horizontal(classes="lf-row"):
                yield Static("Ports", classes="lf-label", markup=False)
                yield Input(
                    placeholder="8888/tcp, 6006/http",
                    id="lf-ports",
                    compact=True,
                    disabled="ports" in self.notes,
                )
            yield from self._note("ports")
            with Horizontal(classes="lf-row"):
                yield Static("SSH key", classes="lf-label", markup=False)
                yield Input(
                    placeholder="name of a key saved at the provider",
                    id="lf-ssh-key",
                    compact=True,
                    disabled="ssh_key" in self.notes,
                )
            yield from self._note("ssh_key")
            disk = ""
            if caps.storage_billed_separately:
                size = min(DEFAULT_DISK_GB, offer.storage_gb or DEFAULT_DISK_GB)
                disk = f"{size:g}"
            with Grid(id="lf-numbers"):
                for spec in _NUMERIC:
                    yield Static(spec.label, classes="lf-label", markup=False)
                    yield Input(
                        value=disk if spec.id == "lf-disk" else "",
                        placeholder=spec.placeholder,
                        id=spec.id,
                        compact=True,
                        disabled=spec.note is not None and spec.note in self.notes,
                    )
            yield from self._note("auto_terminate")
            # docked: the buttons stay on screen while the fields scroll (80x24)
            with Vertical(classes="dialog-bottom"):
                yield Static("", id="lf-error")
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Review", id="lf-review", variant="primary", compact=True)
                    yield Button("Cancel", id="lf-cancel", compact=True)
                yield Static(
                    "enter: review the price   ctrl+n: add variable   esc: cancel",
                    classes="dialog-hint",
                    markup=False,
                )

    def on_mount(self) -> None:
        _no_blink(self)
        self.query_one("#lf-label", Input).focus()

    # -- form actions ---------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "add_env":
            return None if "env" in self.notes else True
        return True

    def action_cancel(self) -> None:
        self.dismiss(None)

    async def action_add_env(self) -> None:
        if "env" in self.notes:
            return
        row = EnvRow(first=False, disabled=False)
        await self.query_one("#lf-env-rows").mount(row)
        _no_blink(row)
        row.query_one(".lf-env-key", Input).focus()

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

        def number(field: str, what: str, *, integer: bool = False) -> float | None:
            return parse_number(text(field), field, what, integer=integer)

        env: list[tuple[str, str]] = []
        if "env" not in self.notes:
            for row in self.query(EnvRow):
                key, value = row.pair()
                if not key and not value:
                    continue
                if not _ENV_KEY.match(key):
                    field = row.query_one(".lf-env-key", Input).id or "lf-env-rows"
                    shown = key or "(empty)"
                    raise FormError(
                        field, f"Environment: {shown!r} is not a variable name (A-Z, 0-9, _)"
                    )
                env = [(k, v) for k, v in env if k != key] + [(key, value)]
        try:
            ports = parse_ports(text("lf-ports"))
        except ValueError as exc:
            raise FormError("lf-ports", f"Ports: {exc}") from None
        min_gpus = number("lf-min-gpus", "Min GPUs", integer=True)
        return LaunchOptions(
            request_id=self.request_id,
            label=text("lf-label") or "gpucm",
            image=text("lf-image") or None,
            environment=tuple(env),
            ports=ports,
            disk_gb=number("lf-disk", "Disk GB"),
            ssh_key_name=text("lf-ssh-key") or None,
            max_price_per_hour=number("lf-max-price", "Max $/h"),
            auto_terminate_hours=number("lf-auto-terminate", "Stop after"),
            min_ram_gb=number("lf-min-ram", "Min RAM"),
            min_storage_gb=number("lf-min-storage", "Min disk"),
            min_gpus=int(min_gpus) if min_gpus is not None else None,
            hours=number("lf-hours", "Estimate hours"),
        )

    def show_error(self, message: str) -> None:
        error = self.query_one("#lf-error", Static)
        error.update(Text(one_line(message)))
        error.set_class(bool(message), "-error")

    def action_review(self) -> None:
        if self.reviewing:  # a preflight is on its way: one confirmation at a time
            return
        try:
            options = self.read_options()
        except FormError as exc:
            self.show_error(exc.message)
            for widget in self.query(f"#{exc.field}"):
                widget.add_class("-bad")
                widget.focus()
            return
        self.show_error("")
        self.reviewing = True
        button = self.query_one("#lf-review", Button)
        button.disabled = True
        button.label = "Checking the price…"
        self._preflight(options)

    @work(exclusive=True, group="launch-preflight", exit_on_error=False)
    async def _preflight(self, options: LaunchOptions) -> None:
        try:
            pre = await self.services.launcher.preflight(self.offer, options)
        except Exception as exc:  # a quote failed: say so here, launch nothing
            log.info("preflight of %s failed: %s", self.offer.id, exc)
            self.show_error(self._clean(f"Could not check the offer: {exc}"))
            return
        finally:
            self.reviewing = False
            if self.is_attached:  # not when the form was closed meanwhile
                button = self.query_one("#lf-review", Button)
                button.disabled = False
                button.label = "Review"
        await self.app.push_screen(
            ConfirmLaunchScreen(self.services, pre, options), self._confirmed
        )

    def _confirmed(self, instance: Instance | None) -> None:
        if instance is None:
            return  # back to the form, as it was
        from gpucm.tui.screens.instances import open_instances

        self.dismiss(None)
        open_instances(self.app, self.services, focus=instance.id)

    def _clean(self, text: str) -> str:
        return redact(one_line(text), self.services.settings.secrets())


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


# -- the confirmation --------------------------------------------------------------------


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
        Binding("escape,q", "back", "Back", id="confirm-back"),
        Binding("n", "next_option", "Next option", id="confirm-next"),
    ]

    def __init__(self, services: Services, pre: Preflight, options: LaunchOptions) -> None:
        super().__init__()
        self.services = services
        self.pre = pre
        self.options = options
        self.launching = False
        self.failed = False  # an error ended this confirmation: nothing more to launch
        self.candidates: list[Preflight] = []
        self.candidate = 0
        self.headline: Text | None = None
        self._tried: set[str] = set()
        self.shown_at = 0.0  # when the price now on screen was first painted

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="confirm-dialog"):
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
        self.shown_at = get_time()

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
                Text(f"{provider_name(offer.provider)}  ({offer.id}, {offer.region or '-'})"),
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
        title = "Launch instead?" if pre.replaces is not None else "Confirm the launch"
        self.query_one("#lc-title", Static).update(
            Text(
                f"{title}: {offer.gpu_count} x {offer.gpu_model} at {provider_name(offer.provider)}"
            )
        )
        headline = self.query_one("#lc-headline", Static)
        headline.update(self.headline or "")
        headline.display = self.headline is not None
        self.query_one("#lc-facts", Static).update(self.facts())
        launch = self.query_one("#lc-launch", Button)
        launch.label = "Launch instead" if pre.replaces is not None else "Launch"
        launch.disabled = not pre.ok or self.launching or self.failed
        nxt = self.query_one("#lc-next", Button)
        nxt.display = len(self.candidates) > 1
        if not pre.ok:
            self.set_status(
                "Cannot launch: " + "; ".join(pre.problems) + ". Esc to change the form.",
                "problem",
            )
        elif not self.failed:
            self.set_status(
                f"Launch spends money at {provider_name(offer.provider)}: "
                f"about {fmt.price(pre.cost.per_hour)} every hour until you stop it.",
                "muted",
            )
        if launch.disabled:
            self.query_one("#lc-back", Button).focus()
        else:
            launch.focus()
        self.refresh_bindings()
        self._mark_shown()
        self.call_after_refresh(self._mark_shown)  # and again once it is painted

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

    def action_back(self) -> None:
        if self.launching:
            # leaving would cancel the launch in flight and leave its outcome in doubt
            self.notify("Launching: wait for the provider's answer.", timeout=3)
            return
        self.dismiss(None)

    def action_next_option(self) -> None:
        if len(self.candidates) < 2 or self.launching:
            return
        self.candidate = (self.candidate + 1) % len(self.candidates)
        self._show_candidate()

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
        if self.launching or self.failed or not self.pre.ok:
            return  # a second press while the first is on its way does nothing
        self.launching = True
        launch = self.query_one("#lc-launch", Button)
        launch.disabled = True
        launch.label = "Launching…"
        self.query_one("#lc-next", Button).disabled = True
        self.set_status(f"Launching at {provider_name(self.pre.offer.provider)}…", "busy")
        self.refresh_bindings()
        self._launch(self.pre)

    @work(group="launch", exit_on_error=False)
    async def _launch(self, pre: Preflight) -> None:
        launcher = self.services.launcher
        try:
            outcome = await launcher.launch(pre, self.options)
        except CapacityError as exc:
            await self._failover(pre, exc)
            return
        except LaunchInDoubt as exc:
            self._stop(f"Outcome unknown: {exc}", "warning")
            return
        except Exception as exc:  # LaunchError, ProviderError, a missing provider...
            log.info("launch of %s failed: %s", pre.offer.id, exc)
            self._stop(f"Not launched: {exc}", "problem")
            return
        instance = outcome.instance
        verb = "Already launched" if outcome.reused else "Launched"
        self.app.notify(
            self._clean(
                f"{verb} {instance.name or instance.id} at "
                f"{provider_name(instance.provider)} ({instance.status})."
            ),
            title="Launch",
            markup=False,
        )
        self.launching = False
        self.dismiss(instance)

    def _stop(self, message: str, kind: str) -> None:
        self.launching = False
        self.failed = True
        self.set_status(self._clean(message), kind)
        self.query_one("#lc-launch", Button).label = "Launch"
        self.query_one("#lc-back", Button).focus()
        self.refresh_bindings()
        self.app.notify(self._clean(message), severity="error", markup=False)

    async def _failover(self, pre: Preflight, exc: CapacityError) -> None:
        failed = pre.offer
        original = pre.replaces or failed
        self._tried.add(failed.id)
        self.set_status(
            f"No capacity at {provider_name(failed.provider)}: looking for the same GPU elsewhere…",
            "busy",
        )
        try:
            candidates = await self.services.launcher.failover_candidates(
                original, self.options, exclude=tuple(self._tried)
            )
        except Exception as error:  # the search failed: the launch failed, say both
            log.info("failover search failed: %s", error)
            candidates = []
        self.launching = False
        self.candidates = candidates
        self.candidate = 0
        if not candidates:
            ceiling = self.options.max_price_per_hour or original.price_per_hour * 1.2
            self.failed = True
            self.headline = Text(
                self._clean(
                    f"{exc}. No other {original.gpu_count} x {original.gpu_model} within "
                    f"{fmt.price(ceiling)}/h: nothing was launched."
                ),
                style=self._style("problem"),
            )
            self.show_preflight()
            self.set_status("Esc: back to the form.", "problem")
            return
        self._show_candidate(failed)

    def _show_candidate(self, failed: Offer | None = None) -> None:
        candidate = self.candidates[self.candidate]
        offer = candidate.offer
        gone = failed or (candidate.replaces if candidate.replaces else offer)
        more = len(self.candidates) - 1
        self.headline = Text(
            f"No capacity at {provider_name(gone.provider)}. "
            f"{offer.gpu_model} at {provider_name(offer.provider)} for "
            f"{fmt.price(candidate.cost.per_hour)}/h instead (same GPU and count)"
            + (f"; {more} more option{'s' if more > 1 else ''} (n)" if more else "")
            + ".",
            style=self._style("changed"),
        )
        self.pre = candidate
        self.show_preflight()

    def _clean(self, text: str) -> str:
        return redact(one_line(text), self.services.settings.secrets())
