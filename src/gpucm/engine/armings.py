"""Armed watches for every front end: arming, disarming and listing them in the store.

A watch's definition lives in its owner's filters.toml (gpucm/presets.py); its arming
lives in the store (store/armed_watches.py): when, by whom, and once disarmed, by whom
and why, with a copy of what firing needs (the query, the conditions, the launch
template with env names only). So the process that fires armed watches (engine/snipe.py;
in a team only the elected refresher) fires every member's, and a team snipes once.

The copy is what the arming confirmed (its max $/h was shown): editing the watch in
filters.toml afterwards changes no arming; arming it again does. An old filters.toml's
`armed = "..."` (gpucm kept armings there before) is read into the store once by the
owner's next gpucm (`adopt`) and removed from the file; an arming the store already
has at that time (it may have fired since) is left as it is.

`owner` is the OS user (the user of user@host): whose watch it is, in each machine's
request id, so an arming launches once whichever process fires it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

from gpucm.domain.query import QueryError, parse_query
from gpucm.launch_template import TemplateError, parse_template
from gpucm.presets import PresetBook, PresetError, Watch, clear_armed
from gpucm.store.results import ArmedWatch

log = logging.getLogger(__name__)

# said when arming in a team: whose keys and environment a snipe launches with
TEAM_ARMING = "the team's refresher launches it with its own keys and environment"


class ArmedWatchStore(Protocol):
    """The store's armed watches (store/armed_watches.py)."""

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
    ) -> bool: ...

    async def disarm(
        self, owner: str, watch: str, *, by: str, reason: str, was: str | None = None
    ) -> bool: ...

    async def is_armed(self, owner: str, watch: str, armed: str) -> bool: ...

    async def get(self, owner: str, watch: str) -> ArmedWatch | None: ...

    async def list(self, *, armed_only: bool = False) -> list[ArmedWatch]: ...

    async def forget(self, owner: str, watch: str) -> bool: ...


class ArmingError(ValueError):
    """An arming in the store this gpucm cannot read (written by another version)."""


def owner_of(who: str) -> str:
    """The owner of the watches a process arms: the user of user@host."""
    return who.partition("@")[0]


def watch_of(row: ArmedWatch) -> Watch:
    """The watch as armed, its launch template carrying the arming's stamp."""
    conditions = row.conditions
    try:
        parse_query(row.query)
        template = parse_template({**row.template, "armed": row.armed})
        price = conditions.get("price_at_or_under")
        count = conditions.get("min_offers")
        return Watch(
            row.watch,
            row.query,
            price_at_or_under=None if price is None else float(price),
            min_offers=None if count is None else int(count),
            launch=template,
        )
    except (QueryError, TemplateError, TypeError, ValueError) as exc:
        raise ArmingError(f"{row.owner}'s watch {row.watch}: {exc}") from None


def describe(row: ArmedWatch, me: str) -> str:
    """One line for listings: the arming's state, with its owner if not `me`."""
    whose = "" if row.owner == me else f"{row.owner}'s "
    if row.is_armed:
        return f"{whose}ARMED {row.armed_at:%Y-%m-%d %H:%M} UTC by {row.armed_by}"
    when = f"{row.disarmed_at:%Y-%m-%d %H:%M} UTC" if row.disarmed_at else "?"
    why = f" ({row.disarm_reason})" if row.disarm_reason else ""
    return f"{whose}disarmed {when} by {row.disarmed_by or '?'}{why}"


class Armings:
    """The armed watches of one process's user (`who`: user@host), and the team's."""

    def __init__(self, table: ArmedWatchStore, *, who: str) -> None:
        self.table = table
        self.who = who
        self.owner = owner_of(who)

    def mine(self, row: ArmedWatch) -> bool:
        return row.owner == self.owner

    async def arm(self, watch: Watch, stamp: str) -> Watch:
        """Arm `watch`'s launch action at `stamp` (the confirmation's time); returns
        the watch as armed."""
        if watch.launch is None:
            raise PresetError(f"watch {watch.name} has no launch action")
        await self._store(watch, stamp)
        return watch.armed_at(stamp)

    async def _store(self, watch: Watch, stamp: str, *, only_if_newer: bool = False) -> bool:
        assert watch.launch is not None
        return await self.table.arm(
            owner=self.owner,
            watch=watch.name,
            armed=stamp,
            query=watch.query_text,
            conditions=_conditions(watch),
            template=watch.launch.to_toml(),
            by=self.who,
            only_if_newer=only_if_newer,
        )

    async def disarm(
        self,
        name: str,
        *,
        reason: str = "manual",
        owner: str | None = None,
        was: str | None = None,
    ) -> bool:
        """Disarm this user's watch `name`, or `owner`'s (a team member's runaway
        snipe: anyone may stop it, and the row says who did); whether it was armed.
        With `was`, only the arming of that stamp: the one a user saw and confirmed
        (armed again meanwhile, it stays armed)."""
        whose = self.owner if owner is None else owner
        return await self.table.disarm(whose, name, by=self.who, reason=reason, was=was)

    async def forget(self, name: str) -> bool:
        """This user's watch `name` is deleted: its arming goes too."""
        return await self.table.forget(self.owner, name)

    async def get(self, name: str, *, owner: str | None = None) -> ArmedWatch | None:
        return await self.table.get(self.owner if owner is None else owner, name)

    async def all(self) -> list[ArmedWatch]:
        return await self.table.list()

    async def armed(self) -> list[ArmedWatch]:
        return await self.table.list(armed_only=True)

    async def adopt(self, book: PresetBook, path: Path | None = None) -> list[str]:
        """Read an old filters.toml's armings into the store, once; returns the names
        armed by it. The file's line goes once the store holds the arming (a file
        that cannot be written keeps it, and the next read changes nothing)."""
        adopted = []
        for watch in book.watches.values():
            if watch.launch is None or watch.launch.armed is None:
                continue
            stamp = watch.launch.armed
            if await self._store(watch, stamp, only_if_newer=True):
                adopted.append(watch.name)
            try:
                clear_armed(watch.name, stamp, path)
            except (PresetError, OSError) as exc:
                log.warning(
                    "%s: armed in the store; could not update filters.toml: %s", watch.name, exc
                )
        return adopted


def _conditions(watch: Watch) -> dict[str, Any]:
    said: dict[str, Any] = {}
    if watch.price_at_or_under is not None:
        said["price_at_or_under"] = watch.price_at_or_under
    if watch.min_offers is not None:
        said["min_offers"] = watch.min_offers
    return said
