"""The memory of bad hosts (reached as `store.hosts`; domain/hosts.py says what a host
key is). Both backends: in a team's store every member's failures hide the host for
everyone. An entry is kept past its expiry or its forgetting (listed as expired) until
it is recorded again, so an automatic record of one instance's failure is made once."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from gpucm.domain.clock import from_epoch
from gpucm.domain.hosts import DEFAULT_TTL, BadHost, HostKind, clean_reason
from gpucm.store.database import SqlDatabase

_ACTIVE = "SELECT host FROM bad_hosts WHERE expires_at > ? ORDER BY host"
_COLUMNS = "host, provider, kind, reason, recorded_at, expires_at, instance_id, recorded_by"


def _row(row: tuple[object, ...]) -> BadHost:
    host, provider, kind, reason, recorded, expires, instance_id, by = row
    return BadHost(
        host=str(host),
        provider=str(provider),
        kind=kind,  # type: ignore[arg-type]  # written by record() from HostKind
        reason=str(reason),
        recorded_at=from_epoch(float(recorded)),  # type: ignore[arg-type]
        expires_at=from_epoch(float(expires)),  # type: ignore[arg-type]
        instance_id=None if instance_id is None else str(instance_id),
        recorded_by=None if by is None else str(by),
    )


class HostTable:
    def __init__(self, db: SqlDatabase, who: str | None = None) -> None:
        self._db = db
        self._who = who

    async def record(
        self,
        host: str,
        provider: str,
        kind: HostKind,
        reason: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        instance_id: str | None = None,
        once: bool = False,
    ) -> BadHost | None:
        """Remember `host` as bad for `ttl`. `once`: not when this instance's failure is
        already recorded (an automatic record, seen again on every sync); returns None
        then."""
        now = self._db.now()
        entry = BadHost(
            host=host,
            provider=provider,
            kind=kind,
            reason=clean_reason(reason),
            recorded_at=now,
            expires_at=now + ttl,
            instance_id=instance_id,
            recorded_by=self._who,
        )
        async with self._db.write() as tx:
            if once and instance_id is not None:
                seen = await tx.fetch(
                    "SELECT 1 FROM bad_hosts WHERE host = ? AND instance_id = ?",
                    (host, instance_id),
                )
                if seen:
                    return None
            await tx.execute(
                f"INSERT INTO bad_hosts ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
                " ON CONFLICT (host) DO UPDATE SET provider = excluded.provider,"
                " kind = excluded.kind, reason = excluded.reason,"
                " recorded_at = excluded.recorded_at, expires_at = excluded.expires_at,"
                " instance_id = excluded.instance_id, recorded_by = excluded.recorded_by",
                (
                    entry.host,
                    entry.provider,
                    entry.kind,
                    entry.reason,
                    entry.recorded_at.timestamp(),
                    entry.expires_at.timestamp(),
                    entry.instance_id,
                    entry.recorded_by,
                ),
            )
            tx.changed("hosts", host)
        return entry

    async def active(self, now: datetime | None = None) -> tuple[str, ...]:
        """The hosts bad now: what searches hide."""
        when = (now or self._db.now()).timestamp()
        rows = await self._db.select(_ACTIVE, (when,))
        return tuple(str(r[0]) for r in rows)

    def active_on(self, raw: sqlite3.Connection) -> tuple[str, ...]:
        """`active()` read on a SQLite connection the caller holds (inside its read
        transaction): a page of offers and the hosts it hides, in one read."""
        rows = raw.execute(_ACTIVE, (self._db.now().timestamp(),)).fetchall()
        return tuple(str(r[0]) for r in rows)

    async def list(self, *, include_expired: bool = False) -> list[BadHost]:
        when = self._db.now().timestamp()
        where = "" if include_expired else " WHERE expires_at > ?"
        rows = await self._db.select(
            f"SELECT {_COLUMNS} FROM bad_hosts{where} ORDER BY recorded_at DESC, host",
            () if include_expired else (when,),
        )
        return [_row(tuple(r)) for r in rows]

    async def forget(self, host: str | None = None) -> int:
        """Forget one host (or, with None, every one) now: its entry expires, and stays
        (listed as expired), so a failure already recorded is not recorded again on the
        next sync. Returns how many were forgotten."""
        now = self._db.now().timestamp()
        async with self._db.write() as tx:
            if host is None:
                count = await tx.execute(
                    "UPDATE bad_hosts SET expires_at = ? WHERE expires_at > ?", (now, now)
                )
            else:
                count = await tx.execute(
                    "UPDATE bad_hosts SET expires_at = ? WHERE host = ? AND expires_at > ?",
                    (now, host, now),
                )
            tx.changed("hosts", host or "")
        return count
