"""Each provider's refresh health: the last attempt and success, the last error, the
next attempt (what the status bar and `gpucm providers` show)."""

from __future__ import annotations

from datetime import datetime

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import ProviderHealth
from gpucm.store.database import SqlDatabase

_COLUMNS = (
    "status",
    "last_attempt_at",
    "last_success_at",
    "last_error",
    "last_error_kind",
    "latency_ms",
    "offer_count",
    "consecutive_failures",
    "next_attempt_at",
)
_UPDATE = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS)


class HealthTable:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def save(self, health: ProviderHealth) -> None:
        def ts(value: datetime | None) -> float | None:
            return value.timestamp() if value else None

        async with self._db.write() as conn:
            await conn.execute(
                "INSERT INTO provider_health (provider, status, last_attempt_at,"
                " last_success_at, last_error, last_error_kind, latency_ms, offer_count,"
                " consecutive_failures, next_attempt_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
                f" ON CONFLICT (provider) DO UPDATE SET {_UPDATE}",
                (
                    health.provider,
                    health.status,
                    ts(health.last_attempt_at),
                    ts(health.last_success_at),
                    health.last_error,
                    health.last_error_kind,
                    health.latency_ms,
                    health.offer_count,
                    health.consecutive_failures,
                    ts(health.next_attempt_at),
                ),
            )
            conn.changed("health", health.provider)

    async def all(self) -> dict[str, ProviderHealth]:
        rows = await self._db.select(
            "SELECT provider, status, last_attempt_at, last_success_at, last_error,"
            " last_error_kind, latency_ms, offer_count, consecutive_failures,"
            " next_attempt_at FROM provider_health ORDER BY provider",
        )
        return {
            r[0]: ProviderHealth(
                provider=r[0],
                status=r[1],
                last_attempt_at=from_epoch(r[2]),
                last_success_at=from_epoch(r[3]),
                last_error=r[4],
                last_error_kind=r[5],
                latency_ms=r[6],
                offer_count=r[7],
                consecutive_failures=r[8],
                next_attempt_at=from_epoch(r[9]),
            )
            for r in rows
        }
