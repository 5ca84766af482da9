"""What each watch has already said, per channel (reached as `store.alerts`).

Claiming is one INSERT ... ON CONFLICT DO NOTHING per key inside a write transaction,
so when the TUI and `gpucm watch` share a database each still fires an alert exactly
once, and two
`gpucm watch` processes on one channel never both fire it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from gpucm.store.database import SqlDatabase


class AlertTable:
    """`owner`: in a team's store, whose watches these are (user@host). Watches live in
    each user's own filters.toml, so two users' watches of one name are two watches:
    each channel is kept per owner there, and `forget` clears only the owner's."""

    def __init__(self, db: SqlDatabase, owner: str | None = None) -> None:
        self._db = db
        self._owner = owner

    def _channel(self, channel: str) -> str:
        return channel if self._owner is None else f"{channel} {self._owner}"

    async def claim(self, watch: str, channel: str, items: Sequence[tuple[str, str]]) -> list[str]:
        """Record (key, detail) pairs; return the keys that were not recorded before."""
        channel = self._channel(channel)
        now = self._db.now().timestamp()
        fresh: list[str] = []
        async with self._db.write() as conn:
            for key, detail in items:
                added = await conn.execute(
                    "INSERT INTO watch_alerts (watch, channel, alert_key, fired_at,"
                    " detail) VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                    (watch, channel, key, now, detail),
                )
                if added:
                    fresh.append(key)
        return fresh

    async def keys(self, watch: str, channel: str, prefix: str = "") -> set[str]:
        channel = self._channel(channel)
        rows = await self._db.select(
            "SELECT alert_key FROM watch_alerts WHERE watch = ? AND channel = ?"
            " AND substr(alert_key, 1, ?) = ?",
            (watch, channel, len(prefix), prefix),
        )
        return {r[0] for r in rows}

    async def release(self, watch: str, channel: str, keys: Iterable[str]) -> None:
        channel = self._channel(channel)
        async with self._db.write() as conn:
            await conn.executemany(
                "DELETE FROM watch_alerts WHERE watch = ? AND channel = ? AND alert_key = ?",
                [(watch, channel, k) for k in keys],
            )

    async def forget(self, watch: str | None = None) -> int:
        """Clear what a watch (or every watch) has said, so it can fire again."""
        mine = "" if self._owner is None else " AND substr(channel, length(channel) - ?) = ?"
        owned: tuple[object, ...] = (
            () if self._owner is None else (len(self._owner), " " + self._owner)
        )
        async with self._db.write() as conn:
            if watch is None:
                return await conn.execute(f"DELETE FROM watch_alerts WHERE TRUE{mine}", owned)
            return await conn.execute(
                f"DELETE FROM watch_alerts WHERE watch = ?{mine}", (watch, *owned)
            )
