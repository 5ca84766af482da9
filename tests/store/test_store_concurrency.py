"""The TUI cancels stale reads constantly; a cancelled read or write must never leave
a connection inside a transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gpucm.domain.clock import Clock
from gpucm.domain.models import SearchQuery
from gpucm.store.store import Store
from tests.offer_factory import make_offer


async def test_cancelled_reads_leave_no_open_transaction(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", [make_offer(provider_id=str(i)) for i in range(200)])
        for delay in (0, 0, 0.0005, 0.001, 0.002):
            # one statement, and several in one transaction (a page with its total, stats)
            tasks = [
                asyncio.create_task(read)
                for _ in range(2)
                for read in (
                    store.search(SearchQuery(available=False)),
                    store.search(SearchQuery(limit=10)),
                    store.stats(),
                )
            ]
            await asyncio.sleep(delay)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # a later read and write work, whatever state the cancelled ones left
            assert (await store.search(SearchQuery(limit=1))).total == 200
            assert await store.count(SearchQuery()) == 200
        await store.replace_offers("vast_ai", [make_offer(provider_id="x")])
        assert await store.count(SearchQuery()) == 1
    finally:
        await store.close()


async def test_cancelled_write_rolls_back(db_path: Path, clock: Clock) -> None:
    store = await Store.open(db_path, clock=clock)
    try:
        await store.replace_offers("vast_ai", [make_offer(provider_id="keep")])
        big = [make_offer(provider_id=str(i)) for i in range(3000)]
        for delay in (0, 0.001, 0.005):
            task = asyncio.create_task(store.replace_offers("vast_ai", big))
            await asyncio.sleep(delay)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            ids = {o.provider_id for o in (await store.search(SearchQuery())).offers}
            # either the old snapshot or the new one, never a mix
            assert ids == {"keep"} or len(ids) == 3000
            await store.replace_offers("vast_ai", [make_offer(provider_id="keep")])
    finally:
        await store.close()
