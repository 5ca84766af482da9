"""Where the store lives, from `--db`, DATABASE_URL or GPUCM_DB: one reading for the
CLI, gpucm-tui and `gpucm serve`.

A file path, or the original API's URL form: `sqlite:///relative.db`,
`sqlite:////absolute.db`. A PostgreSQL URL is recognised and refused until the
PostgreSQL store exists (its branch goes here). A URL is never repeated in a message:
it may hold a password. Standard library only (the parsers import this).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gpucm.config_file import ConfigError

SQLITE_EXAMPLES = "a file path, sqlite:///relative.db or sqlite:////absolute/path.db"


class DatabaseLocationError(ConfigError):
    """A database location gpucm cannot use; the message names where it came from."""


def database_location(text: str, *, source: str = "--db") -> Path:
    """The database file `text` names (`source` says where it came from, for messages)."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if not value:
        raise DatabaseLocationError(f"{source}: empty; give {SQLITE_EXAMPLES}")
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
    elif scheme.lower().split("+", 1)[0] in ("postgresql", "postgres"):
        raise DatabaseLocationError(
            f"{source}: PostgreSQL support is not available yet; use SQLite ({SQLITE_EXAMPLES})"
        )
    else:
        shown = scheme.lower()[:20] if scheme.isascii() and scheme.isalnum() else "this"
        raise DatabaseLocationError(
            f"{source}: only SQLite databases are supported, not {shown}:// URLs "
            f"({SQLITE_EXAMPLES})"
        )
    if path.is_dir():
        raise DatabaseLocationError(f"{source}: {path} is a directory; give a database file")
    return path


def argument(source: str) -> Callable[[str], Path]:
    """`database_location` as an argparse `type`. Its error is not argparse's kind, so it
    passes through the parser and the front end prints it as it is (a ConfigError):
    the line names `source` (DATABASE_URL too, for serve's default) without argparse's
    "invalid value" wrapping."""

    def database(text: str) -> Path:
        return database_location(text, source=source)

    return database
