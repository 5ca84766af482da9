"""The user's keymap: `[keymap]` in config.toml, binding id = keys."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.dom import DOMNode

import gpucm.tui
from gpucm import paths
from gpucm.cli.main import tui_main
from gpucm.config import load_settings
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.boot import config_keymap
from gpucm.tui.keymap import DEFAULT_KEYS, KeymapError, check_keymap
from gpucm.tui.screens.help import KEY_HELP, HelpScreen, key_text, show_key, taken_keys
from gpucm.tui.screens.main import MainScreen
from gpucm.tui.screens.stats import StatsScreen
from gpucm.tui.widgets.key_bar import KeyBar
from gpucm.tui.widgets.offer_table import OfferTable
from tests.tui.helpers import record_notes, settle

README = Path(__file__).resolve().parents[2] / "README.md"


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def code_bindings() -> list[tuple[str, Binding]]:
    """Every Binding a class of gpucm's TUI declares, with the class's name."""
    for module in pkgutil.walk_packages(gpucm.tui.__path__, "gpucm.tui."):
        importlib.import_module(module.name)
    found = []
    for cls in sorted(set(_subclasses(DOMNode)), key=lambda c: c.__qualname__):
        if not cls.__module__.startswith("gpucm."):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            assert isinstance(binding, Binding), f"{cls.__qualname__}: {binding!r}"
            found.append((cls.__qualname__, binding))
    return found


# -- every binding has an id, listed with its defaults ---------------------------------


def test_every_binding_has_an_id_listed_with_its_default_keys() -> None:
    bound: dict[str, set[str]] = {}
    for owner, binding in code_bindings():
        assert binding.id, f"{owner}: {binding.key} -> {binding.action} has no id"
        bound.setdefault(binding.id, set()).add(binding.key)
    # one id, one set of default keys wherever it is bound; and the list is the code's
    assert {i: {DEFAULT_KEYS.get(i)} for i in bound} == bound
    assert set(DEFAULT_KEYS) == set(bound)


def readme_table() -> str:
    """The README's list of ids, as the code has them."""
    described: dict[str, str] = {}
    for _owner, binding in code_bindings():
        described.setdefault(binding.id or "", binding.description)
    lines = ["| id | default keys | what it does |", "|---|---|---|"]
    for binding_id, keys in DEFAULT_KEYS.items():
        shown = ", ".join(f"`{k}`" for k in keys.split(","))
        lines.append(f"| `{binding_id}` | {shown} | {described[binding_id]} |")
    return "\n".join(lines)


def test_the_readme_lists_every_binding_id() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- keymap ids: generated -->\n(.*?)\n<!-- keymap ids end -->", text, re.DOTALL
    )
    assert found, "README: the keymap id table's markers are missing"
    expected = readme_table()
    assert found.group(1) == expected, "README's keymap table is stale; it should be:\n" + (
        expected
    )


# -- checking the table ------------------------------------------------------------------


def test_a_keymap_is_read_in_either_toml_spelling_and_keys_as_textual_names_them() -> None:
    raw = {"table": {"launch": "ctrl+l, L"}, "app.help": "?,f1", "cursor.down": "n"}
    assert check_keymap(raw) == {
        "table.launch": "ctrl+l,L",
        "app.help": "question_mark,f1",
        "cursor.down": "n",
    }
    assert check_keymap(None) == {} and check_keymap({}) == {}


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (
            {"table.lanch": "x"},
            '"table.lanch": no binding has this id (did you mean table.launch?)',
        ),
        ({"nothing": "x"}, '"nothing": no binding has this id; the README lists'),
        ({"table.launch": ""}, '"table.launch": no key given'),
        ({"table.launch": " , "}, '"table.launch": no key given'),
        ({"table.launch": "x,,y"}, '"table.launch": an empty key between commas'),
        ({"table.launch": "ctrl+lunch"}, "\"table.launch\": 'ctrl+lunch' is not a key"),
        ({"table.launch": "Ctrl+l"}, "'Ctrl' is not a modifier"),
        ({"table.launch": "ctrl++"}, "spelled plus"),
        ({"table.launch": 5}, '"table.launch": keys must be a string'),
        ({"table.launch": ["x"]}, '"table.launch": keys must be a string'),
        ({"table": {"launch": {"x": "y"}}}, '"table.launch": keys must be a string'),
        ({"table.launch": "x", "table": {"launch": "y"}}, '"table.launch": given twice'),
        ("x", "[keymap] must be a table"),
    ],
)
def test_a_bad_entry_is_one_line_naming_it(raw: object, said: str) -> None:
    with pytest.raises(KeymapError) as caught:
        check_keymap(raw, "/home/u/config.toml")
    message = str(caught.value)
    assert said in message, message
    assert message.startswith("/home/u/config.toml: [keymap]")
    assert "\n" not in message


def test_the_settings_accept_the_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[keymap]\ntable.launch = "ctrl+l"\n"app.quit" = "ctrl+q"\n')
    settings = load_settings({}, path)
    assert check_keymap(settings.keymap) == {"table.launch": "ctrl+l", "app.quit": "ctrl+q"}


def test_gpucm_tui_with_a_bad_entry_says_so_and_exits_2_before_starting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[keymap]\ntable.launch = "ctrl+lunch"\n')
    monkeypatch.setattr(GpucmApp, "run", lambda self: pytest.fail("the app started"))
    assert tui_main(["--demo"]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"gpucm-tui: {config}: [keymap] \"table.launch\": 'ctrl+lunch' is not a key "
        "(e.g. r, R, ctrl+r, f5, escape, question_mark)\n"
    )


# -- a user keymap changes a key ---------------------------------------------------------


def key_bar_text(app: GpucmApp) -> str:
    return str(app.screen.query_one(KeyBar).render())


async def test_a_user_keymap_moves_a_key_and_help_and_the_key_bar_show_it(
    services: Services,
) -> None:
    keymap = check_keymap({"table": {"market": "M"}, "cursor.down": "n", "app.help": "f1"})
    app = GpucmApp(services, refresh=False, keymap=keymap)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        bar = key_bar_text(app)
        assert " M Market " in bar and " m Market " not in bar
        assert bar.rstrip().endswith(" f1 more"), bar  # the help key, moved, says more

        table = main.query_one(OfferTable)
        await pilot.press("j")  # the default no longer moves the cursor
        await settle(pilot)
        assert table.cursor == 0
        await pilot.press("n")
        await settle(pilot)
        assert table.cursor == 1

        await pilot.press("question_mark")  # nor opens the help
        await settle(pilot)
        assert app.screen is main
        await pilot.press("f1")
        await settle(pilot)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        rows = {
            str(what.content): str(key.content)
            for key, what in zip(
                help_screen.query(".help--key"), help_screen.query(".help--what"), strict=True
            )
            if hasattr(key, "content") and hasattr(what, "content")
        }
        assert rows["market stats, trends"] == "M"
        assert rows["move the cursor"] == "↑/k n"
        assert rows["this help"] == "f1"
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("m")  # the old key does nothing now
        await settle(pilot)
        assert app.screen is main
        await pilot.press("M")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)


async def test_without_a_keymap_the_defaults_show(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        bar = key_bar_text(app)
        assert " m Market " in bar and re.search(r" \? (Help|more)$", bar.rstrip()), bar


async def test_a_key_mapped_onto_another_action_of_the_screen_says_which_lost_it(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GpucmApp(services, refresh=False, keymap=check_keymap({"table.refresh": "s"}))
    # recorded from the start: the clash is said as the main screen shows, which may be
    # before run_test hands over
    notes = record_notes(app, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        sort_before = main.search
        await pilot.press("s")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        said = [n for n in notes if "table.sort" in n]
        assert len(said) == 1, notes  # once, not at every key
        assert said[0].startswith("s now does table.refresh, so table.sort (Sort) has lost it")
        assert main.search == sort_before  # s refreshed; it did not sort


def test_help_shows_a_key_the_keymap_moved_to_another_action_under_that_one_only() -> None:
    keymap = check_keymap({"table.refresh": "s"})
    taken = taken_keys(KEY_HELP, keymap)
    assert key_text("{table.refresh}", keymap, show_key, taken) == "s"
    assert key_text("{table.sort} / {table.reverse_sort}", keymap, show_key, taken) == "- / S"
    assert key_text("{table.sort}", {}, show_key, taken_keys(KEY_HELP, {})) == "s"


def test_without_a_boot_view_the_keymap_is_read_on_its_own() -> None:
    # a team's PostgreSQL store has no first screen from a local file: gpucm-tui
    # still takes the keymap, and still refuses a bad one
    config = paths.config_file()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[keymap]\n"table.launch" = "ctrl+l"\n')
    assert config_keymap() == {"table.launch": "ctrl+l"}
    config.write_text('[keymap]\n"table.launch" = ""\n')
    with pytest.raises(KeymapError, match="no key given"):
        config_keymap()
