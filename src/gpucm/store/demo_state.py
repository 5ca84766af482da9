"""The demo market's state (its clock ticks, its simulated instances), so every command
and every process sees one market.

A change is a read, a change and a write in one write transaction (`update`): two
processes launching at once each add their machine to what the other wrote, and
neither loses one (a read, then a separate write, lost all but the last).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from gpucm.store.database import SqlDatabase

T = TypeVar("T")

_UPSERT = (
    "INSERT INTO demo_state(key, value) VALUES (?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value"
)


class DemoStateTable:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def load(self, key: str) -> Any:
        rows = await self._db.select("SELECT value FROM demo_state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    async def save(self, key: str, value: Any) -> None:
        async with self._db.write() as conn:
            await conn.execute(_UPSERT, (key, json.dumps(value)))

    async def update(self, key: str, change: Callable[[Any], tuple[Any, T]]) -> T:
        """Apply `change` to the value (None if unset) and store what it returns first,
        in one write transaction; returns what it returns second. `change` may raise
        to leave the value as it was."""
        async with self._db.write() as conn:
            rows = await conn.fetch("SELECT value FROM demo_state WHERE key = ?", (key,))
            value, answer = change(json.loads(rows[0][0]) if rows else None)
            await conn.execute(_UPSERT, (key, json.dumps(value)))
        return answer
