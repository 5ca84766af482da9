"""The events gpucm sends out (launch started, running, failed, ...), as an outbox
(reached as `store.events`).

An event is added under a key that names the thing it is about (a request id and its
offer, an instance and the run it belongs to), with INSERT ... ON CONFLICT DO NOTHING:
the same event noticed twice (two processes syncing the same instances, a restart
re-reading them) is one row, so it is sent once. Sending claims a row first (pending ->
sending, in one UPDATE that only one process can win), then marks it sent or failed.
A row left `sending` by a process that died is claimed again after CLAIM_EXPIRES.
"""

from __future__ import annotations

import json
from typing import Any

from gpucm.store.database import SqlDatabase
from gpucm.store.results import OutboxEvent

CLAIM_EXPIRES = 600.0  # seconds
MAX_ATTEMPTS = 3


class EventOutbox:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def add(self, key: str, kind: str, payload: dict[str, Any]) -> bool:
        """Record an event; False when that key was recorded before."""
        now = self._db.now().timestamp()
        async with self._db.write() as tx:
            added = await tx.execute(
                "INSERT INTO event_outbox (event_key, kind, created_at, payload, state,"
                " attempts) VALUES (?,?,?,?,'pending',0) ON CONFLICT DO NOTHING",
                (key, kind, now, json.dumps(payload, default=str)),
            )
        return bool(added)

    async def claim(self, limit: int = 50) -> list[OutboxEvent]:
        """Events to send now, claimed by this process (no other sends them)."""
        now = self._db.now().timestamp()
        rows = await self._db.select(
            "SELECT event_key FROM event_outbox WHERE (state = 'pending')"
            " OR (state = 'sending' AND claimed_at < ?)"
            " OR (state = 'failed' AND attempts < ?)"
            " ORDER BY created_at LIMIT ?",
            (now - CLAIM_EXPIRES, MAX_ATTEMPTS, limit),
        )
        claimed: list[OutboxEvent] = []
        for (key,) in rows:
            async with self._db.write() as tx:
                won = await tx.execute(
                    "UPDATE event_outbox SET state = 'sending', claimed_at = ?,"
                    " attempts = attempts + 1 WHERE event_key = ? AND (state = 'pending'"
                    " OR (state = 'sending' AND claimed_at < ?)"
                    " OR (state = 'failed' AND attempts < ?))",
                    (now, key, now - CLAIM_EXPIRES, MAX_ATTEMPTS),
                )
                if not won:
                    continue
                got = await tx.fetch(
                    "SELECT kind, created_at, payload, attempts FROM event_outbox"
                    " WHERE event_key = ?",
                    (key,),
                )
            kind, created, payload, attempts = got[0]
            claimed.append(OutboxEvent(key, kind, float(created), json.loads(payload), attempts))
        return claimed

    async def settle(self, key: str, *, ok: bool, error: str | None = None) -> None:
        async with self._db.write() as tx:
            await tx.execute(
                "UPDATE event_outbox SET state = ?, error = ? WHERE event_key = ?",
                ("sent" if ok else "failed", error, key),
            )

    async def recent(self, limit: int = 100) -> list[tuple[str, str, str]]:
        """(key, kind, state), newest first: for tests and `gpucm doctor`-like looks."""
        rows = await self._db.select(
            "SELECT event_key, kind, state FROM event_outbox ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        return [(r[0], r[1], r[2]) for r in rows]
