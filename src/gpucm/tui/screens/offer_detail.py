"""`enter` on an offer: everything gpucm knows about it, and its GPU from the catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from gpucm import formatting as fmt
from gpucm.domain.models import Offer
from gpucm.domain.pricing import (
    DEFAULT_DISK_GB,
    all_in,
    egress_per_gb,
    per_gb_vram_hour,
    planned_disk_gb,
)
from gpucm.domain.provider_names import display_name
from gpucm.domain.workload_fit import need_of
from gpucm.providers.registry import PROVIDER_META
from gpucm.tui.screens.help import OFFER_DETAIL_HELP
from gpucm.tui.screens.launch_key import LaunchKeyScreen
from gpucm.tui.widgets.model_detail import ModelDetail

if TYPE_CHECKING:
    from gpucm.services import Services


def cost_line(offer: Offer, disk_gb: float) -> str:
    cost = all_in(offer, disk_gb)
    star = "*" if cost.estimated else ""
    return "  ".join(
        f"{label} {fmt.price(cost.for_hours(hours))}{star}"
        for label, hours in (
            ("1 h", 1),
            ("8 h", 8),
            ("1 day", 24),
            ("1 week", 168),
            ("1 month", 730),
        )
    )


def fit_lines(offer: Offer, fits: str) -> str:
    """How a `fits=` term was computed, and how this offer holds it."""
    need = need_of(fits)
    memory = offer.gpu_memory_gb
    if memory is None:
        verdict = "this offer does not say its VRAM: cannot tell"
    else:
        total = memory * offer.gpu_count
        holds = "holds it" if need.fits(memory, offer.gpu_count) else "does NOT hold it"
        verdict = (
            f"this offer: {offer.gpu_count} x {memory:g} GB = {total:g} GB, {holds} "
            f"({need.per_gpu_gb(offer.gpu_count):.1f} GB per GPU, split evenly)"
        )
    return "\n".join([f"{fits}:", *need.explain(), verdict])


def offer_facts(
    offer: Offer, now_label: str, disk_gb: float = DEFAULT_DISK_GB, fits: str | None = None
) -> Table:
    """A two-column table of an offer's facts; every value is plain Text."""
    meta = PROVIDER_META.get(offer.provider)
    cost = all_in(offer, disk_gb)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    move = ""
    if offer.previous_price_per_hour not in (None, offer.price_per_hour):
        move = f" (was {fmt.price(offer.previous_price_per_hour)})"
    net = offer.network_info
    rows: list[tuple[str, str]] = [
        ("Provider", display_name(offer.provider)),
        ("Offer id", offer.id),
        ("GPU", f"{offer.gpu_count} x {offer.gpu_model}  (provider says {offer.gpu_name!r})"),
        (
            "Price",
            f"{fmt.price(offer.price_per_hour)}/h{move}, "
            f"{fmt.price(offer.price_per_gpu_hour)} per GPU-hour",
        ),
        (
            "Spot / bid",
            f"{fmt.price(offer.spot_price_per_hour)}/h"
            if offer.spot_price_per_hour
            else "not offered",
        ),
        (
            "Storage billing",
            f"${offer.storage_price_per_gb_month:.3f}/GB-month, extra"
            if offer.storage_price_per_gb_month
            else "included or not billed separately",
        ),
        (
            "Egress",
            f"${egress:.4f}/GB out, extra (GB out per hour: launch form, compare view)"
            if (egress := egress_per_gb(offer)) is not None
            else "no per-GB rate in the provider's API",
        ),
        (
            "All-in",
            f"{fmt.price(cost.per_hour)}/h with {disk_gb:g} GB of disk"
            + (
                f" (storage estimated: {fmt.price(cost.storage_per_hour)}/h)"
                if cost.estimated
                else ""
            )
            + f", {fmt.price(cost.per_gpu_hour)} per GPU-hour",
        ),
        ("Cost", cost_line(offer, disk_gb)),
        ("Value", f"{fmt.value_per_point(offer.value)} m$/h per performance point"),
        ("$/GB VRAM-h", fmt.price(per_gb_vram_hour(offer))),
        ("VRAM / GPU", fmt.gigabytes(offer.gpu_memory_gb)),
        ("vCPUs / RAM", f"{fmt.number(offer.vcpus)} / {fmt.gigabytes(offer.ram_gb)}"),
        ("Disk", fmt.gigabytes(offer.storage_gb) if offer.storage_gb else "chosen at launch"),
        (
            "Region",
            f"{offer.region or '-'}  ({offer.region_group or 'no group'}, {offer.country or '?'})",
        ),
        ("Reliability", fmt.percent(offer.reliability)),
        ("Network", f"{fmt.speed(net.download_mbps)} down / {fmt.speed(net.upload_mbps)} up"),
        ("CUDA", "-" if offer.cuda_version is None else f"{offer.cuda_version:g}"),
        ("Verified", {True: "yes", False: "no", None: "-"}[offer.verified]),
        ("Available", "yes" if offer.available else "no (listed, not rentable now)"),
        ("Data", now_label + (" - STALE: the last refresh failed" if offer.stale else "")),
    ]
    if fits is not None:
        rows.insert(
            rows.index(("VRAM / GPU", fmt.gigabytes(offer.gpu_memory_gb))) + 1,
            ("Fits", fit_lines(offer, fits)),
        )
    if meta:
        rows.append(("Provider can", ", ".join(meta.capabilities.features())))
    for label, value in rows:
        table.add_row(label, Text(value))
    return table


class OfferDetailScreen(LaunchKeyScreen):
    HELP_TITLE = "offer keys"
    KEYS_HELP = OFFER_DETAIL_HELP
    LAUNCH_UNAVAILABLE = "This offer is no longer listed: pick a current one."
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,enter", "dismiss", "Close", id="detail.close"),
        Binding("L", "launch", "Launch", id="detail.launch"),
    ]

    def __init__(
        self,
        services: Services,
        offer_id: str,
        disk_gb: float | None = None,
        fits: str | None = None,
    ) -> None:
        super().__init__()
        self.fits = fits  # the search's workload: the detail says how it was computed
        self.services = services
        self.offer_id = offer_id
        self.disk_gb = planned_disk_gb(disk_gb)
        self.offer: Offer | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static("Offer", classes="dialog-title", id="offer-title")
            yield Static("Loading...", id="offer-facts")
            yield ModelDetail(
                self.services.store.model_offers, lambda: self.services.catalog, id="offer-model"
            )
            yield Static("L: launch it   escape: close", classes="dialog-hint")

    def on_mount(self) -> None:
        self._load()

    @work(exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        offer = await self.services.store.get_offer(self.offer_id)
        facts = self.query_one("#offer-facts", Static)
        if offer is None:
            facts.update(Text("This offer is no longer listed (it vanished in a refresh)."))
            return
        self.offer = offer
        title = Text(f"{offer.gpu_count} x {offer.gpu_model} at {display_name(offer.provider)}")
        self.query_one("#offer-title", Static).update(title)
        age = fmt.age(offer.fetched_at, self.services.clock())
        facts.update(offer_facts(offer, f"fetched {age} ago", self.disk_gb, self.fits))
        self.query_one(ModelDetail).show(offer.gpu_model)
        self.refresh_bindings()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

    @property
    def selected(self) -> Offer | None:
        """The offer shown (None once it is no longer listed)."""
        return self.offer
