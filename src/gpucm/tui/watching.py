"""Watches in the TUI: checked after each refresh lands; a match is a notification and
the terminal bell, once per offer and condition (the store remembers what was said,
so a restart does not ring again for the same thing). Armed watches (snipes) are the
store's, every team member's (engine/armings.py): when this app fires them (alone, or
as the team's refresher) each launches its best match through the one launch flow and
says so in a notification that stays until dismissed; the instance manager shows the
machine with the watch as its origin.

The status bar's count of armed watches follows the store: in a team (PostgreSQL) every
arming and disarming is announced on the `watches` topic as it commits, and each open
TUI reads the armings again when it hears one, with no timer. SQLite has no channel
between processes (its outbox, engine/events.py, is a queue of events sent out once,
not a feed every process hears), so a one-user store is read again every
ARMED_READ_SECONDS: one SELECT of a few rows, for `gpucm watch add --launch` in
another shell.

Any armed watch may be disarmed from the palette ("Disarm a watch…", screens/disarm.py),
another member's too, through the engine's one disarm (`Armings.disarm`, as `gpucm
watch disarm --owner`): only the arming the user saw and confirmed, so one armed again
meanwhile stays armed, and one fired or disarmed meanwhile is said in one line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from gpucm.engine.armings import Armings
from gpucm.engine.ports import Team
from gpucm.engine.watches import Alert, WatchChecker
from gpucm.presets import BookFile, Watch
from gpucm.store.armed_watches import TOPIC as ARMINGS_TOPIC
from gpucm.store.results import RESYNC, ArmedWatch, TeamEvent
from gpucm.store.store import Store

if TYPE_CHECKING:  # the launch path loads when an armed watch fires, not at start
    from gpucm.engine.snipe import Sniper, SnipeResult

log = logging.getLogger(__name__)
TUI_CHANNEL = "tui"
NOTIFY_SECONDS = 15
# how often a one-user (SQLite) store's armed watches are read again; a team's are
# announced
ARMED_READ_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Disarmed:
    """What disarming one arming came to: `disarmed` (this app did), and one line
    saying so, or saying what happened to it meanwhile."""

    disarmed: bool
    line: str


class TuiWatches:
    def __init__(self, app: App[Any], store: Store, path: Path, armings: Armings) -> None:
        self.app = app
        self.checker = WatchChecker(store, TUI_CHANNEL)
        self.book = BookFile(path, on_error=self._bad_file)
        self.armings = armings
        self.armed: list[ArmedWatch] = []  # the store's armed watches, as last read
        self.fired: list[Alert] = []  # for tests and the session's record
        self.sniped: list[SnipeResult] = []
        # one firing at a time: a round's four landings each ask
        self._firing = asyncio.Lock()
        self._reload_asked = False  # an announcement's reload is on its way

    def _bad_file(self, message: str) -> None:
        self.app.notify(message, title="Watches", severity="warning", markup=False)

    async def check(self) -> list[Alert]:
        book = self.book.current()
        if not book.watches:
            return []
        try:
            if any(w.armed for w in book.watches.values()):  # an old file's armings
                await self.armings.adopt(book, self.book.path)
                await self.reload_armed()
            alerts = await self.checker.check(book)
        except Exception as exc:  # a watch must never take the app down
            log.warning("checking watches failed: %s", exc)
            return []
        for alert in alerts:
            self.app.notify(alert.message, title="Watch", timeout=NOTIFY_SECONDS, markup=False)
        if alerts:
            self.app.bell()
        self.fired.extend(alerts)
        return alerts

    async def fire(self, sniper: Callable[[], Sniper]) -> list[SnipeResult]:
        """Fire the store's armed watches, every owner's; `sniper` is built only when
        one is armed."""
        try:
            # one at a time, and the armings read inside: a watch the last firing
            # disarmed is not fired again
            async with self._firing:
                armed = await self.armings.armed()
                results = await sniper().fire_all() if armed else []
            await self.reload_armed()
        except Exception as exc:  # a watch must never take the app down
            log.warning("firing armed watches failed: %s", exc)
            return []
        for result in results:
            self.app.notify(
                result.message,
                title="Watch launched" if result.instances else "Watch: launch failed",
                severity="information" if result.fired else "warning",
                timeout=NOTIFY_SECONDS * 4,
                markup=False,
            )
        if results:
            self.app.bell()
        self.sniped.extend(results)
        return results

    async def saved(self, watch: Watch) -> None:
        """The watch dialog saved `watch`: store the arming it confirmed (its stamp in
        the template); a watch saved without a launch action is no longer armed."""
        if watch.launch is not None and watch.launch.armed is not None:
            await self.armings.arm(watch, watch.launch.armed)
        else:
            await self.armings.disarm(watch.name, reason="redefined")
        await self.reload_armed()

    async def reload_armed(self) -> None:
        self.armed = await self.armings.armed()

    async def follow_armed(self, team: Team | None) -> None:
        """Read the armed watches now, and again whenever they change in another
        process (a team member, `gpucm watch arm` in another terminal): as a team's
        `watches` announcement lands, or every few seconds on a one-user store. The
        listening and the app's timer stop with the app."""
        self.app.call_later(self._reload_quietly)
        if team is not None:
            await team.listen(self._heard)
        else:
            self.app.set_interval(ARMED_READ_SECONDS, self._reload_quietly, name="armed-watches")

    def _heard(self, event: TeamEvent) -> None:
        # this process's own armings are read again where it makes them (saved, fire);
        # a resync (the team's session was lost and is back) may hide anyone's
        if event.topic not in (ARMINGS_TOPIC, RESYNC) or event.own or self._reload_asked:
            return
        self._reload_asked = True  # a burst of announcements makes one read
        self.app.call_later(self._announced)

    async def _announced(self) -> None:
        self._reload_asked = False
        await self._reload_quietly()

    def whose(self, row: ArmedWatch) -> str:
        """The watch as this user is told of it: your watch snipe, bob's watch snipe."""
        owner = "your" if self.armings.mine(row) else f"{row.owner}'s"
        return f"{owner} watch {row.watch}"

    async def disarm(self, row: ArmedWatch) -> Disarmed:
        """Disarm the arming `row` (anyone's), as listed: the one the user confirmed.
        The status bar says it at once here; in a team every other TUI hears it on the
        `watches` topic. A store error is raised, for the caller to say."""
        whose = self.whose(row)
        armings = self.armings
        if await armings.disarm(row.watch, owner=row.owner, was=row.armed):
            await self._reload_quietly()
            return Disarmed(True, f"Disarmed {whose} (by {armings.who}): it launches nothing.")
        now = await armings.get(row.watch, owner=row.owner)
        await self._reload_quietly()
        return Disarmed(False, _meanwhile(whose, now))

    def armed_owners(self) -> list[str]:
        """The status bar's armed watches: each one's owner, "" for this user's."""
        return ["" if self.armings.mine(r) else r.owner for r in self.armed]

    async def _reload_quietly(self) -> None:
        try:
            await self.read_armed()
        except Exception as exc:  # the status bar keeps the last count
            log.warning("reading armed watches failed: %s", exc)

    async def read_armed(self) -> None:
        """Read the armed watches now, and say what changed: the status bar at once,
        and an arming of this user's that someone else disarmed."""
        before = self.armed
        await self.reload_armed()
        if self.armed != before:
            # say it now, not at the status bar's next tick (the main screen's)
            for screen in self.app.screen_stack:
                update = getattr(screen, "update_status", None)
                if callable(update):
                    update()
            await self._say_stopped_elsewhere(before)

    async def _say_stopped_elsewhere(self, before: list[ArmedWatch]) -> None:
        """This user's armings that someone else disarmed by hand (a teammate who
        stopped a runaway snipe from their TUI or `gpucm watch disarm --owner`): said
        here, once, naming who. This process's own disarmings are said where made."""
        still = {(r.watch, r.armed) for r in self.armed}
        for old in before:
            if not self.armings.mine(old) or (old.watch, old.armed) in still:
                continue
            try:
                row = await self.armings.get(old.watch)
            except Exception as exc:  # the status bar has it; the note can wait
                log.warning("reading the arming of %s failed: %s", old.watch, exc)
                return
            if (
                row is None
                or row.is_armed
                or row.armed != old.armed
                or row.disarm_reason != "manual"
                or row.disarmed_by in (None, self.armings.who)
            ):
                continue
            self.app.notify(
                f"{row.disarmed_by} disarmed your watch {row.watch}: it launches nothing"
                f" (gpucm watch arm {row.watch} arms it again).",
                title="Watch disarmed",
                severity="warning",
                timeout=NOTIFY_SECONDS * 4,
                markup=False,
            )


def _meanwhile(whose: str, now: ArmedWatch | None) -> str:
    """Why an arming the user confirmed was no longer there to disarm: `now` is its
    row as the store has it now."""
    if now is None:
        return f"Nothing to disarm: {whose} was deleted meanwhile."
    if now.is_armed:
        return (
            f"Not disarmed: {whose} was armed again meanwhile ({now.armed_at:%Y-%m-%d %H:%M}"
            f" UTC by {now.armed_by}); that arming stays armed: choose it again to disarm it."
        )
    when = f"{now.disarmed_at:%Y-%m-%d %H:%M} UTC" if now.disarmed_at else "?"
    by = now.disarmed_by or "?"
    if now.disarm_reason == "launched":
        return f"Nothing to disarm: {whose} fired meanwhile (it launched; disarmed {when} by {by})."
    why = f" ({now.disarm_reason})" if now.disarm_reason else ""
    return f"Nothing to disarm: {whose} was disarmed meanwhile, {when} by {by}{why}."
