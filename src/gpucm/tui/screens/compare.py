"""`c` with 2 to 6 marked offers: side by side, the best value in each row highlighted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from gpucm import formatting as fmt
from gpucm.domain.models import Offer
from gpucm.providers.registry import PROVIDER_META

if TYPE_CHECKING:
    from gpucm.services import Services


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
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,c", "dismiss", "Close")]

    def __init__(self, services: Services, offer_ids: list[str]) -> None:
        super().__init__()
        self.services = services
        self.offer_ids = offer_ids
        self.offers: list[Offer] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Comparing {len(self.offer_ids)} offers", classes="dialog-title")
            yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            yield Static("best in each row is highlighted   escape: close", classes="dialog-hint")

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
        for attr in ATTRIBUTES:
            winners = best_columns(attr, self.offers)
            cells = [Text(attr.label, style="bold")]
            for i, offer in enumerate(self.offers):
                text = Text(attr.show(offer))
                if i in winners:
                    text.stylize(best_style or "bold reverse")
                    text.append(" ★")
                cells.append(text)
            table.add_row(*cells, key=attr.label)
        missing = len(self.offer_ids) - len(self.offers)
        if missing:
            self.notify(f"{missing} marked offer(s) vanished in a refresh.", severity="warning")

    COMPONENT_CLASSES: ClassVar[set[str]] = {"compare--best"}

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
