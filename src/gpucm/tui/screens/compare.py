"""`c` with 2 to 6 marked offers: side by side, the best value in each row highlighted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from gpucm import formatting as fmt
from gpucm.domain.models import Offer
from gpucm.domain.pricing import DEFAULT_DISK_GB, AllIn, all_in, planned_disk_gb
from gpucm.providers.registry import PROVIDER_META

if TYPE_CHECKING:
    from gpucm.services import Services


HINT = "best in each row is highlighted   ←/→: choose an offer   L: launch it   escape: close"


@dataclass(frozen=True)
class Attribute:
    label: str
    value: Callable[[Offer], float | str | None]
    show: Callable[[Offer], str]
    best: Literal["min", "max"] | None = None


def _caps(attr: str) -> Callable[[Offer], str]:
    def show(offer: Offer) -> str:
        meta = PROVIDER_META.get(offer.provider)
        return "yes" if meta and getattr(meta.capabilities, attr) else "no"

    return show


COST_HOURS = 24.0  # "cost for a day": the job length most comparisons are made for


def all_in_attributes(disk_gb: float) -> tuple[Attribute, ...]:
    """The honest price rows: the offer plus the disk the user plans (storage>=N or the
    default), starred where the storage is estimated from a list rate."""

    def cost(o: Offer) -> AllIn:
        return all_in(o, disk_gb)

    def star(o: Offer) -> str:
        return "*" if cost(o).estimated else ""

    return (
        Attribute(
            f"All-in $/h ({disk_gb:g} GB)",
            lambda o: cost(o).per_hour,
            lambda o: fmt.price(cost(o).per_hour) + star(o),
            "min",
        ),
        Attribute(
            "All-in $/GPU-h",
            lambda o: cost(o).per_gpu_hour,
            lambda o: fmt.price(cost(o).per_gpu_hour) + star(o),
            "min",
        ),
        Attribute(
            f"Cost for {COST_HOURS:g} h",
            lambda o: cost(o).for_hours(COST_HOURS),
            lambda o: fmt.price(cost(o).for_hours(COST_HOURS)) + star(o),
            "min",
        ),
    )


def attributes(disk_gb: float = DEFAULT_DISK_GB) -> tuple[Attribute, ...]:
    return (*ATTRIBUTES[:4], *all_in_attributes(disk_gb), *ATTRIBUTES[4:])


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("Provider", lambda o: o.provider, lambda o: o.provider),
    Attribute("GPU", lambda o: o.gpu_model, lambda o: f"{o.gpu_count} x {o.gpu_model}"),
    Attribute("$/h", lambda o: o.price_per_hour, lambda o: fmt.price(o.price_per_hour), "min"),
    Attribute(
        "$/GPU-h", lambda o: o.price_per_gpu_hour, lambda o: fmt.price(o.price_per_gpu_hour), "min"
    ),
    Attribute("Performance", lambda o: o.performance, lambda o: fmt.number(o.performance), "max"),
    Attribute("Value (m$/pt)", lambda o: o.value, lambda o: fmt.value_per_point(o.value), "min"),
    Attribute(
        "$/GB VRAM-h",
        lambda o: o.price_per_hour / (o.gpu_memory_gb * o.gpu_count) if o.gpu_memory_gb else None,
        lambda o: (
            fmt.price(o.price_per_hour / (o.gpu_memory_gb * o.gpu_count))
            if o.gpu_memory_gb
            else "-"
        ),
        "min",
    ),
    Attribute(
        "VRAM / GPU", lambda o: o.gpu_memory_gb, lambda o: fmt.gigabytes(o.gpu_memory_gb), "max"
    ),
    Attribute("vCPUs", lambda o: o.vcpus, lambda o: fmt.number(o.vcpus), "max"),
    Attribute("RAM", lambda o: o.ram_gb, lambda o: fmt.gigabytes(o.ram_gb), "max"),
    Attribute(
        "Disk",
        lambda o: o.storage_gb,
        lambda o: fmt.gigabytes(o.storage_gb) if o.storage_gb else "at launch",
        "max",
    ),
    Attribute("Reliability", lambda o: o.reliability, lambda o: fmt.percent(o.reliability), "max"),
    Attribute(
        "Download",
        lambda o: o.network_info.download_mbps,
        lambda o: fmt.speed(o.network_info.download_mbps),
        "max",
    ),
    Attribute(
        "Upload",
        lambda o: o.network_info.upload_mbps,
        lambda o: fmt.speed(o.network_info.upload_mbps),
        "max",
    ),
    Attribute("Region", lambda o: o.region, lambda o: o.region or "-"),
    Attribute(
        "CUDA",
        lambda o: o.cuda_version,
        lambda o: "-" if o.cuda_version is None else f"{o.cuda_version:g}",
        "max",
    ),
    Attribute("Available", lambda o: o.available, lambda o: "yes" if o.available else "no"),
    Attribute("Stop / start", lambda o: None, _caps("stop_start")),
    Attribute("Docker image", lambda o: None, _caps("container_image")),
    Attribute("Env vars", lambda o: None, _caps("env_vars")),
    Attribute("Port mapping", lambda o: None, _caps("port_mapping")),
    Attribute("Spot", lambda o: None, _caps("spot")),
)


def best_columns(attr: Attribute, offers: list[Offer]) -> set[int]:
    """Which offers hold the best value of a row (ties all win; missing values never)."""
    if attr.best is None:
        return set()
    values = [(i, attr.value(o)) for i, o in enumerate(offers)]
    numbers = [(i, v) for i, v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < 2:
        return set()
    target = (min if attr.best == "min" else max)(v for _, v in numbers)
    return {i for i, v in numbers if v == target}


class CompareScreen(ModalScreen[None]):
    """The table's cursor is a column, an offer: left/right pick it, up/down scroll
    the attributes, and `L` launches the offer under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,c", "dismiss", "Close"),
        Binding("L", "launch", "Launch", id="compare-launch"),
    ]

    def __init__(
        self, services: Services, offer_ids: list[str], disk_gb: float | None = None
    ) -> None:
        super().__init__()
        self.services = services
        self.offer_ids = offer_ids
        self.disk_gb = planned_disk_gb(disk_gb)
        self.offers: list[Offer] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Comparing {len(self.offer_ids)} offers", classes="dialog-title")
            yield DataTable(
                id="compare-table", cursor_type="column", zebra_stripes=True, fixed_columns=1
            )
            yield Static(HINT, classes="dialog-hint", id="compare-hint", markup=False)
            yield Static(
                f"* includes {self.disk_gb:g} GB of storage at the provider's list rate "
                "(estimated)",
                classes="dialog-hint",
                id="compare-estimated",
                markup=False,
            )

    def on_mount(self) -> None:
        self._load()

    @work(exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        found = [await self.services.store.get_offer(i) for i in self.offer_ids]
        self.offers = [o for o in found if o is not None]
        table = self.query_one(DataTable)
        table.add_column(Text(""), key="attribute")
        for i, offer in enumerate(self.offers):
            table.add_column(Text(f"#{i + 1} {offer.provider_id}"[:24]), key=f"o{i}")
        best_style = self.get_component_rich_style("compare--best", default=None)
        for attr in attributes(self.disk_gb):
            winners = best_columns(attr, self.offers)
            cells = [Text(attr.label, style="bold")]
            for i, offer in enumerate(self.offers):
                text = Text(attr.show(offer))
                if i in winners:
                    text.stylize(best_style or "bold reverse")
                    text.append(" ★")
                cells.append(text)
            table.add_row(*cells, key=attr.label)
        estimated = any(all_in(o, self.disk_gb).estimated for o in self.offers)
        self.query_one("#compare-estimated").display = estimated
        if self.offers:
            table.move_cursor(column=1)
        missing = len(self.offer_ids) - len(self.offers)
        if missing:
            self.notify(f"{missing} marked offer(s) vanished in a refresh.", severity="warning")

    COMPONENT_CLASSES: ClassVar[set[str]] = {"compare--best"}

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

    @property
    def selected(self) -> Offer | None:
        """The offer whose column holds the cursor (None on the attribute column)."""
        column = self.query_one(DataTable).cursor_coordinate.column
        return self.offers[column - 1] if 1 <= column <= len(self.offers) else None

    @on(DataTable.ColumnHighlighted)
    def _column(self, event: DataTable.ColumnHighlighted) -> None:
        if event.cursor_column == 0 and self.offers:
            # the attribute labels are not an offer: the cursor stays on the offers
            event.data_table.move_cursor(column=1)
            return
        offer = self.selected
        hint = HINT
        if offer is not None:
            index = self.offers.index(offer) + 1
            hint = (
                f"★ best in row   L: launch #{index} ({offer.gpu_count} x {offer.gpu_model} "
                f"at {offer.provider})   ←/→: offer   escape: close"
            )
        self.query_one("#compare-hint", Static).update(Text(hint))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "launch":
            return True if self.selected is not None else None
        return True

    def action_launch(self) -> None:
        from gpucm.tui.screens.launch_form import LaunchScreen

        offer = self.selected
        if offer is None:
            self.notify("Move to an offer's column (←/→) to launch it.", timeout=3)
            return
        self.app.push_screen(LaunchScreen(self.services, offer))
