"""Where the store lives: one reading for every command (the TUI, every CLI command,
`watch` and `serve`), and the one place that picks the store's backend.

In order: `--db`, then DATABASE_URL (the original GPU Cloud Manager's name), then
GPUCM_DB, then `database_url` in config.toml, then the data dir's file (the demo
market has a file of its own). Each is a file path, the original API's URL form
`sqlite:///relative.db` / `sqlite:////absolute.db` (SQLite, one user), or a team's
`postgresql://` / `postgres://` URL (PostgreSQL, store/pg/). A URL is never repeated
in a message unmasked: it may hold a password. Standard library only (the parsers and
the TUI's first screen import this).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gpucm import paths
from gpucm.config_file import ConfigError
from gpucm.database_url import DatabaseUrl, DatabaseUrlError, is_postgres_url

SQLITE_EXAMPLES = "a file path, sqlite:///relative.db or sqlite:////absolute/path.db"
POSTGRES_EXAMPLE = "postgresql://USER:PASSWORD@HOST/DATABASE"

# a SQLite file, or a team's PostgreSQL database
Location = Path | DatabaseUrl

# a URL written without `//` after its scheme (postgresql:/host/db, postgres:user:pw@h/db):
# a typo, not a file name; read as a path it became a SQLite file named after the
# team's URL, password and all
_BROKEN_URL = re.compile(r"(?i)(?:postgres(?:ql)?|sqlite)(?:\+\w+)?:|[a-z][a-z0-9+.-]+:[^@]*@")


class DatabaseLocationError(ConfigError):
    """A database location gpucm cannot use; the message names where it came from."""


def database_location(text: str, *, source: str = "--db") -> Location:
    """The store `text` names (`source` says where it came from, for messages)."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if not value:
        raise DatabaseLocationError(
            f"{source}: empty; give {SQLITE_EXAMPLES}, or a team's {POSTGRES_EXAMPLE}"
        )
    if is_postgres_url(value):
        try:
            return DatabaseUrl.parse(value, source=source)
        except DatabaseUrlError as exc:
            raise DatabaseLocationError(str(exc)) from None
    if not sep and _BROKEN_URL.match(value):
        raise DatabaseLocationError(
            f"{source}: this looks like a URL without // after its scheme; give "
            f"{SQLITE_EXAMPLES}, or a team's {POSTGRES_EXAMPLE}"
        )
    if not sep:
        path = Path(value).expanduser()
    elif scheme.lower() == "sqlite":
        name = (rest[1:] if rest.startswith("/") else rest).split("?", 1)[0]
        if not name or name == ":memory:":
            raise DatabaseLocationError(
                f"{source}: a database file is needed, e.g. sqlite:///gpucm.db or "
                "sqlite:////var/lib/gpucm/gpucm.db"
            )
        path = Path(name).expanduser()
    else:
        shown = scheme.lower()[:20] if scheme.isascii() and scheme.isalnum() else "this"
        raise DatabaseLocationError(
            f"{source}: only SQLite and PostgreSQL databases are supported, not {shown}:// "
            f"URLs ({SQLITE_EXAMPLES}, or a team's {POSTGRES_EXAMPLE})"
        )
    if path.is_dir():
        raise DatabaseLocationError(f"{source}: {path} is a directory; give a database file")
    return path


def argument(source: str) -> Callable[[str], Location]:
    """`database_location` as an argparse `type`. Its error is not argparse's kind, so it
    passes through the parser and the front end prints it as it is (a ConfigError):
    the line names `source` (DATABASE_URL too, for serve's default) without argparse's
    "invalid value" wrapping."""

    def database(text: str) -> Location:
        return database_location(text, source=source)

    return database


def configured_location(
    env: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None
) -> Location | None:
    """The store the environment or the config file names, if any."""
    env = os.environ if env is None else env
    for name in ("DATABASE_URL", "GPUCM_DB"):
        value = env.get(name)
        if value:
            return database_location(value, source=name)
    value = (config or {}).get("database_url")
    if value is None:
        return None
    if not isinstance(value, str):
        raise DatabaseLocationError(f"{paths.config_file()}: database_url must be a string")
    return database_location(value, source=f"database_url in {paths.config_file()}")


def store_location(
    db: str | Location | None,
    *,
    demo: bool,
    env: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Location:
    """The store a command opens: `--db` (`db`), else the environment or the config
    file, else the data dir's file for the mode."""
    if isinstance(db, DatabaseUrl | Path):
        return db
    if db:
        return database_location(db)
    return configured_location(env, config) or paths.data_db_path(demo=demo)


def database_passwords(*values: object) -> list[str]:
    """The passwords in the PostgreSQL URLs among `values` (text or SecretStr), for
    scrubbing messages and logs."""
    out: list[str] = []
    for value in values:
        reveal = getattr(value, "get_secret_value", None)
        text = reveal() if callable(reveal) else value
        if isinstance(text, str) and is_postgres_url(text):
            try:
                out.extend(DatabaseUrl.parse(text).secrets())
            except DatabaseUrlError:
                continue
    return out
