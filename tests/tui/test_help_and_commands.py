"""The `?` help overlay and gpucm's command-palette provider."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandPalette, Hit
from textual.containers import VerticalScroll
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static

from gpucm.tui.commands import CommandTarget, ExportFormat, GpucmCommands, commands_for
from gpucm.tui.screens.help import KEY_HELP, HelpScreen
from gpucm.tui.themes import load_themes, register_themes
from tests.tui.helpers import palette_settled

# ---------------------------------------------------------------------------- help


class HelpApp(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, key_help: list[tuple[str, list[tuple[str, str]]]] | None = None) -> None:
        super().__init__()
        self.key_help = key_help
        self.closed: list[object] = []

    def compose(self) -> ComposeResult:
        yield Static("main", id="main")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.key_help), self.closed.append)


def _texts(screen: HelpScreen, selector: str) -> list[str]:
    return [str(w.content) for w in screen.query(selector).results(Static)]


async def test_help_lists_every_key_group_and_the_palette() -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        keys = _texts(screen, ".help--key")
        assert "ctrl+p" in keys
        assert "/" in keys
        assert len(keys) == sum(len(entries) for _, entries in KEY_HELP)
        titles = _texts(screen, ".help--title")
        assert [t for t, _ in KEY_HELP] == titles[: len(KEY_HELP)]
        assert any("sort=-" in text for text in _texts(screen, ".help--example"))


@pytest.mark.parametrize("key", ["escape", "q", "question_mark"])
async def test_help_closes(key: str) -> None:
    app = HelpApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        await pilot.press(key)
        await pilot.pause()
        assert app.screen is not help_screen
        assert app.closed == [None]


async def test_help_fits_80x24_and_scrolls_when_keys_are_added() -> None:
    longer = [(title, list(entries)) for title, entries in KEY_HELP]
    longer.append(("More", [(f"x{i}", f"extra key {i}") for i in range(12)]))
    app = HelpApp(longer)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        dialog = screen.query_one("#help-dialog")
        assert dialog.region.right <= 80
        assert dialog.region.bottom <= 24
        body = screen.query_one("#help-body", VerticalScroll)
        assert body.max_scroll_y > 0
        await pilot.press("j", "j")
        await pilot.pause()
        assert body.scroll_y > 0
        await pilot.press("k", "k")
        await pilot.pause()
        assert body.scroll_y == 0


async def test_default_help_fits_120x40_without_scrolling() -> None:
    app = HelpApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query_one("#help-body", VerticalScroll).max_scroll_y == 0


async def test_help_shows_brackets_literally() -> None:
    app = HelpApp([("Odd [b]", [("[/]", "closing [bold]tag")])])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        assert _texts(screen, ".help--key") == ["[/]"]
        assert _texts(screen, ".help--what") == ["closing [bold]tag"]


# ------------------------------------------------------------------------- palette


class TargetApp(App[None]):
    """A stand-in for gpucm's App: implements CommandTarget by recording calls."""

    COMMANDS = App.COMMANDS | {GpucmCommands}

    def __init__(self, providers: list[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self.calls: list[tuple[object, ...]] = []
        self.providers = (
            [("vast_ai", "Vast.ai"), ("runpod", "RunPod")] if providers is None else providers
        )

    def compose(self) -> ComposeResult:
        yield Static("main")

    def on_mount(self) -> None:
        register_themes(self, load_themes(Path("/nonexistent"))[0])

    def active_providers(self) -> list[tuple[str, str]]:
        return list(self.providers)

    def theme_names(self) -> list[str]:
        return sorted(n for n in self.available_themes if n.startswith("gpucm-"))

    def set_theme(self, name: str) -> None:
        self.calls.append(("theme", name))
        self.theme = name

    def refresh_provider(self, name: str | None) -> None:
        self.calls.append(("refresh", name))

    def clear_filters(self) -> None:
        self.calls.append(("clear",))

    def export_view(self, fmt: ExportFormat) -> None:
        self.calls.append(("export", fmt))

    def saved_filters(self) -> list[str]:
        return ["cheap-4090", "big-h100"]

    def recall_filter(self, name: str) -> None:
        self.calls.append(("recall", name))

    def save_filter(self) -> None:
        self.calls.append(("save",))

    def watch_filter(self) -> None:
        self.calls.append(("watch",))

    def open_market(self) -> None:
        self.calls.append(("market",))

    def open_instances(self) -> None:
        self.calls.append(("instances",))

    def armed_watches(self) -> list[str]:
        return ["", "bob"]

    def disarm_watch(self) -> None:
        self.calls.append(("disarm",))


async def _open_palette(app: App[None], pilot: Pilot[None]) -> CommandPalette:
    await pilot.press("ctrl+p")
    await pilot.pause()
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    return palette


def test_target_app_implements_the_protocol() -> None:
    assert isinstance(TargetApp(), CommandTarget)
    assert not isinstance(App(), CommandTarget)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Refresh Vast", ("refresh", "vast_ai")),
        ("Refresh RunPod", ("refresh", "runpod")),
        ("Refresh all", ("refresh", None)),
        ("Theme gpucm-light", ("theme", "gpucm-light")),
        ("Export CSV", ("export", "csv")),
        ("Export JSON", ("export", "json")),
        ("Clear filters", ("clear",)),
        ("Filter: cheap", ("recall", "cheap-4090")),
        ("Filter: big", ("recall", "big-h100")),
        ("Save filter as", ("save",)),
        ("Watch this filter", ("watch",)),
        ("Market stats", ("market",)),
        ("Instances", ("instances",)),
        ("Disarm a watch", ("disarm",)),
    ],
)
async def test_palette_runs_the_top_hit(typed: str, expected: tuple[object, ...]) -> None:
    app = TargetApp()
    async with app.run_test(size=(100, 30)) as pilot:
        palette = await _open_palette(app, pilot)
        await pilot.press(*typed)
        await palette_settled(palette, pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.calls == [expected]
        assert not isinstance(app.screen, CommandPalette)
        if expected[0] == "theme":
            assert app.theme == expected[1]


async def test_empty_palette_lists_gpucm_commands_but_not_every_theme() -> None:
    app = TargetApp()
    async with app.run_test(size=(100, 30)) as pilot:
        palette = await _open_palette(app, pilot)
        options = await palette_settled(palette, pilot)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        joined = "\n".join(prompts)
        for title in ("Refresh Vast.ai", "Refresh all providers", "Clear filters"):
            assert title in joined
        assert "Theme: gpucm-dark" not in joined
        assert app.calls == []


async def test_only_active_providers_get_a_refresh_command() -> None:
    app = TargetApp(providers=[("lambda_labs", "Lambda Cloud")])
    async with app.run_test(size=(100, 30)):
        titles = [c.title for c in commands_for(app)]
    assert "Refresh Lambda Cloud" in titles
    assert not any("Vast" in t for t in titles)
    assert [t for t in titles if t.startswith("Theme: ")] == [
        f"Theme: {n}" for n in sorted(app.theme_names())
    ]


async def _search(app: App[None], query: str) -> list[Hit]:
    provider = GpucmCommands(app.screen)
    return [hit async for hit in provider.search(query) if isinstance(hit, Hit)]


async def test_provider_names_are_not_markup() -> None:
    app = TargetApp(providers=[("evil", "Evil [/] [b]Cloud")])
    async with app.run_test(size=(100, 30)):
        hits = await _search(app, "Refresh Evil")
    assert hits
    display = hits[0].match_display
    assert isinstance(display, Content)
    assert display.plain == "Refresh Evil [/] [b]Cloud"


async def test_app_without_the_protocol_gets_no_gpucm_commands() -> None:
    app: App[None] = App()
    async with app.run_test(size=(100, 30)):
        assert await _search(app, "Export") == []
        assert await _search(app, "Refresh") == []
