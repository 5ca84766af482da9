"""`enter` on a model in the stats screen: the cheapest equivalent offer at each
provider, priced all-in for the disk the search asks for, with what N hours cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from gpucm import formatting as fmt
from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.pricing import all_in, per_gb_vram_hour, planned_disk_gb
from gpucm.domain.provider_names import display_name
from gpucm.tui.screens.help import BEST_OFFERS_HELP
from gpucm.tui.screens.launch_key import LaunchKeyScreen

if TYPE_CHECKING:
    from gpucm.services import Services

HOURS = (1, 8, 24, 168, 730)


def cost_label(hours: int) -> str:
    return {168: "1 week", 730: "1 month"}.get(hours, f"{hours} h")


class BestOffersScreen(LaunchKeyScreen):
    HELP_TITLE = "best offers keys"
    KEYS_HELP = BEST_OFFERS_HELP
    LAUNCH_UNAVAILABLE = "No available offer of this model matches the filter."
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="best.close"),
        Binding("plus,equals_sign", "hours(1)", "More hours", id="best.more_hours"),
        Binding("minus", "hours(-1)", "Fewer hours", id="best.fewer_hours"),
        Binding("L", "launch", "Launch", id="best.launch"),
        Binding("down,j", "move(1)", "Down", show=False, id="cursor.down"),
        Binding("up,k", "move(-1)", "Up", show=False, id="cursor.up"),
    ]

    DEFAULT_CSS = """
    BestOffersScreen {
        align: center middle;
        background: $background 60%;
        & > Vertical {
            width: 1fr;
            max-width: 130;
            height: auto;
            max-height: 100%;
            border: thick $accent;
            background: $surface;
            padding: 0 1;
        }
        & .best-title { text-style: bold; color: $accent; }
        & .best-note { color: $text-muted; }
        & DataTable { height: auto; max-height: 20; margin: 1 0; }
    }
    """

    def __init__(self, services: Services, model: str, query: SearchQuery) -> None:
        super().__init__()
        self.services = services
        self.model = model
        self.query_filter = query.model_copy(
            update={"gpu_models": (model,), "limit": None, "offset": 0}
        )
        self.disk_gb = planned_disk_gb(query.min_storage)
        self.hours = 24
        self.offers: list[Offer] = []

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                Text(f"{self.model}: the best offer at each provider"), classes="best-title"
            )
            yield Static("", classes="best-note", id="best-note")
            yield DataTable(id="best-table", cursor_type="row", zebra_stripes=True)
            yield Static(
                "+/-: hours   enter: offer detail   L: launch it   escape: close"
                "   * storage estimated from the provider's list rate",
                classes="best-note",
            )

    def on_mount(self) -> None:
        self._load()

    @work(exclusive=True, exit_on_error=False)
    async def _load(self) -> None:
        try:
            self.offers = await self.services.store.best_offers(
                self.query_filter, disk_gb=self.disk_gb
            )
        except Exception as exc:  # a broken store must not take the app down
            self.query_one("#best-note", Static).update(Text(f"Could not read offers: {exc}"))
            return
        self._fill()
        self.refresh_bindings()

    def _fill(self) -> None:
        note = (
            f"All-in with {self.disk_gb:g} GB of disk (set storage>=N in the query to change"
            f" it); cost for {cost_label(self.hours)}. Cheapest first."
        )
        self.query_one("#best-note", Static).update(Text(note))
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for key, label in (
            ("provider", "Provider"),
            ("gpus", "GPUs"),
            ("price", "$/h"),
            ("all_in", "All-in $/h"),
            ("per_gpu", "All-in $/GPU-h"),
            ("value", "m$/pt"),
            ("vram", "$/GB VRAM-h"),
            ("cost", cost_label(self.hours)),
            ("region", "Region"),
            ("rel", "Rel."),
        ):
            table.add_column(label, key=key)
        if not self.offers:
            table.add_row(Text("no available offer matches", style="dim"), *[""] * 9)
            return
        costs = [all_in(o, self.disk_gb) for o in self.offers]
        cheapest = min(c.per_gpu_hour for c in costs)
        for offer, cost in zip(self.offers, costs, strict=True):
            star = "*" if cost.estimated else ""
            best = cost.per_gpu_hour == cheapest
            style = "bold green" if best else ""
            table.add_row(
                Text(display_name(offer.provider)),
                Text(str(offer.gpu_count), justify="right"),
                Text(fmt.price(offer.price_per_hour), justify="right"),
                Text(fmt.price(cost.per_hour) + star, justify="right"),
                Text(fmt.price(cost.per_gpu_hour), justify="right", style=style),
                Text(fmt.value_per_point(offer.value), justify="right"),
                Text(fmt.price(per_gb_vram_hour(offer)), justify="right"),
                Text(fmt.price(cost.for_hours(self.hours)) + star, justify="right"),
                Text(offer.region or "-"),
                Text(fmt.percent(offer.reliability), justify="right"),
                key=offer.id,
            )

    def action_hours(self, step: int) -> None:
        index = HOURS.index(self.hours) + step
        self.hours = HOURS[max(0, min(len(HOURS) - 1, index))]
        self._fill()

    def action_move(self, rows: int) -> None:
        table = self.query_one(DataTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + rows)))

    @on(DataTable.RowSelected)
    def _open_offer(self, event: DataTable.RowSelected) -> None:
        offer_id = event.row_key.value
        if offer_id and any(o.id == offer_id for o in self.offers):
            from gpucm.tui.screens.offer_detail import OfferDetailScreen

            self.app.push_screen(OfferDetailScreen(self.services, offer_id, self.disk_gb))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

    @property
    def selected(self) -> Offer | None:
        """The offer on the cursor's row."""
        table = self.query_one(DataTable)
        if not table.row_count or not self.offers:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((o for o in self.offers if o.id == key), None)
