"""Checking a database file, and setting a broken one aside for a fresh start.

The checks read the file with plain sqlite3, read-only, so they work on a file the
store itself cannot open: SQLite's own `PRAGMA integrity_check`, the schema (every table
and index the migrations make), and every offer and instance row decoded as the store
decodes it (a price that is not a number passes SQLite's checks but not gpucm's).
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Instance
from gpucm.store.db import can_write
from gpucm.store.rows import row_to_offer
from gpucm.store.schema import LATEST_VERSION, MIGRATIONS, OFFER_COLUMNS

# integrity_check stops after this many problems: enough to say what is wrong
MAX_REPORTED = 10
# the files SQLite keeps beside a database in WAL mode, moved with it
COMPANIONS = ("-wal", "-shm")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    note: bool = False  # worth saying, not a fault


@dataclass
class Diagnosis:
    path: Path
    checks: list[Check] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str, *, note: bool = False) -> bool:
        self.checks.append(Check(name, ok, detail, note))
        return ok


def _expected_schema() -> set[tuple[str, str]]:
    """(type, name) of every table and index the migrations make."""
    conn = sqlite3.connect(":memory:")
    try:
        for migration in MIGRATIONS:
            conn.executescript(migration.sql)
        return _schema(conn)
    finally:
        conn.close()


def _schema(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
        " AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {(str(t), str(n)) for t, n in rows}


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]  # the field, never the value
        return f"{'.'.join(str(p) for p in err['loc']) or exc.title}: {err['msg']}"
    return f"{type(exc).__name__}: {exc}"


def _check_table(
    diagnosis: Diagnosis,
    name: str,
    rows: Iterable[Sequence[Any]],
    decode: Callable[[Sequence[Any]], object],
) -> None:
    """Every row (rowid first) decoded as the store decodes it; one check line."""
    bad = total = 0
    first = ""
    for row in rows:
        total += 1
        try:
            decode(row[1:])
        except (ValidationError, ValueError, TypeError) as exc:
            bad += 1
            first = first or f"row {row[0]}: {_problem(exc)}"
    detail = (
        f"{total} rows, all readable" if not bad else f"{bad} of {total} rows unreadable ({first})"
    )
    diagnosis.add(name, bad == 0, detail)


def _check_rows(conn: sqlite3.Connection, diagnosis: Diagnosis) -> None:
    catalog = Catalog.builtin()
    offers = conn.execute(f"SELECT rowid, {', '.join(OFFER_COLUMNS)} FROM offers")
    _check_table(diagnosis, "offers", offers, lambda row: row_to_offer(row, catalog))
    instances = conn.execute("SELECT rowid, data FROM instances")
    _check_table(
        diagnosis, "instances", instances, lambda row: Instance.model_validate_json(row[0])
    )


def diagnose(path: Path) -> Diagnosis:
    """Every check on the file at `path` (which must exist), read-only."""
    diagnosis = Diagnosis(path)
    if not can_write(path):
        diagnosis.add(
            "access",
            True,
            "read-only: gpucm reads it, but cannot refresh, launch or save into it",
            note=True,
        )
    uri = f"file:{urllib.parse.quote(str(path))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        diagnosis.add("open", False, f"cannot open it: {exc}")
        return diagnosis
    try:
        try:
            lines = [r[0] for r in conn.execute(f"PRAGMA integrity_check({MAX_REPORTED})")]
        except sqlite3.DatabaseError as exc:
            diagnosis.add("integrity_check", False, str(exc))
            return diagnosis
        if not diagnosis.add(
            "integrity_check", lines == ["ok"], "ok" if lines == ["ok"] else "; ".join(lines)
        ):
            return diagnosis  # the rows of a damaged file may not even be readable
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        missing = sorted(f"{t} {n}" for t, n in _expected_schema() - _schema(conn))
        if version > LATEST_VERSION:
            diagnosis.add(
                "schema",
                False,
                f"version {version} is newer than this gpucm ({LATEST_VERSION}): upgrade gpucm",
            )
            return diagnosis
        if version < LATEST_VERSION:
            # an older file: the store upgrades it on open; tables it lacks come then
            diagnosis.add("schema", True, f"version {version}, upgraded when next opened")
            return diagnosis
        if not diagnosis.add(
            "schema",
            not missing,
            f"version {version}, complete" if not missing else "missing " + ", ".join(missing),
        ):
            return diagnosis
        _check_rows(conn, diagnosis)
    except sqlite3.DatabaseError as exc:
        diagnosis.add("read", False, str(exc))
    finally:
        conn.close()
    return diagnosis


def aside_name(path: Path, now: datetime) -> Path:
    """Where a broken file goes: beside it, named for when, never over another file."""
    stamp = now.strftime("%Y%m%d-%H%M%S")
    candidate = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while any(Path(f"{candidate}{s}").exists() for s in ("", *COMPANIONS)):
        n += 1
        candidate = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    return candidate


def move_aside(path: Path, now: datetime) -> Path:
    """Rename the database (and its WAL files, which belong to it) out of the way; the
    next open starts a fresh one. Returns the new name of the old file."""
    target = aside_name(path, now)
    for suffix in COMPANIONS:  # the companions first: a database without them is whole
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            companion.rename(Path(f"{target}{suffix}"))
    path.rename(target)
    return target
