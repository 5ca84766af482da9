"""Where theme files live, and a quick reader for the first screen.

`tui.themes` validates every theme properly (pydantic); this module only finds the
files and, for the first screen, turns the chosen theme's TOML straight into a Textual
Theme, so the app starts in the user's colours without waiting for pydantic.
"""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Final

from textual.theme import Theme

_HERE: Final = Path(__file__).resolve()
# a wheel puts the themes in the package (pyproject.toml); a source checkout has them
# at its top. Plain paths, not importlib.resources: gpucm is never imported from a zip,
# and the resources machinery (zipfile and all) costs ~2 ms of the first screen.
_INSTALLED_THEMES: Final = _HERE.parents[1] / "themes"
_REPO_THEMES: Final = _HERE.parents[3] / "themes"
_THEME_FIELDS: Final = {f.name for f in fields(Theme)}


def packaged_themes_dir() -> Path | None:
    """Installed wheel first (``gpucm/themes``), then the source checkout's top-level
    ``themes/``; None if neither exists."""
    for folder in (_INSTALLED_THEMES, _REPO_THEMES):
        if folder.is_dir():
            return folder
    return None


def quick_theme(name: str, user_dir: Path) -> Theme | None:
    """The theme called `name` from the user's or the packaged files, unvalidated;
    None if it cannot be read this way (the full loader will report why)."""
    candidates: list[Path] = []
    if user_dir.is_dir():
        candidates.extend(sorted(user_dir.glob("*.toml")))
    packaged = packaged_themes_dir()
    if packaged is not None:
        # a packaged theme's file is named after it: read that one first, not all
        files = sorted(packaged.glob("*.toml"), key=lambda e: e.name != f"{name}.toml")
        candidates.extend(files)
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
