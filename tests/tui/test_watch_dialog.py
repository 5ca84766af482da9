"""The watch dialog's launch template (a snipe), typed with the keyboard only: every
field reaches the saved template, a bad value gets one line naming its field and keeps
what was typed, the rules are the CLI's and filters.toml's, and every field can be
reached with Tab and seen at 80x24 (the body scrolls under the docked error and hint)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Static

import gpucm.tui.screens
from gpucm import paths
from gpucm.cli.main import main
from gpucm.launch_template import LaunchTemplate
from gpucm.presets import Watch, load_book
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.presets import WatchFormScreen
from gpucm.tui.screenshots import demo_services, settle
from tests.tui.contrast import text_runs
from tests.tui.test_contrast import DARK_TERMINAL, THEMES, _shot, terminal, unreadable

QUERY = 'gpu="RTX 4090"'
# the fields a snipe fills in, in Tab order after the launch checkbox
LAUNCH_TABS = ("max", "machines", "image", "disk", "env", "ports", "ssh-key", "spot", "bid")


class Host(App[None]):
    """The dialog alone, styled as in gpucm-tui (its rules live in main.tcss)."""

    CSS_PATH = str(Path(gpucm.tui.screens.__file__).parent / "main.tcss")

    def __init__(self, screen: WatchFormScreen) -> None:
        super().__init__()
        self.dialog = screen
        self.result: object = "not dismissed"

    def on_mount(self) -> None:
        def done(value: object) -> None:
            self.result = value

        self.push_screen(self.dialog, done)


def error_line(app: Host) -> str:
    return str(app.dialog.query_one("#watch-error", Static).render())


def field(app: Host, name: str) -> Input:
    return app.dialog.query_one(f"#watch-{name}", Input)


def visible(app: Host, widget: Widget) -> bool:
    """Drawn where the user sees it: inside the dialog's body, above its footer."""
    body = app.dialog.query_one(".preset-dialog", VerticalScroll)
    footer = app.dialog.query_one(".dialog-bottom")
    region = widget.region
    return bool(region) and body.content_region.y <= region.y < footer.region.y


async def open_snipe(pilot, app: Host, name: str = "snipe") -> None:  # type: ignore[no-untyped-def]
    """Name the watch and tick "launch", with the keyboard."""
    await pilot.press(*name, "tab", "tab", "tab", "tab")
    assert app.dialog.focused is app.dialog.query_one("#watch-launch", Checkbox)
    await pilot.press("space")
    await pilot.pause()


async def test_every_launch_field_typed_reaches_the_saved_template(tmp_path: Path) -> None:
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen(QUERY, path))
    typed = {
        "max": "$0.45/h",
        "machines": "2",
        "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
        "disk": "80gb",
        "env": "HF_TOKEN, WANDB_API_KEY",
        "ports": "8888/tcp 6006/http",
        "ssh-key": "laptop",
        "bid": "$0.3",
    }
    async with app.run_test(size=(80, 24)) as pilot:
        await open_snipe(pilot, app)
        for name in LAUNCH_TABS:
            await pilot.press("tab")
            await pilot.pause()
            focused = app.dialog.focused
            assert focused is not None and focused.id == f"watch-{name}"
            assert visible(app, focused), f"{name} is hidden at 80x24"
            if name == "spot":
                await pilot.press("space")
            else:
                if name == "machines":
                    await pilot.press("backspace")  # it says 1 until changed
                await pilot.press(*typed[name])
        await pilot.press("enter")
        said = error_line(app)
        # the arming confirmation: the whole template, before anything is saved
        for part in (
            "LAUNCHES WITHOUT ASKING",
            "2 x interruptible (bid $0.3/GPU-h)",
            "at most $0.450/h all-in each ($0.900/h in all)",
            "image pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
            "80 GB disk",
            "Enter again to arm it",
        ):
            assert part in said
        assert app.result == "not dismissed" and not path.exists()
        assert visible(app, app.dialog.query_one("#watch-bid"))  # under a longer footer
        await pilot.press("enter")
        await pilot.pause()
    # armed by the second enter (where the arming is kept is the app's business)
    assert isinstance(app.result, Watch) and app.result.armed
    assert app.result.launch is not None
    saved = load_book(path).watches["snipe"].launch
    assert saved is not None
    assert replace(saved, armed=None) == replace(app.result.launch, armed=None)
    assert replace(saved, armed=None) == LaunchTemplate(
        max_price_per_hour=0.45,
        image="pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel",
        disk_gb=80.0,
        env=("HF_TOKEN", "WANDB_API_KEY"),
        ports=((8888, "tcp"), (6006, "http")),
        ssh_key="laptop",
        interruptible=True,
        bid_per_gpu=0.3,
        count=2,
    )


async def test_the_dialog_saves_what_the_cli_saves_for_the_same_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One set of rules: the CLI's `watch add --launch` and the dialog, the same
    template (all but the moment each was armed)."""
    argv = [
        *("watch", "add", "snipe", "--query", QUERY, "--launch", "--max-price-per-hour", "0.5"),
        *("--image", "vllm/vllm-openai:latest", "--disk", "120", "--env", "HF_TOKEN"),
        *("--port", "8000", "--port", "22/tcp", "--ssh-key", "work", "--spot", "--yes"),
    ]
    code = await asyncio.to_thread(main, argv)  # the CLI runs its own event loop
    assert code == 0, capsys.readouterr().err
    by_cli = load_book(paths.presets_file()).watches["snipe"]
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen(QUERY, path))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_snipe(pilot, app)
        field(app, "max").value = "0.5"
        field(app, "image").value = "vllm/vllm-openai:latest"
        field(app, "disk").value = "120"
        field(app, "env").value = "HF_TOKEN"
        field(app, "ports").value = "8000, 22/tcp"
        field(app, "ssh-key").value = "work"
        app.dialog.query_one("#watch-spot", Checkbox).value = True
        field(app, "max").focus()
        await pilot.press("enter")
        assert "the default bid" in error_line(app)  # interruptible, no bid: as the CLI
        await pilot.press("enter")
        await pilot.pause()
    assert isinstance(app.result, Watch) and app.result.armed
    by_dialog = load_book(path).watches["snipe"]
    assert by_cli.launch is not None and by_dialog.launch is not None
    assert replace(by_dialog.launch, armed=None) == replace(by_cli.launch, armed=None)
    assert by_dialog.launch.interruptible and by_dialog.launch.bid_per_gpu is None


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bid", "0", "Bid $/GPU·h: must be a number more than 0, not 0.0"),
        ("bid", "-0.2", "Bid $/GPU·h: must be a number more than 0"),
        ("bid", "cheap", "Bid $/GPU·h: 'cheap' is not a number"),
        ("ports", "8888 70000/tcp", "Ports: expected PORT or PORT/PROTOCOL"),
        ("ports", "22/sctp", "Ports: expected PORT or PORT/PROTOCOL"),
        ("disk", "0", "Disk GB: must be a number more than 0"),
        ("disk", "lots", "Disk GB: 'lots' is not a number"),
        ("env", "HF_TOKEN 1BAD", "Env names: '1BAD': a variable name is letters"),
        ("env", "VAST_AI_API_KEY", "Env names: VAST_AI_API_KEY: gpucm never sends its own API"),
        ("machines", "9", "Machines: a whole number from 1 to 8, not 9"),
        ("machines", "1.5", "Machines: '1.5' is not a whole number"),
        ("max", "inf", "Max $/h all-in: 'inf' is not a number"),
        ("max", "", "Max $/h all-in: required"),
        ("image", "bad\x07image", "Image: must be printable text"),
    ],
)
async def test_a_bad_value_gets_its_line_keeps_the_input_and_saves_nothing(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen(QUERY, path))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_snipe(pilot, app)
        app.dialog.query_one("#watch-spot", Checkbox).value = True
        await pilot.pause()
        field(app, "max").value = "0.45"
        field(app, name).value = text
        field(app, "image" if name != "image" else "max").focus()
        await pilot.press("enter")
        await pilot.pause()
        line = error_line(app)
        assert line.startswith(says) and "\n" not in line
        assert field(app, name).value == text  # nothing typed is lost
        assert app.dialog.focused is field(app, name)  # the field to fix
        assert visible(app, field(app, name))
        assert app.result == "not dismissed" and not path.exists()


async def test_the_bid_is_for_interruptible_only_and_the_machines_default_to_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "filters.toml"
    app = Host(WatchFormScreen(QUERY, path))
    async with app.run_test(size=(80, 24)) as pilot:
        # the snipe's fields show only once "launch" is ticked: Tab skips them
        assert not visible(app, field(app, "max"))
        assert field(app, "max") not in app.dialog.focus_chain
        await open_snipe(pilot, app)
        assert visible(app, field(app, "max")) and field(app, "max") in app.dialog.focus_chain
        assert field(app, "machines").value == "1"
        assert field(app, "bid").disabled  # on demand: no bid (as on the launch form)
        spot = app.dialog.query_one("#watch-spot", Checkbox)
        spot.value = True
        await pilot.pause()
        assert not field(app, "bid").disabled
        field(app, "bid").value = "0.25"
        spot.value = False  # back to on demand: the bid stays typed, and is not sent
        await pilot.pause()
        assert field(app, "bid").disabled and field(app, "bid").value == "0.25"
        field(app, "max").value = "0.4"
        field(app, "max").focus()
        await pilot.press("enter")
        assert "1 x on-demand, at most $0.400/h all-in" in error_line(app)
        await pilot.press("enter")
        await pilot.pause()
    launch = load_book(path).watches["snipe"].launch
    assert launch is not None
    assert launch.count == 1 and not launch.interruptible and launch.bid_per_gpu is None
    assert "count" not in launch.to_toml()


async def test_interruptible_is_not_offered_where_no_provider_of_the_filter_rents_it(
    tmp_path: Path,
) -> None:
    app = Host(WatchFormScreen("provider=lambda", tmp_path / "filters.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_snipe(pilot, app)
        assert app.dialog.query_one("#watch-spot", Checkbox).disabled
        assert field(app, "bid").disabled
        note = str(app.dialog.query_one("#watch-spot-note", Static).render())
        assert "Lambda Cloud rents no interruptible (spot) machines" in note
    app = Host(WatchFormScreen(QUERY, tmp_path / "filters.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_snipe(pilot, app)
        assert not app.dialog.query_one("#watch-spot", Checkbox).disabled
        note = str(app.dialog.query_one("#watch-spot-note", Static).render())
        assert "only offers with a spot price (Vast.ai, RunPod)" in note


async def test_at_120x40_every_field_shows_without_scrolling(tmp_path: Path) -> None:
    app = Host(WatchFormScreen(QUERY, tmp_path / "filters.toml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await open_snipe(pilot, app)
        body = app.dialog.query_one(".preset-dialog", VerticalScroll)
        assert body.max_scroll_y == 0
        for name in LAUNCH_TABS:
            assert visible(app, app.dialog.query_one(f"#watch-{name}"))


@pytest.mark.parametrize("theme", THEMES)
async def test_the_snipe_fields_and_their_lines_read_in_every_theme(theme: str) -> None:
    """WCAG AA on the dialog as gpucm-tui draws it: the template's fields, the spot
    note, a field's error line (a disabled field is exempt, as WCAG exempts it)."""
    with terminal(DARK_TERMINAL):
        app = GpucmApp(demo_services, refresh=False, theme=theme, cursor_blink=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.watch_filter()
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, WatchFormScreen)
            await pilot.press(*"snipe", "tab", "tab", "tab", "tab", "space", "tab", *"0.4")
            for _ in range(7):
                await pilot.press("tab")
            await pilot.press("space", "tab", *"0", "enter")
            await settle(pilot)
            assert "Bid $/GPU·h: must be a number more than 0" in str(
                dialog.query_one("#watch-error", Static).render()
            )
            shot = _shot(app, pilot)
    runs = text_runs(shot.svg)
    assert any("Bid $/GPU·h: must be" in r.text for r in runs)  # measured, not vacuous
    assert unreadable(shot) == []
