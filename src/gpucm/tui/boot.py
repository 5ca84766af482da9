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


@dataclass(frozen=True)
class BootView:
    db: Path
    demo: bool
    theme: str | None
    keymap: dict[str, str] = field(default_factory=dict)


def boot_view(
    *, db: Path | None, demo: bool | None, env: Mapping[str, str] | None = None
) -> BootView | None:
    """Which database and theme the app will use, decided the way `open_services`
    decides it; None when the config cannot be read quickly (the full app reports it).
    A bad [keymap] entry raises KeymapError: the app does not start."""
    env = os.environ if env is None else env
    path = paths.config_file()
    try:
        data = read_config(path)
    except ConfigError:
        return None
    keymap: dict[str, str] = {}
    if "keymap" in data:  # checked only when there is one: no start-up cost otherwise
        from gpucm.tui.keymap import check_keymap

        keymap = check_keymap(data["keymap"], str(path))
    use_demo = demo if demo is not None else not configured_providers(env, data)
    theme = data.get("theme")
    return BootView(
        db=db or paths.default_db_path(demo=use_demo),
        demo=use_demo,
        theme=theme if isinstance(theme, str) else None,
        keymap=keymap,
    )
