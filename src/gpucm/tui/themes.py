"""gpucm's colour themes: packaged TOML files plus the user's own, turned into Textual
`Theme` objects.

Packaged themes are looked up as ``importlib.resources.files("gpucm") / "themes"``
(the wheel maps the repository's top-level ``themes/`` to ``gpucm/themes``); in a
source checkout that folder does not exist inside the package, so the fallback is
``<repo>/themes`` next to ``src/``. User themes are ``*.toml`` files in
`gpucm.paths.user_themes_dir()`; one may replace a packaged theme by using its name.

A theme file that cannot be used is skipped and reported as one line, never raised:
a bad colour reaching Textual's stylesheet would otherwise kill the app on the first
theme switch, so every colour and variable is checked here, before registration.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from textual.app import App
from textual.color import Color, ColorParseError
from textual.css.stylesheet import Stylesheet
from textual.theme import Theme

from gpucm import paths
from gpucm.config import ConfigError, save_settings_value
from gpucm.tui.theme_files import packaged_themes_dir

__all__ = [
    "DEFAULT_THEME",
    "PACKAGED_THEMES",
    "ThemeFile",
    "choose_theme",
    "load_themes",
    "packaged_themes_dir",
    "persist_theme_choices",
    "register_themes",
    "save_theme_choice",
]

DEFAULT_THEME: Final = "gpucm-dark"
PACKAGED_THEMES: Final = ("gpucm-dark", "gpucm-light", "gpucm-high-contrast", "gpucm-ansi")

# Textual turns the name into the CSS class `-theme-<name>`, so keep it class-safe.
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_VARIABLE_RE: Final = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_MAX_FILE_BYTES: Final = 64 * 1024


def _check_colour(value: str) -> str:
    try:
        Color.parse(value)
    except ColorParseError:
        raise ValueError(f"not a colour: {value!r}") from None
    return value


def _check_variable(name: str, value: str) -> None:
    """Parse the value the way Textual will when the theme is applied: a variable named
    ``*-style`` goes into `text-style`, every other one is a colour (optionally with an
    alpha percentage, as in ``#81a1c1 35%``)."""
    if not _VARIABLE_RE.match(name):
        raise ValueError(f"variables.{name}: not a valid variable name")
    prop = "text-style" if name.endswith("style") else "color"
    sheet = Stylesheet(variables={"v": value})
    sheet.add_source(f"Widget {{ {prop}: $v; }}", read_from=("theme", name))
    try:
        sheet.parse()
    except Exception:  # tokenizer and parser raise several unrelated exception types
        kind = "text style" if prop == "text-style" else "colour"
        raise ValueError(f"variables.{name}: not a {kind}: {value!r}") from None


class ThemeFile(BaseModel):
    """One theme file; the fields mirror `textual.theme.Theme`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    warning: str | None = None
    error: str | None = None
    success: str | None = None
    dark: bool = True
    ansi: bool = False
    luminosity_spread: float = Field(default=0.15, ge=0, le=1)
    text_alpha: float = Field(default=0.95, gt=0, le=1)
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError("use letters, digits, '-' and '_' only (at most 64)")
        return value

    @field_validator(
        "primary",
        "secondary",
        "accent",
        "foreground",
        "background",
        "surface",
        "panel",
        "boost",
        "warning",
        "error",
        "success",
    )
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        return None if value is None else _check_colour(value)

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            _check_variable(name, item)
        return value

    def to_theme(self) -> Theme:
        return Theme(
            name=self.name,
            primary=self.primary,
            secondary=self.secondary,
            accent=self.accent,
            foreground=self.foreground,
            background=self.background,
            surface=self.surface,
            panel=self.panel,
            boost=self.boost,
            warning=self.warning,
            error=self.error,
            success=self.success,
            dark=self.dark,
            ansi=self.ansi,
            luminosity_spread=self.luminosity_spread,
            text_alpha=self.text_alpha,
            variables=dict(self.variables),
        )


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more)" if more else ""
    return f"{where}: {message}{suffix}" if where else f"{message}{suffix}"


def parse_theme(text: str, source: str) -> Theme:
    """One theme from TOML text; `ValueError` carries a one-line reason naming `source`."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from None
    try:
        theme = ThemeFile.model_validate(data).to_theme()
    except ValidationError as exc:
        raise ValueError(f"{source}: {_validation_message(exc)}") from None
    try:
        # the same derivation Textual runs on every theme switch
        theme.to_color_system().generate()
    except Exception as exc:
        raise ValueError(f"{source}: unusable colours: {exc}") from None
    return theme


def _read_limited(entry: Traversable) -> str:
    data = entry.read_bytes()
    if len(data) > _MAX_FILE_BYTES:
        raise ValueError(f"larger than {_MAX_FILE_BYTES // 1024} KiB")
    return data.decode("utf-8")


def _load_dir(folder: Traversable, label: str, themes: dict[str, Theme]) -> list[str]:
    """Themes from one folder into `themes` (replacing same-named ones from earlier
    folders); returns the error lines."""
    errors: list[str] = []
    seen: dict[str, str] = {}
    try:
        entries = sorted(
            (e for e in folder.iterdir() if e.name.endswith(".toml") and e.is_file()),
            key=lambda e: e.name,
        )
    except OSError as exc:
        return [f"{label}: cannot list theme files: {exc.strerror or exc}"]
    for entry in entries:
        source = str(entry) if isinstance(entry, Path) else f"{label}/{entry.name}"
        try:
            theme = parse_theme(_read_limited(entry), source)
        except UnicodeDecodeError:
            errors.append(f"{source}: not UTF-8 text")
            continue
        except OSError as exc:
            errors.append(f"{source}: cannot read: {exc.strerror or exc}")
            continue
        except ValueError as exc:
            message = str(exc)
            errors.append(message if message.startswith(source) else f"{source}: {message}")
            continue
        if theme.name in seen:
            errors.append(
                f"{source}: theme {theme.name!r} is also in {seen[theme.name]}; using this one"
            )
        themes[theme.name] = theme
        seen[theme.name] = source
    return errors


def load_themes(user_dir: Path) -> tuple[list[Theme], list[str]]:
    """gpucm's packaged themes, then the user's ``*.toml`` files from `user_dir` (a user
    theme with a packaged name replaces it). Returns the themes and one line per file
    that could not be used; a missing `user_dir` is not an error."""
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    packaged = packaged_themes_dir()
    if packaged is None:
        errors.append("gpucm's packaged themes are missing; using Textual's themes")
    else:
        errors += _load_dir(packaged, "gpucm/themes", themes)
    if user_dir.is_dir():
        errors += _load_dir(user_dir, str(user_dir), themes)
    # one line each: the app shows them in a notification or a log line
    return list(themes.values()), [" ".join(line.split()) for line in errors]


def register_themes(app: App[Any], themes: Iterable[Theme]) -> None:
    for theme in themes:
        app.register_theme(theme)


def choose_theme(app: App[Any], requested: str | None) -> str:
    """Set `app.theme` explicitly (so TEXTUAL_THEME in the environment never decides):
    the requested theme if registered, else DEFAULT_THEME, else whatever Textual has.
    Returns the name now in use."""
    available = app.available_themes
    wanted = (requested or "").strip()
    if wanted in available:
        name = wanted
    elif DEFAULT_THEME in available:
        name = DEFAULT_THEME
    else:
        name = app.theme if app.theme in available else "textual-dark"
    app.theme = name
    return name


def save_theme_choice(name: str) -> None:
    """Write ``theme = "<name>"`` into the config file (kept 0600, other settings kept).
    Raises `ConfigError` with a one-line message when the file cannot be read or written."""
    path = paths.config_file()
    try:
        save_settings_value(path, ("theme",), name)
    except OSError as exc:
        raise ConfigError(f"cannot save the theme to {path}: {exc.strerror or exc}") from None


def persist_theme_choices(app: App[Any]) -> None:
    """Save every later theme change the user makes (palette, keys), reporting a failed
    save as a notification. Call it after `choose_theme`: the change `choose_theme`
    itself causes is not saved, so a fallback from a broken user theme never overwrites
    the user's choice in the config file."""
    last = app.theme

    def on_change(theme: Theme) -> None:
        nonlocal last
        if theme.name == last:
            return
        last = theme.name
        try:
            save_theme_choice(theme.name)
        except ConfigError as exc:
            app.notify(str(exc), title="Theme not saved", severity="warning", markup=False)

    app.theme_changed_signal.subscribe(app, on_change)
