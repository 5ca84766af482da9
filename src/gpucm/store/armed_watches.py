"""Armed watches (reached as `store.armed`): a watch's launch action, armed.

The arming lives in the store, not in its owner's filters.toml, so the process that
fires armed watches (in a team, the elected refresher) fires every member's, whoever
armed it. A row holds what firing needs: the watch's query and conditions, and the
launch template with env NAMES only (a value is read from the firing process's
environment when it launches, never stored). One row per owner and watch: arming
again replaces it (a new stamp: new request ids); disarming keeps it, saying who
disarmed it, when and why, until the watch is armed again or deleted.
"""

from __future__ import annotations

import json
from typing import Any

from gpucm.domain.clock import from_epoch
from gpucm.store.database import SqlDatabase
from gpucm.store.results import ArmedWatch

_COLUMNS = (
    "owner, watch, armed, query, conditions, template, armed_at, armed_by,"
    " disarmed_at, disarmed_by, disarm_reason"
)
TOPIC = "watches"  # what a team hears when an arming changes


def _row(row: tuple[Any, ...]) -> ArmedWatch:
    owner, watch, armed, query, conditions, template, at, by, off_at, off_by, why = row
    armed_at = from_epoch(float(at))
    assert armed_at is not None
    return ArmedWatch(
        owner=str(owner),
        watch=str(watch),
        armed=str(armed),
        query=str(query),
        conditions=json.loads(conditions),
        template=json.loads(template),
        armed_at=armed_at,
        armed_by=str(by),
        disarmed_at=from_epoch(None if off_at is None else float(off_at)),
        disarmed_by=None if off_by is None else str(off_by),
        disarm_reason=None if why is None else str(why),
    )


class ArmedWatchTable:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def arm(
        self,
        *,
        owner: str,
        watch: str,
        armed: str,
        query: str,
        conditions: dict[str, Any],
        template: dict[str, Any],
        by: str,
        only_if_newer: bool = False,
    ) -> bool:
        """Arm `owner`'s `watch` at the stamp `armed` (replacing an earlier arming).
        `only_if_newer`: not over an arming at the same or a later stamp, armed or
        disarmed (an arming read from an old filters.toml, which may have fired).
        Returns whether it armed."""
        now = self._db.now().timestamp()
        newer = " WHERE armed_watches.armed < excluded.armed" if only_if_newer else ""
        async with self._db.write() as tx:
            changed = await tx.execute(
                f"INSERT INTO armed_watches ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,NULL,NULL,NULL)"
                " ON CONFLICT (owner, watch) DO UPDATE SET armed = excluded.armed,"
                " query = excluded.query, conditions = excluded.conditions,"
                " template = excluded.template, armed_at = excluded.armed_at,"
                " armed_by = excluded.armed_by, disarmed_at = NULL, disarmed_by = NULL,"
                f" disarm_reason = NULL{newer}",
                (
                    owner,
                    watch,
                    armed,
                    query,
                    json.dumps(conditions, sort_keys=True),
                    json.dumps(template, sort_keys=True),
                    now,
                    by,
                ),
            )
            tx.changed(TOPIC, f"{owner}/{watch}")
        return bool(changed)

    async def disarm(
        self, owner: str, watch: str, *, by: str, reason: str, was: str | None = None
    ) -> bool:
        """Disarm `owner`'s `watch`; with `was`, only the arming of that stamp (one
        armed again meanwhile stays armed). Returns whether it was armed."""
        now = self._db.now().timestamp()
        only = "" if was is None else " AND armed = ?"
        async with self._db.write() as tx:
            changed = await tx.execute(
                "UPDATE armed_watches SET disarmed_at = ?, disarmed_by = ?, disarm_reason = ?"
                f" WHERE owner = ? AND watch = ? AND disarmed_at IS NULL{only}",
                (now, by, reason, owner, watch, *(() if was is None else (was,))),
            )
            if changed:
                tx.changed(TOPIC, f"{owner}/{watch}")
        return bool(changed)

    async def is_armed(self, owner: str, watch: str, armed: str) -> bool:
        """Whether that arming is still armed now (not disarmed, not armed again)."""
        rows = await self._db.select(
            "SELECT 1 FROM armed_watches WHERE owner = ? AND watch = ? AND armed = ?"
            " AND disarmed_at IS NULL",
            (owner, watch, armed),
        )
        return bool(rows)

    async def get(self, owner: str, watch: str) -> ArmedWatch | None:
        rows = await self._db.select(
            f"SELECT {_COLUMNS} FROM armed_watches WHERE owner = ? AND watch = ?",
            (owner, watch),
        )
        return _row(tuple(rows[0])) if rows else None

    async def list(self, *, armed_only: bool = False) -> list[ArmedWatch]:
        """Every owner's, oldest arming first (the order they fire in)."""
        where = " WHERE disarmed_at IS NULL" if armed_only else ""
        rows = await self._db.select(
            f"SELECT {_COLUMNS} FROM armed_watches{where} ORDER BY armed_at, owner, watch"
        )
        return [_row(tuple(r)) for r in rows]

    async def forget(self, owner: str, watch: str) -> bool:
        """The watch is deleted: its arming goes with it."""
        async with self._db.write() as tx:
            changed = await tx.execute(
                "DELETE FROM armed_watches WHERE owner = ? AND watch = ?", (owner, watch)
            )
            if changed:
                tx.changed(TOPIC, f"{owner}/{watch}")
        return bool(changed)
