"""The store's instances and launch journal (reached as `store.instances`, `store.journal`).

The journal is the money path's memory: a launch is recorded *before* the provider is
called, so a retry, a double key press or a crash can always find out whether an
instance already exists for a request instead of creating a second one.

It is also the budget's ledger. A launch holds its all-in $/h against the budget from
the moment it is journaled: `begin` (and `retry`) read what is committed — the machines
that bill now and every launch still on its way, from every process — and write the
reservation in one write transaction that holds the database's write lock from its
start, so two processes can never both take the last of a budget. A launch that fails
releases its reservation (a failed entry counts for nothing); one that succeeds is
settled with its instance in one transaction, so between the two it is counted once,
never zero times. On PostgreSQL the write transaction holds a transaction-scoped
advisory lock from its start (store/pg/database.py), so the same holds across machines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from gpucm.domain.clock import from_epoch, month_start
from gpucm.domain.models import BILLED, Instance, LaunchRecord, LaunchState
from gpucm.store.database import SqlDatabase, Tx
from gpucm.store.dialect import Dialect
from gpucm.store.results import CommittedSpend
from gpucm.store.spend_ledger import MONTH_SQL, spent, track

# Raises to refuse a launch, given what the budget already holds.
Admit = Callable[[CommittedSpend], None]

_JOURNAL_COLUMNS = (
    "request_id, created_at, updated_at, state, provider, offer_id, label, request,"
    " instance_id, error, fingerprint, reserved_per_hour"
)
_UPSERT_INSTANCE = (
    "INSERT INTO instances (id, provider, status, request_id, updated_at, data)"
    " VALUES (?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET provider = excluded.provider,"
    " status = excluded.status, request_id = excluded.request_id,"
    " updated_at = excluded.updated_at, data = excluded.data"
)
_BILLED_IN = "(" + ",".join(f"'{s}'" for s in BILLED) + ")"
IN_FLIGHT: tuple[LaunchState, ...] = ("pending", "unknown")
_IN_FLIGHT_IN = "(" + ",".join(f"'{s}'" for s in IN_FLIGHT) + ")"


# Machines that bill now, each at the greater of its listed $/h and the all-in rate its
# launch reserved (the listed price leaves out storage billed apart).
def _running_sql(dialect: Dialect) -> str:
    listed = f"coalesce({dialect.json_number('i.data', 'price_per_hour')}, 0)"
    return (
        f"SELECT coalesce(sum({dialect.greatest(listed, 'coalesce(j.reserved_per_hour, 0)')}),"
        " 0), count(*) FROM instances i LEFT JOIN launch_journal j"
        " ON j.request_id = i.request_id AND j.state = 'done'"
        f" WHERE i.status IN {_BILLED_IN}"
    )


# Launches on their way (one may already have created its machine).
_IN_FLIGHT_SQL = (
    "SELECT coalesce(sum(reserved_per_hour), 0), count(*) FROM launch_journal"
    f" WHERE state IN {_IN_FLIGHT_IN} AND request_id <> ?"
)


def _instance_row(instance: Instance, now: float) -> tuple[Any, ...]:
    return (
        instance.id,
        instance.provider,
        instance.status,
        instance.request_id,
        now,
        instance.model_dump_json(),
    )


def _committed(
    running: Sequence[Any], in_flight: Sequence[Any], month: Iterable[Sequence[Any]], now: datetime
) -> CommittedSpend:
    return CommittedSpend(
        running_per_hour=float(running[0][0]),
        running=int(running[0][1]),
        in_flight_per_hour=float(in_flight[0][0]),
        in_flight=int(in_flight[0][1]),
        month_spent=spent(month, month_start(now).timestamp(), now.timestamp()),
    )


class InstanceTable:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def upsert(self, instance: Instance) -> None:
        now = self._db.now().timestamp()
        async with self._db.write() as conn:
            await conn.execute(_UPSERT_INSTANCE, _instance_row(instance, now))
            await track(conn, [instance], now)
            conn.changed("instances", instance.provider)

    async def replace_provider(self, provider: str, instances: Sequence[Instance]) -> None:
        """The provider's current list wins. Instances it no longer lists are kept as
        terminated (for spend history) rather than deleted; launch bookkeeping the
        provider does not return (request id, offer, the user's label) is carried over."""
        now = self._db.now()
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
                        "label": inst.label or old.label,
                        "launched_by": inst.launched_by or old.launched_by,
                        "origin": inst.origin or old.origin,
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
        async with self._db.write() as conn:
            await conn.executemany(
                _UPSERT_INSTANCE, [_instance_row(i, now.timestamp()) for i in rows]
            )
            await track(conn, rows, now.timestamp())
            if self._differs(known, rows):
                conn.changed("instances", provider)
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
        where = " AND ".join(conds) or "TRUE"
        rows = await self._db.select(
            f"SELECT data FROM instances WHERE {where} ORDER BY provider, id", params
        )
        return [Instance.model_validate_json(r[0]) for r in rows]

    async def get(self, instance_id: str) -> Instance | None:
        rows = await self._db.select("SELECT data FROM instances WHERE id = ?", (instance_id,))
        return Instance.model_validate_json(rows[0][0]) if rows else None

    async def by_request(self, request_id: str) -> Instance | None:
        rows = await self._db.select(
            "SELECT data FROM instances WHERE request_id = ?", (request_id,)
        )
        return Instance.model_validate_json(rows[0][0]) if rows else None

    @staticmethod
    def _differs(known: dict[str, Instance], rows: Sequence[Instance]) -> bool:
        """Whether a sync changed what other processes show (status, price, endpoint):
        a sync that found everything as it was tells nobody."""
        ignore = {"updated_at"}
        for inst in rows:
            old = known.get(inst.id)
            if old is None or old.model_dump(exclude=ignore) != inst.model_dump(exclude=ignore):
                return True
        return False


class LaunchJournal:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db
        self._running_sql = _running_sql(db.dialect)

    async def begin(
        self,
        *,
        request_id: str,
        provider: str,
        offer_id: str,
        label: str,
        request: dict[str, Any],
        fingerprint: str | None = None,
        reserve_per_hour: float = 0.0,
        admit: Admit | None = None,
    ) -> tuple[LaunchRecord, bool]:
        """Record a launch as pending, holding `reserve_per_hour` against the budget,
        unless the request id is known; returns the record and whether it is new. Done
        before any provider call. `admit` sees what is committed, in the transaction
        that writes the reservation, and raises to refuse: then nothing is written."""
        now = self._db.now().timestamp()
        async with self._db.write() as conn:
            rows = await conn.fetch(
                f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal WHERE request_id = ?",
                (request_id,),
            )
            if rows:
                return _record(rows[0]), False
            if admit is not None:
                admit(await self._committed_in(conn, request_id))
            await conn.execute(
                f"INSERT INTO launch_journal ({_JOURNAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    fingerprint,
                    reserve_per_hour,
                ),
            )
            conn.changed("launches", request_id)
        record = await self.get(request_id)
        assert record is not None
        return record, True

    async def retry(
        self,
        request_id: str,
        *,
        provider: str,
        offer_id: str,
        reserve_per_hour: float = 0.0,
        admit: Admit | None = None,
    ) -> None:
        """Pend a known request again (it failed for sure, or never reached the
        provider), holding the budget as `begin` does."""
        now = self._db.now().timestamp()
        async with self._db.write() as conn:
            if admit is not None:
                admit(await self._committed_in(conn, request_id))
            await conn.execute(
                "UPDATE launch_journal SET state = 'pending', updated_at = ?, error = NULL,"
                " provider = ?, offer_id = ?, reserved_per_hour = ? WHERE request_id = ?",
                (now, provider, offer_id, reserve_per_hour, request_id),
            )
            conn.changed("launches", request_id)

    async def update(
        self,
        request_id: str,
        state: LaunchState,
        *,
        instance_id: str | None = None,
        error: str | None = None,
        provider: str | None = None,
        offer_id: str | None = None,
    ) -> None:
        """A new state; `failed` releases the request's reservation (only launches in
        flight and machines that bill count against the budget)."""
        now = self._db.now().timestamp()
        async with self._db.write() as conn:
            await conn.execute(
                "UPDATE launch_journal SET state = ?, updated_at = ?,"
                " instance_id = coalesce(?, instance_id), error = ?,"
                " provider = coalesce(?, provider), offer_id = coalesce(?, offer_id)"
                " WHERE request_id = ?",
                (state, now, instance_id, error, provider, offer_id, request_id),
            )
            conn.changed("launches", request_id)

    async def settle(self, request_id: str, instance: Instance) -> LaunchRecord:
        """The request launched `instance`: record both in one transaction, so the
        budget sees the reservation or the machine at every moment, never neither."""
        now = self._db.now().timestamp()
        async with self._db.write() as conn:
            await conn.execute(_UPSERT_INSTANCE, _instance_row(instance, now))
            await track(conn, [instance], now)
            await conn.execute(
                "UPDATE launch_journal SET state = 'done', updated_at = ?, instance_id = ?,"
                " error = NULL WHERE request_id = ?",
                (now, instance.id, request_id),
            )
            conn.changed("instances", instance.provider)
            conn.changed("launches", request_id)
        record = await self.get(request_id)
        assert record is not None
        return record

    async def committed(self) -> CommittedSpend:
        """What the budget holds now (for a confirmation; `begin` decides on its own
        reading, inside its transaction)."""
        now = self._db.now()
        running, in_flight, month = await self._db.select_many(
            [
                (self._running_sql, ()),
                (_IN_FLIGHT_SQL, ("",)),
                (MONTH_SQL, (month_start(now).timestamp(),)),
            ]
        )
        return _committed(running, in_flight, month, now)

    async def _committed_in(self, conn: Tx, request_id: str) -> CommittedSpend:
        """What the budget holds, read inside a write transaction; a request being
        pended again does not count its own earlier reservation."""
        now = self._db.now()
        running = await conn.fetch(self._running_sql)
        in_flight = await conn.fetch(_IN_FLIGHT_SQL, (request_id,))
        month = await conn.fetch(MONTH_SQL, (month_start(now).timestamp(),))
        return _committed(running, in_flight, month, now)

    async def get(self, request_id: str) -> LaunchRecord | None:
        rows = await self._db.select(
            f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal WHERE request_id = ?",
            (request_id,),
        )
        return _record(rows[0]) if rows else None

    async def unsettled(self) -> list[LaunchRecord]:
        """Launches whose outcome is not known: pending (maybe interrupted) or unknown."""
        rows = await self._db.select(
            f"SELECT {_JOURNAL_COLUMNS} FROM launch_journal"
            f" WHERE state IN {_IN_FLIGHT_IN} ORDER BY created_at",
        )
        return [_record(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[LaunchRecord]:
        rows = await self._db.select(
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
        fingerprint=row[10],
        reserved_per_hour=float(row[11] or 0.0),
    )


def age(record: LaunchRecord, now: datetime) -> timedelta:
    return now - record.created_at
