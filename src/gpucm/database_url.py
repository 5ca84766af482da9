"""A PostgreSQL store's URL: recognised, checked, and shown with its password masked.

`postgresql://user:password@host:5432/dbname` (or `postgres://`, as the original GPU
Cloud Manager spec writes it). The password never leaves this object in text: `shown`
is what every message, log line and `gpucm providers` prints, and `str()` and `repr()`
give the same. Standard library only (the argument parsers import it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


class DatabaseUrlError(ValueError):
    """A PostgreSQL URL gpucm cannot use; the message never repeats the password."""


def is_postgres_url(text: str) -> bool:
    scheme, sep, _ = text.strip().partition("://")
    return bool(sep) and scheme.lower().split("+", 1)[0] in SCHEMES


@dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL URL: `dsn` for the driver (password included), `shown` for people."""

    dsn: str = field(repr=False)
    shown: str

    @classmethod
    def parse(cls, text: str, *, source: str = "--db") -> DatabaseUrl:
        value = text.strip()
        if not is_postgres_url(value):
            raise DatabaseUrlError(f"{source}: not a PostgreSQL URL ({EXAMPLE})")
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise DatabaseUrlError(
                f"{source}: the PostgreSQL URL cannot be read; write it as {EXAMPLE}"
            ) from None
        if port == 0:
            raise DatabaseUrlError(f"{source}: the PostgreSQL URL's port must be 1 to 65535")
        if not parts.path.strip("/") and "dbname=" not in parts.query:
            raise DatabaseUrlError(
                f"{source}: the PostgreSQL URL names no database; write it as {EXAMPLE}"
            )
        # the driver knows postgresql:// and postgres://, not postgresql+asyncpg://
        scheme = parts.scheme.lower().split("+", 1)[0]
        dsn = SplitResult(scheme, parts.netloc, parts.path, parts.query, "").geturl()
        return cls(dsn=dsn, shown=mask(dsn))

    def secrets(self) -> list[str]:
        """What must never be shown: the password, as written and as decoded."""
        parts = urlsplit(self.dsn)
        written = [parts.password or ""]
        written += [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
        return sorted({s for w in written for s in (w, unquote(w)) if s})

    def __str__(self) -> str:
        return self.shown


_PASSWORD_IN_QUERY = re.compile(r"(?i)(password=)[^&]*")


def mask(url: str) -> str:
    """The URL with its password (in the authority or the query) as ***."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "postgresql://***"
    netloc = parts.netloc
    if password is not None:
        user = parts.username or ""
        at = netloc.rfind("@")
        netloc = f"{quote(unquote(user), safe='')}:***" + netloc[at:]
    query = _PASSWORD_IN_QUERY.sub(r"\1***", parts.query)
    return SplitResult(parts.scheme, netloc, parts.path, query, "").geturl()
