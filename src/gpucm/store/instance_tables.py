"""The store's instances and launch journal (reached as `store.instances`, `store.journal`).

The journal is the money path's memory: a launch is recorded *before* the provider is
called, so a retry, a double key press or a crash can always find out whether an
instance already exists for a request instead of creating a second one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import Instance, LaunchRecord, LaunchState

if TYPE_CHECKING:
    from gpucm.store.store import Store

_JOURNAL_COLUMNS = (
    "request_id, created_at, updated_at, state, provider, offer_id, label, request,"
    " instance_id, error"
)


class InstanceTable:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def upsert(self, instance: Instance) -> None:
        now = self._store.now().timestamp()
        async with self._store._write() as conn:
            await conn.execute(
                "INSERT OR REPLACE INTO instances (id, provider, status, request_id,"
                " updated_at, data) VALUES (?,?,?,?,?,?)",
                (
                    instance.id,
                    instance.provider,
                    instance.status,
                    instance.request_id,
                    now,
                    instance.model_dump_json(),
                ),
            )

    async def replace_provider(self, provider: str, instances: Sequence[Instance]) -> None:
        """The provider's current list wins. Instances it no longer lists are kept as
        terminated (for spend history) rather than deleted; launch bookkeeping the
        provider does not return (request id, offer) is carried over."""
        now = self._store.now()
        known = {i.id: i for i in await self.list(providers=[provider], include_terminated=True)}
        rows = []
        seen = set()
        for inst in instances:
            old = known.get(inst.id)
            if old is not None:
                inst = inst.model_copy(
                    update={
                        "request_id": inst.request_id or old.request_id,
                        "offer_id": inst.offer_id or old.offer_id,
                        "created_at": inst.created_at or old.created_at,
                    }
                )
            seen.add(inst.id)
            rows.append(inst)
        for gone_id, old in known.items():
            if gone_id not in seen and old.status != "terminated":
                rows.append(
                    old.model_copy(
                        update={"status": "terminated", "raw_status": "gone", "updated_at": now}
                    )
                )
        async with self._store._write() as conn:
            await conn.executemany(
                "INSERT OR REPLACE INTO instances (id, provider, status, request_id,"
                " updated_at, data) VALUES (?,?,?,?,?,?)",
                [
                    (i.id, i.provider, i.status, i.request_id, now.timestamp(), i.model_dump_json())
                    for i in rows
                ],
            )
            # terminated machines older than a week are history nobody looks at
            await conn.execute(
                "DELETE FROM instances WHERE provider = ? AND status = 'terminated'"
                " AND updated_at < ?",
                (provider, (now - timedelta(days=7)).timestamp()),
            )

    async def list(
        self, *, providers: Iterable[str] = (), include_terminated: bool = False
    ) -> list[Instance]:
        provs = tuple(providers)
        conds = []
        params: list[Any] = []
        if provs:
            conds.append(f"provider IN ({','.join('?' * len(provs))})")
            params.extend(provs)
        if not include_terminated:
            conds.append("status <> 'terminated'")
        where = " AND ".join(conds) or "1"
        rows = await self._store._select(
            f"SELECT data FROM instances WHERE {where} ORDER BY provider, id", params
        )
        return [Instance.model_validate_json(r[0]) for r in rows]

    async def get(self, instance_id: str) -> Instance | None:
        rows = await self._store._select("SELECT data FROM instances WHERE id = ?", (instance_id,))
        return Instance.model_validate_json(rows[0][0]) if rows else None

    async def by_request(self, request_id: str) -> Instance | None:
        rows = await self._store._select(
            "SELECT data FROM instances WHERE request_id = ?", (request_id,)
        )
        return Instance.model_validate_json(rows[0][0]) if rows else None


class LaunchJournal:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def begin(
        self,
        *,
        request_id: str,
        provider: str,
        offer_id: str,
        label: str,
        request: dict[str, Any],
    ) -> tuple[LaunchRecord, bool]:
        """Record a launch as pending unless the request id is known; returns the
        record and whether it is new. Done before any provider call."""
        now = self._store.now().timestamp()
        async with self._store._write() as conn:
            rows = await self._store._fetchall(
                conn,
                f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal WHERE request_id = ?",
                (request_id,),
            )
            if rows:
                return _record(rows[0]), False
            await conn.execute(
                f"INSERT INTO launch_journal ({_JOURNAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    request_id,
                    now,
                    now,
                    "pending",
                    provider,
                    offer_id,
                    label,
                    json.dumps(request, default=str),
                    None,
                    None,
                ),
            )
        record = await self.get(request_id)
        assert record is not None
        return record, True

    async def update(
        self,
        request_id: str,
        state: LaunchState,
        *,
        instance_id: str | None = None,
        error: str | None = None,
        provider: str | None = None,
        offer_id: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        now = self._store.now().timestamp()
        text = None if request is None else json.dumps(request, default=str)
        async with self._store._write() as conn:
            await conn.execute(
                "UPDATE launch_journal SET state = ?, updated_at = ?,"
                " instance_id = coalesce(?, instance_id), error = ?,"
                " provider = coalesce(?, provider), offer_id = coalesce(?, offer_id),"
                " request = coalesce(?, request)"
                " WHERE request_id = ?",
                (state, now, instance_id, error, provider, offer_id, text, request_id),
            )

    async def get(self, request_id: str) -> LaunchRecord | None:
        rows = await self._store._select(
            f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal WHERE request_id = ?",
            (request_id,),
        )
        return _record(rows[0]) if rows else None

    async def unsettled(self) -> list[LaunchRecord]:
        """Launches whose outcome is not known: pending (maybe interrupted) or unknown."""
        rows = await self._store._select(
            f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal"
            " WHERE state IN ('pending', 'unknown') ORDER BY created_at",
        )
        return [_record(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[LaunchRecord]:
        rows = await self._store._select(
            f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal ORDER BY created_at DESC LIMIT ?",
            (limit,),
        )
        return [_record(r) for r in rows]


def _record(row: Sequence[Any]) -> LaunchRecord:
    created = from_epoch(row[1])
    updated = from_epoch(row[2])
    assert created is not None and updated is not None
    return LaunchRecord(
        request_id=row[0],
        created_at=created,
        updated_at=updated,
        state=row[3],
        provider=row[4],
        offer_id=row[5],
        label=row[6],
        request=json.loads(row[7] or "{}"),
        instance_id=row[8],
        error=row[9],
    )


def age(record: LaunchRecord, now: datetime) -> timedelta:
    return now - record.created_at
