"""gpucm-tui's first second: a table of offers on screen before the app has finished
importing.

Starting Textual costs ~0.2 s; pydantic, the store and the providers add ~0.3 s more.
So the first screen reads the default view's first page with plain sqlite3 from the
database the app is about to open, paints it, and only then does the full app load
and take over (`GpucmApp` switches to the main screen). Everything here imports
nothing heavier than Textual itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gpucm import paths
from gpucm.config_file import ConfigError, configured_providers, read_config
from gpucm.db_location import store_location


@dataclass(frozen=True)
class BootView:
    db: Path
    demo: bool
    theme: str | None
    keymap: dict[str, str] = field(default_factory=dict)


def boot_view(
    *, db: str | Path | None, demo: bool | None, env: Mapping[str, str] | None = None
) -> BootView | None:
    """Which database and theme the app will use, decided the way `open_services`
    decides it; None when the config cannot be read quickly (the full app reports it),
    or the store is a team's PostgreSQL (no local file to read a first page from).
    A bad [keymap] entry raises KeymapError: the app does not start."""
    env = os.environ if env is None else env
    path = paths.config_file()
    try:
        data = read_config(path)
    except ConfigError:
        return None
    keymap = _keymap(data, path)
    use_demo = demo if demo is not None else not configured_providers(env, data)
    theme = data.get("theme")
    try:
        location = store_location(db, demo=use_demo, env=env, config=data)
    except ConfigError:
        return None
    if not isinstance(location, Path):
        return None
    return BootView(
        db=location,
        demo=use_demo,
        theme=theme if isinstance(theme, str) else None,
        keymap=keymap,
    )


def _keymap(data: Mapping[str, object], path: Path) -> dict[str, str]:
    if "keymap" not in data:  # checked only when there is one: no start-up cost otherwise
        return {}
    from gpucm.tui.keymap import check_keymap

    return check_keymap(data["keymap"], str(path))


def config_keymap() -> dict[str, str]:
    """The config file's [keymap], checked (KeymapError on a bad entry), for a start
    without a `BootView` (a team's PostgreSQL store); {} when the file cannot be read
    (the full app reports that)."""
    path = paths.config_file()
    try:
        data = read_config(path)
    except ConfigError:
        return {}
    return _keymap(data, path)
