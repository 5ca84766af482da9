"""The spend ledger (reached as `store.spend`): every machine's billed intervals.

A machine bills at one rate from one moment to another: while it runs or starts, at
its $/h (compute); while it is stopped, where its provider bills the disk, at that
rate (storage). Each change of state or of rate closes the open interval and opens
the next. Intervals are written in the same transaction as the instance rows they
follow (store/instance_tables.py calls `track`), so the ledger never disagrees with
what the manager shows, and they are kept apart from `instances`, whose terminated
rows are pruned after a week: spend outlives the machine and gpucm's restarts.

Where the provider reports the rate it bills (RunPod's pod `cost`, Vast's `dph_total`
and `storage_total_cost`) an interval is `reported`; elsewhere gpucm estimated it (a
list price, a documented storage rate). An estimated interval is settled when the
provider's figure arrives: its rate is replaced from its start, not split.

Times are epoch seconds (UTC); a state change is seen at a sync, so an interval ends
at the sync that saw it end, except that a machine's first interval and each restart
begin when the provider says it started.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import BILLED, Instance
from gpucm.store.database import SqlDatabase, Tx
from gpucm.store.results import SpendInterval, SpendKind

_COLUMNS = (
    "instance_id, provider, name, gpu, launched_by, kind, started_at, ended_at, rate, reported"
)
# rates closer than this are the same rate (float noise in a provider's JSON)
_SAME_RATE = 1e-9


def billing(instance: Instance) -> tuple[SpendKind, float, bool] | None:
    """What the machine bills now: its kind of interval, $/h and whether the provider
    reported that rate; None when it bills nothing (terminated, failed, or stopped at
    a provider that bills nothing while stopped)."""
    if instance.status in BILLED:
        return "compute", instance.price_per_hour or 0.0, instance.rate_reported
    if instance.status == "stopped" and instance.stopped_per_hour:
        return "storage", instance.stopped_per_hour, instance.stopped_reported
    return None


def _describe(instance: Instance) -> tuple[str, str]:
    name = instance.label or instance.name or instance.provider_id
    gpu = f"{instance.gpu_count}x {instance.gpu_model or instance.gpu_name or '?'}"
    return name, gpu


async def track(tx: Tx, instances: Sequence[Instance], now: float) -> None:
    """Bring the ledger in line with `instances` as just written, in their
    transaction."""
    if not instances:
        return
    ids = sorted({i.id for i in instances})
    marks = ",".join("?" * len(ids))
    open_rows = await tx.fetch(
        f"SELECT id, instance_id, kind, rate, reported, started_at FROM spend_intervals"
        f" WHERE ended_at IS NULL AND instance_id IN ({marks})",
        ids,
    )
    last_rows = await tx.fetch(
        f"SELECT instance_id, max(ended_at) FROM spend_intervals"
        f" WHERE instance_id IN ({marks}) GROUP BY instance_id",
        ids,
    )
    current = {r[1]: r for r in open_rows}
    last_end = {r[0]: float(r[1]) for r in last_rows if r[1] is not None}
    for instance in instances:
        want = billing(instance)
        row = current.pop(instance.id, None)
        start = now
        if row is not None:
            row_id, _, kind, rate, reported, started = row
            if want is not None and want[0] == kind:
                same = abs(want[1] - float(rate)) < _SAME_RATE
                if want[2] and not reported:
                    # the provider's billed rate settles gpucm's estimate, from its start
                    await tx.execute(
                        "UPDATE spend_intervals SET rate = ?, reported = 1 WHERE id = ?",
                        (want[1], row_id),
                    )
                    continue
                if same:
                    continue
            start = max(now, float(started))
            if want is not None and want[0] == "compute" and kind != "compute":
                # started again: the disk's interval ends when the provider says the run began
                begun = instance.started_at
                if begun is not None:
                    start = max(float(started), min(now, begun.timestamp()))
            await tx.execute(
                "UPDATE spend_intervals SET ended_at = ? WHERE id = ?", (start, row_id)
            )
        elif want is not None and want[0] == "compute":
            # a run the ledger has not seen start: from when the provider says it did,
            # never before what the ledger already holds
            begun = instance.started_at or instance.created_at
            if begun is not None:
                start = min(now, max(begun.timestamp(), last_end.get(instance.id, 0.0)))
        if want is None:
            continue
        name, gpu = _describe(instance)
        await tx.execute(
            f"INSERT INTO spend_intervals ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT (instance_id, started_at, kind) DO UPDATE SET"
            " rate = excluded.rate, reported = excluded.reported, ended_at = NULL",
            (
                instance.id,
                instance.provider,
                name,
                gpu,
                instance.launched_by,
                want[0],
                start,
                None,
                want[1],
                1 if want[2] else 0,
            ),
        )


def _interval(row: Sequence[Any]) -> SpendInterval:
    started = from_epoch(row[6])
    assert started is not None
    return SpendInterval(
        instance_id=row[0],
        provider=row[1],
        name=row[2],
        gpu=row[3],
        launched_by=row[4],
        kind=row[5],
        started_at=started,
        ended_at=from_epoch(row[7]),
        rate=float(row[8]),
        reported=bool(row[9]),
    )


def spent(rows: Iterable[Sequence[Any]], since: float, until: float) -> float:
    """What `rows` of (rate, started_at, ended_at) billed between two epoch times."""
    total = 0.0
    for rate, started, ended in rows:
        end = until if ended is None else min(float(ended), until)
        total += float(rate) * max(0.0, end - max(float(started), since)) / 3600
    return total


MONTH_SQL = (
    "SELECT rate, started_at, ended_at FROM spend_intervals WHERE ended_at IS NULL OR ended_at > ?"
)


class SpendLedger:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def intervals(
        self, since: datetime | None = None, *, instance_ids: Iterable[str] = ()
    ) -> list[SpendInterval]:
        """Every interval that billed after `since` (all of them without it), and
        every interval of the machines named, whenever they billed."""
        ids = tuple(instance_ids)
        sql = f"SELECT {_COLUMNS} FROM spend_intervals WHERE ended_at IS NULL OR ended_at > ?"
        params: list[Any] = [since.timestamp() if since is not None else -1e300]
        if ids:
            sql += f" OR instance_id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        rows = await self._db.select(sql + " ORDER BY started_at, id", params)
        return [_interval(r) for r in rows]
