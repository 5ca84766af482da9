"""The filter builder: one compact control for every SearchQuery filter.

The pane keeps the query it describes in plain attributes; the controls are views of
that state. Programmatic updates (`set_query`) are made with the controls' change
messages prevented, and `Changed` is only posted when the query really differs from
the last one set or announced, so a late message from a control (one queued at mount,
say) can never echo a query back to the screen.

GPU model list: family entries come first under "Families" ("any H100 (3)" selects the
term "H100", which the store expands to every H100 variant), for each family with more
than one catalog entry. A family of one model is just that model, so it is not repeated.
Then every model under its category heading. A model whose canonical name is also its
family's name (the catalog's "H100" is the SXM part, but the term "H100" means the whole
family to `Catalog.expand`) is offered under the first alias that names only that
variant ("H100 SXM"), so choosing it filters to that variant and nothing more.

Terms the lists do not know (a raw GPU name or region typed in the text query) are kept:
they show, selected, under a "typed, not listed" heading and stay in the query until
unticked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar, Literal

from rich.segment import Segment
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Button, Input, OptionList, Select, SelectionList, Static
from textual.widgets.option_list import OptionDoesNotExist
from textual.widgets.selection_list import Selection

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import (
    CATEGORIES,
    SORT_KEYS,
    Category,
    SearchQuery,
    SortBy,
    SortOrder,
)
from gpucm.domain.provider_names import canonical_provider
from gpucm.domain.regions import expand_region_terms
from gpucm.domain.workload_fit import FitError, parse_workload
from gpucm.tui.numbers import NumberError, number_text, parse_number, parse_share
from gpucm.tui.widgets.choice import Choice

__all__ = ["FilterPane"]

DEBOUNCE_SECONDS = 0.2
# Headings are disabled options whose values can never be a search term (terms are
# whitespace-collapsed user text; a NUL never survives the query language).
_HEADING_PREFIX = "\x00heading:"
_TYPED_HEADING = "typed, not listed"

_CATEGORY_BY_NAME: dict[str, Category] = {c: c for c in CATEGORIES}
_SORT_BY_NAME: dict[str, SortBy] = {s: s for s in SORT_KEYS}
_ORDER_BY_NAME: dict[str, SortOrder] = {"asc": "asc", "desc": "desc"}
_COUNT_CHOICES: tuple[int, ...] = (1, 2, 4, 8)
_ANY = ""


def _parse_money(text: str) -> float | None:
    return parse_number(text, prefix="$", suffixes=("/h",))


def _parse_gigabytes(text: str) -> float | None:
    return parse_number(text, suffixes=("gib", "gb", "g"))


def _parse_plain(text: str) -> float | None:
    return parse_number(text)


def _parse_performance(text: str) -> float | None:
    return parse_number(text, maximum=150)


# (query field, row label, placeholder, parser) for the single-number rows.
_NUMBER_ROWS: tuple[tuple[str, str, str, Callable[[str], float | None]], ...] = (
    ("min_ram", "RAM ≥", "GB", _parse_gigabytes),
    ("min_storage", "disk ≥", "GB", _parse_gigabytes),
    ("min_gpu_memory", "VRAM ≥", "GB per GPU", _parse_gigabytes),
    ("min_cuda", "CUDA ≥", "e.g. 12.1", _parse_plain),
    ("min_performance", "perf ≥", "0-150", _parse_performance),
    ("min_reliability", "reliab ≥", "0.95 or 95", parse_share),
)
_NUMBER_FIELDS: tuple[str, ...] = ("min_price", "max_price", *(r[0] for r in _NUMBER_ROWS))


def _input_id(field: str) -> str:
    return "fp-" + field.replace("_", "-")


_FITS_ID = _input_id("fits")
# the inputs whose edits are committed together (debounced, or on enter)
_NUMBER_INPUT_IDS: frozenset[str] = frozenset([*(_input_id(f) for f in _NUMBER_FIELDS), _FITS_ID])


def _hint_id(field: str) -> str:
    return _input_id(field) + "-hint"


def _folded(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


def _label_matches(label: str, needle: str) -> bool:
    wanted = needle.strip().casefold()
    if not wanted:
        return True
    return wanted in label.casefold() or _folded(wanted) in _folded(label)


class _Heading(Selection[str]):
    """A group title inside a selection list: never selectable, drawn without a box."""

    def __init__(self, title: str) -> None:
        super().__init__(Content(title), _HEADING_PREFIX + title, disabled=True)


class _TermList(SelectionList[str]):
    """A multi-select over search terms, with group headings, a text filter, and room
    for terms it does not list (kept, shown under "typed", never dropped).

    The list keeps the chosen terms itself, in the order they were chosen, because the
    options on show change with the filter while hidden choices must survive it.
    """

    def __init__(
        self,
        groups: Sequence[tuple[str | None, Sequence[tuple[str, str]]]],
        matcher: Callable[[str], str | None],
        *,
        id: str,
    ) -> None:
        super().__init__(id=id, compact=True)
        self._groups = [(title, list(items)) for title, items in groups]
        self._labels: dict[str, str] = {
            value: label for _title, items in self._groups for label, value in items
        }
        self._matcher = matcher
        self._chosen: list[str] = []
        self._extras: list[str] = []
        self._filter = ""
        # is_mounted is still False inside on_mount, where the first build happens.
        self._ready = False

    @property
    def chosen(self) -> tuple[str, ...]:
        return tuple(self._chosen)

    @property
    def known_values(self) -> tuple[str, ...]:
        return tuple(self._labels)

    def set_terms(self, terms: Iterable[str]) -> None:
        chosen: list[str] = []
        extras: list[str] = []
        for term in terms:
            value = term if term in self._labels else self._matcher(term)
            if value is None or value not in self._labels:
                value = term
                if term not in extras:
                    extras.append(term)
            if value not in chosen:
                chosen.append(value)
        self._chosen = chosen
        self._extras = extras
        self._rebuild()

    def set_filter(self, text: str) -> None:
        if text != self._filter:
            self._filter = text
            self._rebuild()

    def first_enabled(self) -> int | None:
        for index, option in enumerate(self.options):
            if not option.disabled:
                return index
        return None

    def _visible_groups(self) -> list[tuple[str | None, list[tuple[str, str]]]]:
        groups: list[tuple[str | None, list[tuple[str, str]]]] = []
        if self._extras:
            groups.append((_TYPED_HEADING, [(term, term) for term in self._extras]))
        groups.extend(self._groups)
        shown: list[tuple[str | None, list[tuple[str, str]]]] = []
        for title, items in groups:
            matching = [item for item in items if _label_matches(item[0], self._filter)]
            if matching:
                shown.append((title, matching))
        return shown

    def _rebuild(self) -> None:
        if not self._ready:
            return
        previous: str | None = None
        if self.highlighted is not None:
            try:
                previous = self.get_option_at_index(self.highlighted).value
            except OptionDoesNotExist:
                previous = None
        options: list[Selection[str]] = []
        for title, items in self._visible_groups():
            if title is not None:
                options.append(_Heading(title))
            options.extend(
                Selection(Content(label), value, value in self._chosen) for label, value in items
            )
        with self.prevent(self.SelectedChanged, self.SelectionHighlighted):
            self.clear_options()
            self.add_options(options)
            target = next(
                (i for i, o in enumerate(options) if o.value == previous and not o.disabled),
                None,
            )
            self.highlighted = target if target is not None else self.first_enabled()

    def on_mount(self) -> None:
        self._ready = True
        self._rebuild()

    def _on_selection_list_selection_toggled(
        self, event: SelectionList.SelectionToggled[str]
    ) -> None:
        # Runs before the message bubbles to the pane, so the pane reads the new state.
        value = event.selection.value
        if value in self.selected:
            if value not in self._chosen:
                self._chosen.append(value)
        elif value in self._chosen:
            self._chosen.remove(value)

    def render_line(self, y: int) -> Strip:
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return super().render_line(y)
        if not isinstance(option, _Heading):
            return super().render_line(y)
        # OptionList draws the prompt alone; pad where SelectionList would draw a box.
        line = OptionList.render_line(self, y)
        style = next(iter(line)).style if line.cell_length else None
        gutter = self._get_left_gutter_width()
        return Strip.join([Strip([Segment(" " * gutter, style)], gutter), line])


class _SearchInput(Input):
    """The model filter box: down or enter moves on to the list it filters."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "to_list", "To the list", show=False, id="filters.to_list"),
    ]

    def action_to_list(self) -> None:
        self.screen.focus_next()


class FilterPane(VerticalScroll, can_focus=False):
    """Every search filter as a control; posts `FilterPane.Changed` on user edits."""

    DEFAULT_CSS = """
    FilterPane {
        width: 32;
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        padding: 0 0 0 1;
    }
    FilterPane .fp-title {
        height: 1;
        color: $text-muted;
        text-style: bold;
        margin-top: 1;
    }
    FilterPane .fp-title.-first {
        margin-top: 0;
    }
    FilterPane .fp-row {
        height: 1;
    }
    FilterPane .fp-label {
        width: 10;
        height: 1;
        color: $text-muted;
    }
    FilterPane .fp-dash {
        width: 3;
        height: 1;
        text-align: center;
        color: $text-muted;
    }
    FilterPane Input {
        border: none;
        height: 1;
        padding: 0;
        width: 1fr;
        background: $panel;
    }
    FilterPane Input:focus {
        background: $boost;
    }
    FilterPane Input.-invalid {
        color: $text-error;
    }
    FilterPane Select {
        width: 1fr;
        height: 1;
    }
    FilterPane .fp-hint {
        height: 1;
        color: $text-error;
        display: none;
    }
    FilterPane .fp-hint.-shown {
        display: block;
    }
    FilterPane SelectionList {
        height: auto;
        scrollbar-size-vertical: 1;
        background: $panel;
    }
    FilterPane SelectionList:focus {
        background-tint: $foreground 5%;
    }
    FilterPane SelectionList > .option-list--option-disabled {
        color: $text-muted;
        text-style: bold;
    }
    FilterPane #fp-models {
        height: 10;
    }
    FilterPane #fp-regions {
        max-height: 6;
    }
    FilterPane #fp-providers {
        max-height: 5;
    }
    FilterPane #fp-clear {
        margin-top: 1;
        width: auto;
        min-width: 9;
    }
    """

    class Changed(Message):
        """The user changed a filter; `query` is the whole query the pane now shows."""

        def __init__(self, query: SearchQuery) -> None:
            super().__init__()
            self.query = query

    def __init__(
        self,
        catalog: Catalog,
        regions: Sequence[str],
        providers: Sequence[tuple[str, str]],
        *,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._catalog = catalog
        self._query = SearchQuery()
        self._announced = self._query
        self._numbers: dict[str, float | None] = dict.fromkeys(_NUMBER_FIELDS)
        self._fits: str | None = None
        self._hosts: Literal["good", "all"] = "good"
        self._category: Category | None = None
        self._count: int | None = None
        self._available = True
        self._sort_by: SortBy = "price"
        self._order: SortOrder = "asc"
        self._debounce: Timer | None = None

        model_groups, self._model_expansions = self._model_options(catalog)
        self._models = _TermList(model_groups, self._match_model, id="fp-models")
        self._region_names = tuple(regions)
        self._regions = _TermList(
            [(None, [(name, name) for name in self._region_names])],
            self._match_region,
            id="fp-regions",
        )
        self._provider_names = {name: display for name, display in providers}
        self._providers = _TermList(
            [(None, [(display, name) for name, display in providers])],
            self._match_provider,
            id="fp-providers",
        )

    # --- catalog -> options -------------------------------------------------------------

    @staticmethod
    def _model_options(
        catalog: Catalog,
    ) -> tuple[list[tuple[str | None, list[tuple[str, str]]]], dict[tuple[str, ...], str]]:
        groups: list[tuple[str | None, list[tuple[str, str]]]] = []
        expansions: dict[tuple[str, ...], str] = {}
        used: set[str] = set()

        def offer(label: str, value: str, items: list[tuple[str, str]]) -> None:
            if value in used:
                return
            used.add(value)
            items.append((label, value))
            expansions.setdefault(catalog.expand(value), value)

        members: dict[str, int] = {}
        for model in catalog.models:
            members[model.family] = members.get(model.family, 0) + 1
        families: list[tuple[str, str]] = []
        for family in catalog.families():
            if members.get(family, 0) > 1:
                offer(f"any {family} ({members[family]})", family, families)
        if families:
            groups.append(("Families", families))
        for category, models in catalog.by_category().items():
            items: list[tuple[str, str]] = []
            for model in models:
                value = model.name
                if catalog.expand(value) != (model.name,):
                    value = next(
                        (a for a in model.aliases if catalog.expand(a) == (model.name,)),
                        model.name,
                    )
                offer(value, value, items)
            if items:
                groups.append((category, items))
        return groups, expansions

    def _match_model(self, term: str) -> str | None:
        folded = term.casefold()
        for value in self._models.known_values:
            if value.casefold() == folded:
                return value
        return self._model_expansions.get(self._catalog.expand(term))

    def _match_region(self, term: str) -> str | None:
        groups, raw = expand_region_terms([term])
        if len(groups) == 1 and not raw and groups[0] in self._region_names:
            return groups[0]
        return None

    def _match_provider(self, term: str) -> str | None:
        name = canonical_provider(term)
        if name in self._provider_names:
            return name
        folded = term.strip().casefold()
        for name, display in self._provider_names.items():
            if folded in (name.casefold(), display.casefold()):
                return name
        return None

    # --- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("GPU models", classes="fp-title -first", markup=False)
        yield _SearchInput(placeholder="type to filter models", id="fp-model-search", compact=True)
        yield self._models
        with Horizontal(classes="fp-row"):
            yield self._label("category")
            yield Choice(
                [("any", _ANY), *((c, c) for c in CATEGORIES)],
                value=self._category or _ANY,
                allow_blank=False,
                compact=True,
                id="fp-category",
            )
        with Horizontal(classes="fp-row"):
            yield self._label("GPUs ≥")
            yield Choice(
                self._count_options(self._count),
                value=str(self._count) if self._count else _ANY,
                allow_blank=False,
                compact=True,
                id="fp-count",
            )
        with Horizontal(classes="fp-row"):
            yield self._label("$/h")
            yield self._number_input("min_price", "min")
            yield Static("–", classes="fp-dash", markup=False)
            yield self._number_input("max_price", "max")
        yield Static("", id=_hint_id("price"), classes="fp-hint", markup=False)
        for field, label, placeholder, _parse in _NUMBER_ROWS:
            with Horizontal(classes="fp-row"):
                yield self._label(label)
                yield self._number_input(field, placeholder)
            yield Static("", id=_hint_id(field), classes="fp-hint", markup=False)
        with Horizontal(classes="fp-row"):
            yield self._label("fits")
            yield Input(
                self._fits or "",
                placeholder="e.g. 70B@bf16",
                id=_FITS_ID,
                compact=True,
                select_on_focus=False,
            )
        yield Static("", id=_hint_id("fits"), classes="fp-hint", markup=False)
        yield Static("Regions", classes="fp-title", markup=False)
        yield self._regions
        yield Static("Providers", classes="fp-title", markup=False)
        yield self._providers
        with Horizontal(classes="fp-row"):
            # the state in words: a switch drawn one line high showed neither on nor off
            yield self._label("offers")
            yield Choice(
                [("available now", "yes"), ("all, also unavailable", "no")],
                value="yes" if self._available else "no",
                allow_blank=False,
                compact=True,
                id="fp-available",
            )
        with Horizontal(classes="fp-row"):
            yield self._label("sort")
            yield Choice(
                [(key, key) for key in SORT_KEYS],
                value=self._sort_by,
                allow_blank=False,
                compact=True,
                id="fp-sort",
            )
        with Horizontal(classes="fp-row"):
            yield self._label("order")
            yield Choice(
                [("ascending", "asc"), ("descending", "desc")],
                value=self._order,
                allow_blank=False,
                compact=True,
                id="fp-order",
            )
        yield Button("Clear", id="fp-clear", compact=True)

    @staticmethod
    def _label(text: str) -> Static:
        return Static(text, classes="fp-label", markup=False)

    def _number_input(self, field: str, placeholder: str) -> Input:
        return Input(
            number_text(self._numbers[field]),
            placeholder=placeholder,
            id=_input_id(field),
            compact=True,
            select_on_focus=False,
        )

    @staticmethod
    def _count_options(current: int | None) -> list[tuple[str, str]]:
        # A count typed in the text query ("count>=3") gets its own entry, so it shows.
        counts = sorted({*_COUNT_CHOICES, *((current,) if current else ())})
        return [("any", _ANY), *((str(n), str(n)) for n in counts)]

    # --- public API -----------------------------------------------------------------------

    def set_query(self, query: SearchQuery) -> None:
        """Show `query` in every control, without posting `Changed`."""
        self._query = query
        self._numbers = {field: getattr(query, field) for field in _NUMBER_FIELDS}
        self._fits = query.fits
        self._hosts = query.hosts  # no control: kept from the text query (`hosts=all`)
        self._category = query.gpu_category
        self._count = query.min_gpu_count
        self._available = query.available
        self._sort_by = query.sort_by
        self._order = query.sort_order
        self._models.set_terms(query.gpu_models)
        self._regions.set_terms(query.regions)
        self._providers.set_terms(query.providers)
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        if self._composed():
            self._show_state()
        self._announced = self.current_query()

    def focus_search(self) -> None:
        """Put the cursor in the GPU model filter box (the pane's first control)."""
        self.query_one("#fp-model-search", Input).focus()

    def current_query(self) -> SearchQuery:
        """The query the controls describe (limit and offset from the last `set_query`)."""
        n = self._numbers
        return SearchQuery(
            available=self._available,
            gpu_models=self._models.chosen,
            gpu_category=self._category,
            min_gpu_count=self._count,
            min_price=n["min_price"],
            max_price=n["max_price"],
            min_ram=n["min_ram"],
            min_storage=n["min_storage"],
            regions=self._regions.chosen,
            min_reliability=n["min_reliability"],
            min_performance=n["min_performance"],
            providers=self._providers.chosen,
            min_gpu_memory=n["min_gpu_memory"],
            min_cuda=n["min_cuda"],
            fits=self._fits,
            hosts=self._hosts,
            sort_by=self._sort_by,
            sort_order=self._order,
            limit=self._query.limit,
            offset=self._query.offset,
        )

    # --- state -> controls ------------------------------------------------------------------

    def _composed(self) -> bool:
        # Before compose the controls do not exist; compose reads the state directly.
        return bool(self.query("#fp-order"))

    def _show_state(self) -> None:
        with self.prevent(Input.Changed, Select.Changed):
            for field in _NUMBER_FIELDS:
                box = self.query_one(f"#{_input_id(field)}", Input)
                text = number_text(self._numbers[field])
                if box.value != text:
                    box.value = text
                box.remove_class("-invalid")
            fits = self.query_one(f"#{_FITS_ID}", Input)
            if fits.value != (self._fits or ""):
                fits.value = self._fits or ""
            fits.remove_class("-invalid")
            for hint in self.query(".fp-hint").results(Static):
                hint.update("")
                hint.remove_class("-shown")
            self.query_one("#fp-category", Select).value = self._category or _ANY
            count = self.query_one("#fp-count", Select)
            count.set_options(self._count_options(self._count))
            count.value = str(self._count) if self._count else _ANY
            self.query_one("#fp-available", Select).value = "yes" if self._available else "no"
            self.query_one("#fp-sort", Select).value = self._sort_by
            self.query_one("#fp-order", Select).value = self._order

    def _announce(self) -> None:
        query = self.current_query()
        if query != self._announced:
            self._announced = query
            self.post_message(self.Changed(query))

    # --- controls -> state ------------------------------------------------------------------

    @on(SelectionList.SelectionToggled)
    def _list_toggled(self, event: SelectionList.SelectionToggled[str]) -> None:
        event.stop()
        self._announce()

    @on(SelectionList.SelectedChanged)
    @on(SelectionList.SelectionHighlighted)
    def _list_noise(self, event: Message) -> None:
        # Toggles are what matter; keep the rest of the list chatter inside the pane.
        event.stop()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        # Read the control, not the event: a message queued before a set_query is stale.
        value = event.select.value
        text = value if isinstance(value, str) else _ANY
        control = event.select.id
        if control == "fp-category":
            self._category = _CATEGORY_BY_NAME.get(text)
        elif control == "fp-count":
            self._count = int(text) if text.isdigit() and int(text) > 0 else None
        elif control == "fp-sort":
            self._sort_by = _SORT_BY_NAME.get(text, "price")
        elif control == "fp-order":
            self._order = _ORDER_BY_NAME.get(text, "asc")
        elif control == "fp-available":
            self._available = text != "no"
        else:
            return
        self._announce()

    @on(Input.Changed, "#fp-model-search")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._models.set_filter(event.value)

    @on(Input.Submitted, "#fp-model-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._models.focus()

    @on(Input.Changed)
    def _number_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id not in _NUMBER_INPUT_IDS:
            return
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_SECONDS, self._commit_numbers)

    @on(Input.Submitted)
    def _number_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id in _NUMBER_INPUT_IDS:
            self._commit_numbers()

    @on(Button.Pressed, "#fp-clear")
    def _clear_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.query_one("#fp-model-search", Input).value = ""
        announced = self._announced
        self.set_query(SearchQuery())
        self._announced = announced
        self._announce()

    def _commit_numbers(self) -> None:
        """Take every typed number that is valid; flag the rest. Never raises."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        if not self._composed():
            return
        parsed: dict[str, float | None] = {}
        errors: dict[str, str] = {}
        parsers = {
            "min_price": _parse_money,
            "max_price": _parse_money,
            **{field: parse for field, _label, _ph, parse in _NUMBER_ROWS},
        }
        for field, parse in parsers.items():
            text = self.query_one(f"#{_input_id(field)}", Input).value
            try:
                parsed[field] = parse(text)
            except NumberError as exc:
                errors[field] = str(exc)

        low = parsed.get("min_price", self._numbers["min_price"])
        high = parsed.get("max_price", self._numbers["max_price"])
        price_hint = ""
        if "min_price" in errors:
            price_hint = f"min $/h: {errors['min_price']}"
        elif "max_price" in errors:
            price_hint = f"max $/h: {errors['max_price']}"
        elif low is not None and high is not None and low > high:
            price_hint = "min $/h is above max"
            errors["min_price"] = errors["max_price"] = price_hint

        for field, value in parsed.items():
            if field not in errors:
                self._numbers[field] = value
        fits_box = self.query_one(f"#{_FITS_ID}", Input)
        fits_hint = ""
        try:
            self._fits = parse_workload(fits_box.value).text() if fits_box.value.strip() else None
        except FitError as exc:
            fits_hint = f"fits: {exc}"
        fits_box.set_class(bool(fits_hint), "-invalid")
        self._show_hint("fits", fits_hint)
        for field in _NUMBER_FIELDS:
            self.query_one(f"#{_input_id(field)}", Input).set_class(field in errors, "-invalid")
        self._show_hint("price", price_hint)
        for field, label, _ph, _parse in _NUMBER_ROWS:
            message = errors.get(field)
            self._show_hint(field, f"{label.rstrip(' ≥')}: {message}" if message else "")
        self._announce()

    def _show_hint(self, field: str, text: str) -> None:
        hint = self.query_one(f"#{_hint_id(field)}", Static)
        hint.update(Content(text))
        hint.set_class(bool(text), "-shown")
