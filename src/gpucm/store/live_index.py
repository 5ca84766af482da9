"""Keeping the offer index (store/offer_index.py) of the current offers: built in the
background after each change, used by a read only while it is of the generation that
read sees, else the read is answered with SQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from gpucm.store.database import Database
from gpucm.store.sql import offers_generation

if TYPE_CHECKING:
    from gpucm.store.offer_index import OfferIndex

log = logging.getLogger(__name__)
T = TypeVar("T")

# the name of the store's background task that builds the offer index
INDEX_BUILD_TASK = "gpucm: offer index build"

# Builds an index on a worker thread: (generation, the index or None, why not). It
# stops (returning None) once its argument says so.
IndexReader = Callable[[Callable[[], bool]], "tuple[int, OfferIndex | None, str]"]


class LiveIndex:
    """`db` is SQLite's, for `read`; another backend passes how to read the current
    generation and how to build an index (store/pg/offers.py)."""

    def __init__(
        self,
        db: Database | None,
        *,
        wanted: bool,
        generation: Callable[[], Awaitable[int]] | None = None,
        reader: IndexReader | None = None,
    ) -> None:
        self._db = db
        # on for the long-running front ends (TUI, API), which search on every
        # keystroke; a one-shot CLI search would pay its build for one answer
        self.wanted = wanted and (db is None or db.path != ":memory:")
        if generation is None or reader is None:
            assert db is not None
            sqlite_db = db

            async def read_generation() -> int:
                return await sqlite_db.read(offers_generation)

            def read_index(stop: Callable[[], bool]) -> tuple[int, OfferIndex | None, str]:
                return _read_offer_index(sqlite_db.path, stop)

            generation, reader = read_generation, read_index
        self._read_generation = generation
        self._reader = reader
        self._index: OfferIndex | None = None
        self._task: asyncio.Task[None] | None = None
        self._target = 0  # the newest generation a read or write has seen
        self._failed = -1  # a generation whose build failed: not retried
        self._closing = threading.Event()
        self._now: sqlite3.Connection | None = None  # read_now's, on the caller's thread

    async def close(self) -> None:
        self._closing.set()
        if self._now is not None:
            self._now.close()
            self._now = None
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not awaiting the task: a cancellation of close() itself must
            # not be swallowed with the build's own
            await asyncio.wait([self._task])

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The build running in the background, if any."""
        return self._task

    @property
    def generation(self) -> int | None:
        """The generation of the offers the index holds (None before the first build)."""
        return self._index.generation if self._index is not None else None

    def current(self, generation: int) -> OfferIndex | None:
        """The index, if it holds `generation` of the offers."""
        index = self._index
        return index if index is not None and index.generation == generation else None

    async def read(
        self,
        by_index: Callable[[sqlite3.Connection, OfferIndex], T],
        by_sql: Callable[[sqlite3.Connection], T],
    ) -> T:
        """One read, answered from the offer index when it is of the current generation
        of the offers, else with SQL (and an index build is started). Either way one
        hop, in one read transaction: the page's rows are read in the snapshot whose
        generation was checked."""
        index = self._index
        assert self._db is not None

        def read(raw: sqlite3.Connection) -> tuple[T, int]:
            raw.execute("BEGIN")
            try:
                generation = offers_generation(raw)
                if index is not None and index.generation == generation:
                    return by_index(raw, index), generation
                return by_sql(raw), generation
            finally:
                raw.execute("COMMIT")

        answer, generation = await self._db.read(read)
        self.build(generation)
        return answer

    def read_now(self, by_index: Callable[[sqlite3.Connection, OfferIndex], T]) -> T | None:
        """`by_index` on the calling thread, without a hop, when the index holds the
        current generation of the offers; else None (then `read`). In one read
        transaction, as `read`. For the TUI's table: a page by the index is ~1 ms of
        work, and the two hops to the reader's thread and back cost more than that on
        an idle machine and 5-15 ms on a loaded one, where that thread waits for a
        core and then for the GIL (bench tui: filter change to repaint)."""
        index = self._index
        if index is None or self._db is None or self._closing.is_set():
            return None
        try:
            if self._now is None:
                # read-only, as gpucm-tui's first page (store/first_page.py) reads
                self._now = sqlite3.connect(
                    f"{Path(self._db.path).resolve().as_uri()}?mode=ro", uri=True
                )
            conn = self._now
            conn.execute("BEGIN")
            try:
                if offers_generation(conn) != index.generation:
                    return None
                return by_index(conn, index)
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error:
            return None

    def build(self, generation: int) -> None:
        """Bring the offer index up to `generation`, which a read or a write has just
        seen: start a build in the background, or have a running one go again once
        done if what it read is older."""
        built = self.generation
        if (
            not self.wanted
            or self._closing.is_set()
            or (built is not None and generation <= built)
            or generation == self._failed
        ):
            return
        self._target = max(self._target, generation)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._builds(), name=INDEX_BUILD_TASK
            )

    async def _builds(self) -> None:
        while True:
            try:
                generation, index, error = await asyncio.to_thread(
                    self._reader, self._closing.is_set
                )
            except Exception:  # a bug, not the data: say so, and keep searching with SQL
                log.exception("offer index build failed; searching with SQL")
                self.wanted = False
                return
            if error:
                # a value SQL holds but the index cannot: searches stay on SQL, right
                # either way, until the offers change (or for good, when the file
                # cannot even be opened for the build)
                self._failed = generation
                self.wanted = generation >= 0
                log.warning("offer index not built, searching with SQL: %s", error)
                return
            if index is not None:
                self._index = index
                if self._db is not None and not self._closing.is_set():
                    # searches now read the offers by rowid: the pages that SQL
                    # searches and the refresh before it scanned need not stay mapped
                    try:
                        await self._db.unmap()
                    except (sqlite3.Error, ValueError) as exc:  # closed meanwhile: harmless
                        log.debug("memory map kept: %s", exc)
            if self._closing.is_set() or self._target <= generation:
                return

    async def wait(self) -> bool:
        """Build the offer index if it is not of the current offers, and wait for it:
        True once it is (benchmarks and tests measure the steady state with it),
        False when the store has no index or it cannot be built."""
        for _ in range(3):  # the offers may change while it builds; then it goes again
            if not self.wanted or self._closing.is_set():
                return False
            current = await self._read_generation()
            if self.generation == current:
                return True
            if self._failed == current:
                return False
            self.build(current)
            if self._task is not None:
                await asyncio.shield(self._task)
        return False


def _read_offer_index(path: str, stop: Callable[[], bool]) -> tuple[int, OfferIndex | None, str]:
    # imported here, on the build's thread: numpy's import is ~70 ms of a UI's time
    from gpucm.store.offer_index import read_offer_index

    return read_offer_index(path, stop)
