"""Where theme files live, and a quick reader for the first screen.

`tui.themes` validates every theme properly (pydantic); this module only finds the
files and, for the first screen, turns the chosen theme's TOML straight into a Textual
Theme, so the app starts in the user's colours without waiting for pydantic.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Final

from textual.theme import Theme

_REPO_THEMES: Final = Path(__file__).resolve().parents[3] / "themes"
_THEME_FIELDS: Final = {f.name for f in fields(Theme)}


def packaged_themes_dir() -> Traversable | None:
    """Installed wheel first (``gpucm/themes``), then the source checkout's top-level
    ``themes/``; None if neither exists."""
    try:
        installed = resources.files("gpucm") / "themes"
        if installed.is_dir():
            return installed
    except (ModuleNotFoundError, OSError):
        pass
    return _REPO_THEMES if _REPO_THEMES.is_dir() else None


def quick_theme(name: str, user_dir: Path) -> Theme | None:
    """The theme called `name` from the user's or the packaged files, unvalidated;
    None if it cannot be read this way (the full loader will report why)."""
    candidates: list[Traversable] = []
    if user_dir.is_dir():
        candidates.extend(sorted(user_dir.glob("*.toml")))
    packaged = packaged_themes_dir()
    if packaged is not None:
        candidates.extend(e for e in packaged.iterdir() if e.name.endswith(".toml"))
    for entry in candidates:
        try:
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if data.get("name") != name:
            continue
        try:
            theme = Theme(**{k: v for k, v in data.items() if k in _THEME_FIELDS})
            theme.to_color_system()
        except Exception:  # anything odd: leave it to the validating loader
            return None
        return theme
    return None
