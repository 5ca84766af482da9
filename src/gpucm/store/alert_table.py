"""What each watch has already said, per channel (reached as `store.alerts`).

Claiming is one INSERT OR IGNORE per key inside a write transaction, so when the TUI
and `gpucm watch` share a database each still fires an alert exactly once, and two
`gpucm watch` processes on one channel never both fire it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gpucm.store.database import Database


class AlertTable:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, watch: str, channel: str, items: Sequence[tuple[str, str]]) -> list[str]:
        """Record (key, detail) pairs; return the keys that were not recorded before."""
        now = self._db.now().timestamp()
        fresh: list[str] = []
        async with self._db.write() as conn:
            for key, detail in items:
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO watch_alerts (watch, channel, alert_key, fired_at,"
                    " detail) VALUES (?,?,?,?,?)",
                    (watch, channel, key, now, detail),
                )
                if cur.rowcount:
                    fresh.append(key)
        return fresh

    async def keys(self, watch: str, channel: str, prefix: str = "") -> set[str]:
        rows = await self._db.select(
            "SELECT alert_key FROM watch_alerts WHERE watch = ? AND channel = ?"
            " AND substr(alert_key, 1, ?) = ?",
            (watch, channel, len(prefix), prefix),
        )
        return {r[0] for r in rows}

    async def release(self, watch: str, channel: str, keys: Iterable[str]) -> None:
        async with self._db.write() as conn:
            await conn.executemany(
                "DELETE FROM watch_alerts WHERE watch = ? AND channel = ? AND alert_key = ?",
                [(watch, channel, k) for k in keys],
            )

    async def forget(self, watch: str | None = None) -> int:
        """Clear what a watch (or every watch) has said, so it can fire again."""
        async with self._db.write() as conn:
            if watch is None:
                cur = await conn.execute("DELETE FROM watch_alerts")
            else:
                cur = await conn.execute("DELETE FROM watch_alerts WHERE watch = ?", (watch,))
            return cur.rowcount
