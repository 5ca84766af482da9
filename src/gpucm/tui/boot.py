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
from dataclasses import dataclass
from pathlib import Path

from gpucm import paths
from gpucm.config_file import ConfigError, configured_providers, read_config
from gpucm.db_location import store_location


@dataclass(frozen=True)
class BootView:
    db: Path
    demo: bool
    theme: str | None


def boot_view(
    *, db: str | Path | None, demo: bool | None, env: Mapping[str, str] | None = None
) -> BootView | None:
    """Which database and theme the app will use, decided the way `open_services`
    decides it; None when the config cannot be read quickly (the full app reports it),
    or the store is a team's PostgreSQL (no local file to read a first page from)."""
    env = os.environ if env is None else env
    try:
        data = read_config(paths.config_file())
    except ConfigError:
        return None
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
    )
