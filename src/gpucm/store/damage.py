"""A store failure as one line a person can act on.

SQLite reports a damaged file wherever a read happens to touch the bad page ("database
disk image is malformed", "no such table: offers"), and a row holding a value of the
wrong kind fails only when it is turned back into an offer. The front ends (the CLI,
`gpucm serve`) pass what escaped a command through `store_failure`: what came from the
store becomes a StoreError naming the file, with `gpucm doctor` as the way out;
anything else is left as it is.
"""

from __future__ import annotations

import sqlite3
import traceback
from pathlib import Path

from pydantic import ValidationError

from gpucm.store.db import DOCTOR_HINT, StoreError


class DamagedStore(StoreError):
    """The database file is damaged or holds data gpucm cannot read."""


def _raised_in_store(exc: BaseException) -> bool:
    return any(
        str(frame.f_globals.get("__name__", "")).startswith("gpucm.store")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]  # never err["input"]: the message shows the field, not the value
    where = ".".join(str(p) for p in err["loc"]) or exc.title
    return f"{where}: {err['msg']}"


def _team_store_failure(exc: BaseException, path: Path | str) -> StoreError | None:
    """A PostgreSQL store's failure (`path` is its URL, masked)."""
    import asyncpg  # only a team store's failures come from it

    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError | asyncpg.InsufficientPrivilegeError):
        return StoreError(f"the PostgreSQL store {path} refused a write: {exc}")
    if isinstance(exc, asyncpg.UndefinedTableError | asyncpg.UndefinedColumnError):
        return StoreError(
            f"the PostgreSQL store {path} is missing gpucm's tables ({exc}); "
            "run `gpucm db init` against it"
        )
    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.AdminShutdownError
        | asyncpg.CannotConnectNowError
        | ConnectionError
        | TimeoutError,
    ):
        return StoreError(
            f"lost the connection to the PostgreSQL store {path} ({type(exc).__name__}); "
            "try again once the server answers"
        )
    return None  # a mistake in gpucm's own SQL, not the server's


def store_failure(exc: BaseException, path: Path | str) -> StoreError | None:
    """The one line for a failure of the store at `path`, or None when `exc` is not one."""
    if isinstance(exc, StoreError):
        return exc
    if type(exc).__module__.startswith("asyncpg") or (
        isinstance(exc, OSError | TimeoutError) and str(path).startswith("postgres")
    ):
        return _team_store_failure(exc, path)
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return StoreError(f"the database {path} is read-only: this needs to write to it")
        if "locked" in text or "busy" in text:
            return StoreError(
                f"the database {path} is busy: another program holds it ({text}); try again"
            )
        if text.startswith(("no such table", "no such column")):
            return DamagedStore(f"the database {path} is damaged ({text}); {DOCTOR_HINT}")
        if "unable to open" in text or "disk I/O" in text:
            return StoreError(f"cannot use the database {path}: {text}")
        return None  # a mistake in gpucm's own SQL, not the file's
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        # "database disk image is malformed", "file is not a database", ...
        return DamagedStore(f"the database {path} is damaged ({exc}); {DOCTOR_HINT}")
    if isinstance(exc, ValidationError | ValueError | TypeError) and _raised_in_store(exc):
        detail = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
        return DamagedStore(
            f"the database {path} holds a value gpucm cannot read ({detail}); {DOCTOR_HINT}"
        )
    return None
