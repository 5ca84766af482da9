"""The first page of the default view, read with plain sqlite3: gpucm-tui paints it
while the rest of the app (pydantic, the store, the providers) is still importing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gpucm.store.schema import LATEST_VERSION, OFFER_COLUMNS
from gpucm.store.sql import DEFAULT_ORDER, DEFAULT_WHERE, STALE_EXPR


def _read(path: Path, columns: Sequence[str], limit: int) -> list[tuple[Any, ...]] | None:
    if not path.is_file():
        return None
    select = ", ".join(STALE_EXPR if c == "stale" else c for c in columns)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] != LATEST_VERSION:
            return None  # an older or newer schema: let the real store deal with it
        rows = conn.execute(
            f"SELECT {select} FROM offers WHERE {DEFAULT_WHERE} ORDER BY {DEFAULT_ORDER} LIMIT ?",
            (limit,),
        ).fetchall()
        return [tuple(r) for r in rows]
    except sqlite3.Error:
        return None
    finally:
        conn.close()


def read_first_page(path: Path, columns: Sequence[str], limit: int) -> list[tuple[Any, ...]] | None:
    """Rows of the default view, or None when the database cannot be read this way
    (missing, another schema version, locked): the full app will show it instead.

    Synchronous on purpose: one indexed page of a local file takes ~2 ms, less than
    handing it to a thread costs while the first screen is being laid out."""
    for col in columns:
        if col not in OFFER_COLUMNS and col != "stale":
            raise ValueError(f"unknown offer column {col!r}")
    return _read(path, columns, limit)
