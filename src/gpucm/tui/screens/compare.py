"""`c` with 2 to 6 marked offers: side by side, the best value in each row highlighted.

Columns are the marked offers, cheapest all-in first; an offer that vanished since it
was marked keeps its column, greyed out, with what the table last showed of it. The
columns that fit are drawn whole (a narrow terminal pages through them with ←/→,
never cutting a value), and the keys stay on screen under the rows at any size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rich.cells import cell_len
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from gpucm import formatting as fmt
from gpucm.domain.models import Offer
from gpucm.domain.pricing import DEFAULT_DISK_GB, AllIn, all_in, egress_per_gb, planned_disk_gb
from gpucm.domain.provider_names import display_name
from gpucm.providers.registry import PROVIDER_META
from gpucm.tui.screens.gb_out import GbOutScreen, gb_out_line
from gpucm.tui.screens.help import COMPARE_HELP
from gpucm.tui.screens.launch_key import LaunchKeyScreen

if TYPE_CHECKING:
    from gpucm.services import Services
    from gpucm.tui.widgets.offer_table import OfferRow


HINT = (
    "★ best in row   ←/→: choose an offer   ↑/↓: scroll   g: GB out per hour"
    "   L: launch it   esc: close"
)


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


def all_in_attributes(disk_gb: float, gb_out: float = 0.0) -> tuple[Attribute, ...]:
    """The honest price rows: the offer plus the disk the user plans (storage>=N or the
    default) and the egress they send (GB out per hour, where billed per GB), starred
    where estimated from a list rate."""

    def cost(o: Offer) -> AllIn:
        return all_in(o, disk_gb, gb_out)

    def star(o: Offer) -> str:
        return "*" if cost(o).estimated else ""

    return (
        Attribute(
            f"All-in $/h ({disk_gb:g} GB" + (f", {gb_out:g} GB out/h)" if gb_out else ")"),
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


def _egress_rate(o: Offer) -> str:
    rate = egress_per_gb(o)
    return "not in API" if rate is None else f"${rate:.4f}/GB"


EGRESS_RATE = Attribute("Egress $/GB", egress_per_gb, _egress_rate, "min")


def attributes(disk_gb: float = DEFAULT_DISK_GB, gb_out: float = 0.0) -> tuple[Attribute, ...]:
    return (
        *ATTRIBUTES[:4],
        *all_in_attributes(disk_gb, gb_out),
        EGRESS_RATE,
        *ATTRIBUTES[4:],
    )


ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("Provider", lambda o: o.provider, lambda o: display_name(o.provider)),
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


@dataclass(frozen=True)
class Column:
    """One marked offer: as the store has it now, or None if it vanished (then what
    the table last showed of it, if anything)."""

    offer_id: str
    offer: Offer | None
    known: OfferRow | None = None

    @property
    def gone(self) -> bool:
        return self.offer is None

    def header(self, index: int) -> str:
        return f"#{index + 1} gone" if self.gone else f"#{index + 1}"


def _known_text(attr: Attribute, row: OfferRow | None) -> str:
    """What a vanished offer's column can still say: the facts the table showed."""
    if row is None:
        return "-"
    if attr.label == "Provider":
        return display_name(row.provider)
    if attr.label == "GPU":
        return f"{row.gpu_count} x {row.gpu_model}"
    if attr.label == "$/h":
        return fmt.price(row.price_per_hour)
    if attr.label == "$/GPU-h":
        return fmt.price(row.price_per_gpu_hour)
    if attr.label == "Available":
        return "gone"
    return "-"


COLUMN_GAP = 2


class CompareScreen(LaunchKeyScreen):
    """The selected offer is a column: ←/→ choose it, ↑/↓ scroll the attributes, and
    `L` launches the offer selected."""

    HELP_TITLE = "compare keys"
    KEYS_HELP = COMPARE_HELP

    LAUNCH_UNAVAILABLE = "This offer vanished in a refresh: choose another with ←/→."

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "compare--label",
        "compare--header",
        "compare--selected",
        "compare--selected-header",
        "compare--best",
        "compare--selected-best",
        "compare--gone",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,c", "dismiss", "Close", id="compare.close"),
        Binding("left,h", "choose(-1)", "Previous offer", show=False, id="compare.previous"),
        Binding("right,l", "choose(1)", "Next offer", show=False, id="compare.next"),
        Binding("down,j", "scroll(1)", "Scroll down", show=False, id="cursor.down"),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False, id="cursor.up"),
        Binding("L", "launch", "Launch", id="compare.launch"),
        Binding("g", "gb_out", "GB out/h", id="compare.gb_out"),
    ]

    def __init__(
        self,
        services: Services,
        offer_ids: list[str],
        disk_gb: float | None = None,
        known: Mapping[str, OfferRow] | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.offer_ids = offer_ids
        self.disk_gb = planned_disk_gb(disk_gb)
        self.gb_out = 0.0  # GB out per hour: egress is not counted until the user says
        self.known = dict(known or {})
        self.columns: list[Column] = []
        self.choice = 0  # index into columns
        self.first = 0  # the first column on screen
        self.loaded = False

    @property
    def offers(self) -> list[Offer]:
        """The marked offers still listed, in column order."""
        return [c.offer for c in self.columns if c.offer is not None]

    def compose(self) -> ComposeResult:
        # the frame scrolls the rows; the keys, docked, stay on screen at any size
        with VerticalScroll(id="dialog", can_focus=False):
            yield Static(
                Text(f"Comparing {len(self.offer_ids)} offers, cheapest all-in first"),
                classes="dialog-title",
                id="compare-title",
            )
            yield Static("Loading…", id="compare-grid")
            with Vertical(classes="dialog-bottom"):
                yield Static(Text(HINT), classes="dialog-hint", id="compare-hint")
                yield Static(
                    gb_out_line(self.gb_out),
                    classes="dialog-hint",
                    id="compare-gb-out",
                    markup=False,
                )
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
        found = {i: await self.services.store.get_offer(i) for i in self.offer_ids}
        live = [o for o in found.values() if o is not None]
        live.sort(key=lambda o: all_in(o, self.disk_gb, self.gb_out).per_hour)
        gone = [i for i in self.offer_ids if found[i] is None]
        self.columns = [Column(o.id, o) for o in live] + [
            Column(i, None, self.known.get(i)) for i in gone
        ]
        estimated = any(all_in(o, self.disk_gb, self.gb_out).estimated for o in self.offers)
        self.query_one("#compare-estimated").display = estimated
        if gone:
            self.query_one("#compare-title", Static).update(
                Text(
                    f"Comparing {len(self.offer_ids)} offers, cheapest all-in first;"
                    f" {len(gone)} vanished in a refresh (greyed out)"
                )
            )
        self.loaded = True
        self._draw()

    # -- drawing --------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"compare--{name}", partial=True)

    def cell_texts(self) -> list[tuple[Attribute, list[str]]]:
        """Every row's label and each column's text (a ★ marks the best)."""
        attrs = attributes(self.disk_gb, self.gb_out)
        live = self.offers
        rows: list[tuple[Attribute, list[str]]] = []
        for attr in attrs:
            winners = {live[i].id for i in best_columns(attr, live)}
            texts = []
            for column in self.columns:
                if column.offer is None:
                    texts.append(_known_text(attr, column.known))
                else:
                    star = " ★" if column.offer_id in winners else ""
                    texts.append(attr.show(column.offer) + star)
            rows.append((attr, texts))
        return rows

    def cell(self, label: str, column: int) -> str:
        """The text in a row (by its label) and column (0 = the first offer)."""
        for attr, texts in self.cell_texts():
            if attr.label == label:
                return texts[column]
        raise KeyError(label)

    def _widths(self, rows: list[tuple[Attribute, list[str]]]) -> tuple[int, list[int]]:
        label = max(cell_len(a.label) for a, _ in rows)
        widths = [
            max(cell_len(c.header(i)), *(cell_len(texts[i]) for _, texts in rows))
            for i, c in enumerate(self.columns)
        ]
        return label, widths

    def _window(self, room: int, label: int, widths: list[int]) -> tuple[int, int]:
        """The columns [first, end) to draw: whole columns only, the chosen one in."""
        first = min(self.first, self.choice)

        def end_from(start: int) -> int:
            used = label
            end = start
            while end < len(widths) and used + COLUMN_GAP + widths[end] <= room:
                used += COLUMN_GAP + widths[end]
                end += 1
            return max(end, start + 1)

        while end_from(first) <= self.choice:
            first += 1
        return first, end_from(first)

    def _draw(self) -> None:
        grid = self.query_one("#compare-grid", Static)
        if not self.columns:
            grid.update(Text("None of the marked offers is listed any more."))
            return
        rows = self.cell_texts()
        label_width, widths = self._widths(rows)
        room = grid.size.width or self.query_one("#dialog").size.width or 76
        self.first, end = self._window(room - 1, label_width, widths)
        table = Table.grid(padding=(0, COLUMN_GAP, 0, 0))
        table.add_column(no_wrap=True, width=label_width)
        shown = range(self.first, end)
        for i in shown:
            table.add_column(no_wrap=True, width=widths[i], justify="right")
        header: list[Text] = [Text("")]
        for i in shown:
            style = self._style("selected-header" if i == self.choice else "header")
            if self.columns[i].gone:
                style += self._style("gone")
            header.append(Text(self.columns[i].header(i), style=style))
        table.add_row(*header)
        label_style = self._style("label")
        for attr, texts in rows:
            cells: list[Text] = [Text(attr.label, style=label_style)]
            for i in shown:
                column = self.columns[i]
                best = texts[i].endswith("★") and not column.gone
                if column.gone:
                    style = self._style("gone")
                elif i == self.choice:
                    style = self._style("selected-best" if best else "selected")
                else:
                    style = self._style("best") if best else Style()
                cells.append(Text(texts[i], style=style))
            table.add_row(*cells)
        more_left, more_right = self.first, len(self.columns) - end
        if more_left or more_right:
            note = Text(
                ("◀ " + str(more_left) + " more   " if more_left else "")
                + (f"{more_right} more ▶" if more_right else ""),
                style=label_style,
            )
            outer = Table.grid()
            outer.add_row(table)
            outer.add_row(note)
            grid.update(outer)
        else:
            grid.update(table)
        self._hint()

    def _hint(self) -> None:
        hint = HINT
        column = self.columns[self.choice] if self.columns else None
        if column is not None and column.offer is not None:
            offer = column.offer
            hint = (
                f"★ best   L: launch #{self.choice + 1} ({offer.gpu_count} x "
                f"{offer.gpu_model}, {display_name(offer.provider)})   ←/→ offer   esc close"
            )
        elif column is not None:
            hint = f"#{self.choice + 1} vanished in a refresh: it cannot be launched   esc close"
        self.query_one("#compare-hint", Static).update(Text(hint))
        self.refresh_bindings()

    def on_resize(self, event: events.Resize) -> None:
        if self.loaded:
            self.call_after_refresh(self._draw)

    # -- keys -----------------------------------------------------------------------

    def action_gb_out(self) -> None:
        def chosen(gb_out: float | None) -> None:
            if gb_out is None or gb_out == self.gb_out:
                return
            self.gb_out = gb_out
            self.query_one("#compare-gb-out", Static).update(gb_out_line(gb_out))
            self._load()  # re-sorted: the cheapest all-in first, egress included

        self.app.push_screen(GbOutScreen(self.gb_out), chosen)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)

    def action_choose(self, step: int) -> None:
        if self.columns:
            self.choice = max(0, min(len(self.columns) - 1, self.choice + step))
            self._draw()

    def action_scroll(self, step: int) -> None:
        self.query_one("#dialog", VerticalScroll).scroll_relative(y=step, animate=False)

    @property
    def selected(self) -> Offer | None:
        """The offer whose column is chosen (None when it vanished)."""
        if not self.columns:
            return None
        return self.columns[self.choice].offer
