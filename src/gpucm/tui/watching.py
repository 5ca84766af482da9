"""Watches in the TUI: checked after each refresh lands; a match is a notification and
the terminal bell, once per offer and condition (the store remembers what was said,
so a restart does not ring again for the same thing). An armed watch (a snipe)
launches its best match through the one launch flow and says so in a notification
that stays until dismissed; the instance manager shows the machine with the watch as
its origin."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from gpucm.engine.watches import Alert, WatchChecker
from gpucm.presets import BookFile
from gpucm.store.store import Store

if TYPE_CHECKING:  # the launch path loads when an armed watch fires, not at start
    from gpucm.engine.snipe import Sniper, SnipeResult

log = logging.getLogger(__name__)
TUI_CHANNEL = "tui"
NOTIFY_SECONDS = 15


class TuiWatches:
    def __init__(self, app: App[Any], store: Store, path: Path) -> None:
        self.app = app
        self.checker = WatchChecker(store, TUI_CHANNEL)
        self.book = BookFile(path, on_error=self._bad_file)
        self.fired: list[Alert] = []  # for tests and the session's record
        self.sniped: list[SnipeResult] = []
        # one firing at a time: a round's four landings each ask
        self._firing = asyncio.Lock()

    def _bad_file(self, message: str) -> None:
        self.app.notify(message, title="Watches", severity="warning", markup=False)

    async def check(self) -> list[Alert]:
        book = self.book.current()
        if not book.watches:
            return []
        try:
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
        """Fire the armed watches; `sniper` is built only when one is armed."""
        try:
            # one at a time, and the book read inside: a watch the last firing disarmed
            # is not fired again
            async with self._firing:
                armed = [w for w in self.book.current().watches.values() if w.armed]
                results = await sniper().fire_all(armed) if armed else []
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
