"""gpucm's themes: packaged files, user files, fallback, and saving the choice."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.color import Color
from textual.widgets import DataTable, Footer, Input, Static

from gpucm import paths
from gpucm.config import load_settings, save_settings_value
from gpucm.tui import themes as themes_mod
from gpucm.tui.screens.help import HelpScreen
from gpucm.tui.themes import (
    DEFAULT_THEME,
    PACKAGED_THEMES,
    choose_theme,
    load_themes,
    packaged_themes_dir,
    persist_theme_choices,
    register_themes,
    save_theme_choice,
)

REQUIRED = {"gpucm-dark", "gpucm-light", "gpucm-high-contrast", "gpucm-ansi"}


class ThemedApp(App[None]):
    """Widgets whose default CSS uses most theme variables (cursor, input, footer)."""

    CSS = """
    #accent { color: $accent; background: $panel; }
    #muted { color: $text-muted; background: $surface; }
    #state { color: $error; border: round $primary; }
    """

    def compose(self) -> ComposeResult:
        yield Input(value="gpu=H100")
        table: DataTable[str] = DataTable()
        table.add_columns(("GPU", "gpu"), ("Price", "price"))
        table.add_row("H100", "$2.00", key="a")
        yield table
        yield Static("accent", id="accent")
        yield Static("muted", id="muted")
        yield Static("state", id="state")
        yield Footer()


def _user_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "user-themes"
    folder.mkdir()
    return folder


def test_packaged_themes_load_without_errors(tmp_path: Path) -> None:
    loaded, errors = load_themes(tmp_path / "absent")
    assert errors == []
    names = {t.name for t in loaded}
    assert names >= REQUIRED
    assert set(PACKAGED_THEMES) == REQUIRED
    assert DEFAULT_THEME == "gpucm-dark"
    by_name = {t.name: t for t in loaded}
    assert by_name["gpucm-dark"].dark
    assert not by_name["gpucm-light"].dark
    assert by_name["gpucm-high-contrast"].background == "#000000"
    assert by_name["gpucm-high-contrast"].foreground == "#ffffff"


def test_ansi_theme_uses_only_terminal_palette_colours(tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    ansi = next(t for t in loaded if t.name == "gpucm-ansi")
    assert ansi.ansi
    for field in ("primary", "secondary", "accent", "warning", "error", "success"):
        value = getattr(ansi, field)
        assert value is not None
        assert Color.parse(value).ansi is not None, f"{field} = {value} is not an ANSI colour"
    for name, value in ansi.variables.items():
        if not name.endswith("style"):
            assert Color.parse(value).ansi is not None, f"{name} = {value}"


@pytest.mark.parametrize("name", sorted(REQUIRED))
async def test_each_packaged_theme_renders(name: str, tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        register_themes(app, loaded)
        app.theme = name
        await pilot.pause()
        assert app.current_theme.name == name
        # only the ANSI theme hands colours to the terminal's own palette
        assert app.native_ansi_color == (name == "gpucm-ansi")
        assert "<svg" in app.export_screenshot()
        # the help overlay's CSS must parse with this theme's variables too
        app.push_screen(HelpScreen())
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "<svg" in app.export_screenshot()


async def test_switching_theme_changes_the_colours(tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        register_themes(app, loaded)
        app.theme = "gpucm-dark"
        await pilot.pause()
        dark_bg = app.screen.styles.background
        app.theme = "gpucm-light"
        await pilot.pause()
        light_bg = app.screen.styles.background
    assert dark_bg == Color.parse("#16191f")
    assert light_bg == Color.parse("#f5f6f8")


def test_user_theme_overrides_and_adds(tmp_path: Path) -> None:
    user = _user_dir(tmp_path)
    (user / "mine.toml").write_text('name = "gpucm-dark"\nprimary = "#ff0000"\n', "utf-8")
    (user / "solar.toml").write_text(
        'name = "solar"\nprimary = "#268bd2"\nbackground = "#002b36"\n'
        '[variables]\nblock-cursor-text-style = "bold"\n',
        "utf-8",
    )
    packaged, _ = load_themes(tmp_path / "absent")
    loaded, errors = load_themes(user)
    assert errors == []
    by_name = {t.name: t for t in loaded}
    assert len(loaded) == len(packaged) + 1
    assert by_name["gpucm-dark"].primary == "#ff0000"
    assert by_name["solar"].background == "#002b36"
    assert by_name["solar"].variables == {"block-cursor-text-style": "bold"}


BROKEN = {
    "not_toml.toml": "name = 'x\nprimary = ",
    "no_primary.toml": 'name = "x1"\n',
    "bad_colour.toml": 'name = "x2"\nprimary = "blurple"\n',
    "bad_variable.toml": 'name = "x3"\nprimary = "#fff"\n[variables]\nborder = "not a colour"\n',
    "bad_style.toml": 'name = "x4"\nprimary = "#fff"\n[variables]\nlink-style = "sparkly"\n',
    "bad_name.toml": 'name = "my theme [b]"\nprimary = "#fff"\n',
    "typo_field.toml": 'name = "x5"\nprimray = "#fff"\nprimary = "#fff"\n',
    "injection.toml": 'name = "x6"\nprimary = "#fff"\n[variables]\nborder = "red; } X { y: 1"\n',
}


def test_broken_user_files_are_reported_not_raised(tmp_path: Path) -> None:
    user = _user_dir(tmp_path)
    for filename, text in BROKEN.items():
        (user / filename).write_text(text, "utf-8")
    (user / "latin1.toml").write_bytes(b'name = "caf\xe9"\nprimary = "#fff"\n')
    (user / "good.toml").write_text('name = "good"\nprimary = "#00ff00"\n', "utf-8")
    (user / "notes.txt").write_text("not a theme", "utf-8")

    loaded, errors = load_themes(user)

    names = {t.name for t in loaded}
    assert "good" in names
    assert names.isdisjoint({"x1", "x2", "x3", "x4", "x5", "x6"})
    assert len(errors) == len(BROKEN) + 1
    for line in errors:
        assert "\n" not in line
    for filename in [*BROKEN, "latin1.toml"]:
        assert sum(filename in line for line in errors) == 1, filename
    assert any("blurple" in line and "primary" in line for line in errors)


async def test_rejected_variable_would_have_crashed_textual(tmp_path: Path) -> None:
    """The validation exists because Textual fails hard on a bad variable; a theme that
    passes it must be safe to switch to."""
    user = _user_dir(tmp_path)
    (user / "ok.toml").write_text(
        'name = "ok"\nprimary = "#123456"\n[variables]\n'
        'block-cursor-foreground = "#ffffff 80%"\nblock-cursor-text-style = "b reverse"\n',
        "utf-8",
    )
    (user / "bad.toml").write_text(
        'name = "bad"\nprimary = "#123456"\n[variables]\nblock-cursor-foreground = "nope"\n',
        "utf-8",
    )
    loaded, errors = load_themes(user)
    assert [e for e in errors if "bad.toml" in e]
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        register_themes(app, loaded)
        assert "bad" not in app.available_themes
        app.theme = "ok"
        await pilot.pause()
        assert app.current_theme.name == "ok"


def test_same_name_twice_in_user_dir_is_reported(tmp_path: Path) -> None:
    user = _user_dir(tmp_path)
    (user / "a.toml").write_text('name = "twin"\nprimary = "#111111"\n', "utf-8")
    (user / "b.toml").write_text('name = "twin"\nprimary = "#222222"\n', "utf-8")
    loaded, errors = load_themes(user)
    assert next(t for t in loaded if t.name == "twin").primary == "#222222"
    assert len(errors) == 1
    assert "b.toml" in errors[0]
    assert "a.toml" in errors[0]


def test_packaged_themes_come_from_the_installed_package_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pkg = tmp_path / "site" / "gpucm"
    (fake_pkg / "themes").mkdir(parents=True)
    (fake_pkg / "themes" / "only.toml").write_text('name = "only"\nprimary = "#abcdef"\n')
    monkeypatch.setattr("gpucm.tui.theme_files._INSTALLED_THEMES", fake_pkg / "themes")
    loaded, errors = load_themes(tmp_path / "absent")
    assert errors == []
    assert [t.name for t in loaded] == ["only"]


def test_source_checkout_falls_back_to_top_level_themes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gpucm.tui.theme_files._INSTALLED_THEMES", tmp_path / "nothing")
    folder = packaged_themes_dir()
    assert folder is not None
    assert Path(str(folder)) == Path(__file__).resolve().parents[2] / "themes"


def test_missing_packaged_themes_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(themes_mod, "packaged_themes_dir", lambda: None)
    loaded, errors = load_themes(tmp_path / "absent")
    assert loaded == []
    assert len(errors) == 1


async def test_choose_theme_falls_back_to_default(tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        register_themes(app, loaded)
        app.theme = "nord"  # as if TEXTUAL_THEME had picked something else
        assert choose_theme(app, "no-such-theme") == DEFAULT_THEME
        assert app.theme == DEFAULT_THEME
        assert choose_theme(app, "gpucm-light") == "gpucm-light"
        assert app.theme == "gpucm-light"
        assert choose_theme(app, None) == DEFAULT_THEME
        assert choose_theme(app, "  gpucm-ansi ") == "gpucm-ansi"
        await pilot.pause()
        assert app.current_theme.name == "gpucm-ansi"


async def test_choose_theme_without_gpucm_themes_keeps_textuals() -> None:
    app = ThemedApp()
    async with app.run_test(size=(80, 24)):
        assert choose_theme(app, "gpucm-light") == "textual-dark"
        assert app.theme == "textual-dark"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_save_theme_choice_writes_private_config() -> None:
    path = paths.config_file()
    save_settings_value(path, ("refresh_interval",), 90.0)
    save_theme_choice("gpucm-light")
    settings = load_settings(env={}, config_path=path)
    assert settings.theme == "gpucm-light"
    assert settings.refresh_interval == 90.0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    save_theme_choice("gpucm-ansi")
    assert load_settings(env={}).theme == "gpucm-ansi"


async def test_persist_saves_user_changes_but_not_the_startup_choice(tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    path = paths.config_file()
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        register_themes(app, loaded)
        choose_theme(app, "user-theme-that-failed-to-load")
        persist_theme_choices(app)
        await pilot.pause()
        assert not path.exists()
        app.theme = "gpucm-high-contrast"
        await pilot.pause()
        assert tomllib.loads(path.read_text("utf-8"))["theme"] == "gpucm-high-contrast"


async def test_persist_reports_a_failed_save(tmp_path: Path) -> None:
    loaded, _ = load_themes(tmp_path / "absent")
    path = paths.config_file()
    path.parent.mkdir(parents=True)
    path.write_text("this is = = not toml", "utf-8")
    notes: list[str] = []
    app = ThemedApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify = lambda message, **kw: notes.append(message)  # type: ignore[method-assign]
        register_themes(app, loaded)
        choose_theme(app, None)
        persist_theme_choices(app)
        app.theme = "gpucm-light"
        await pilot.pause()
        assert app.theme == "gpucm-light"
    assert len(notes) == 1
    assert str(path) in notes[0]
