"""The launch journal as the budget's ledger: what a launch reserves, what counts as
committed, that a refusal writes nothing, that a failure releases and a success
settles, and that two connections (two processes) never both take the last of it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from gpucm.domain.models import Instance
from gpucm.store.results import CommittedSpend
from gpucm.store.store import Store


class Refused(Exception):
    pass


def limit(budget: float, per_hour: float) -> object:
    def admit(committed: CommittedSpend) -> None:
        if committed.per_hour + per_hour > budget + 1e-9:
            raise Refused(f"{committed.per_hour} + {per_hour} > {budget}")

    return admit


def machine(n: int, price: float, request_id: str | None = None, **kw: object) -> Instance:
    return Instance.model_validate(
        {
            "id": f"vast_ai:{n}",
            "provider": "vast_ai",
            "provider_id": str(n),
            "status": "running",
            "price_per_hour": price,
            "request_id": request_id,
            **kw,
        }
    )


async def begin(store: Store, request_id: str, per_hour: float, **kw: object) -> bool:
    _, new = await store.journal.begin(
        request_id=request_id,
        provider="vast_ai",
        offer_id="vast_ai:1",
        label="train",
        request={},
        reserve_per_hour=per_hour,
        **kw,  # type: ignore[arg-type]
    )
    return new


async def test_committed_counts_machines_and_launches_on_their_way(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        await store.instances.upsert(machine(1, 0.5))  # launched elsewhere
        await store.instances.upsert(machine(2, 0.7, status="stopped"))  # bills nothing
        await begin(store, "a", 0.25)
        committed = await store.journal.committed()
        # (month_spent: the ledger's seconds of machine 1 so far)
        assert replace(committed, month_spent=0.0) == CommittedSpend(0.5, 1, 0.25, 1)
        # settled: the machine counts at the all-in rate it reserved (its listed price
        # leaves out storage), and the reservation no longer counts on its own
        await store.journal.settle("a", machine(3, 0.2, request_id="a"))
        committed = await store.journal.committed()
        assert replace(committed, month_spent=0.0) == CommittedSpend(0.75, 2, 0.0, 0)
        # a failure releases what it held
        await begin(store, "b", 0.4)
        assert (await store.journal.committed()).per_hour == pytest.approx(1.15)
        await store.journal.update("b", "failed", error="no capacity")
        assert (await store.journal.committed()).per_hour == pytest.approx(0.75)
        # a launch in doubt keeps holding it: it may have created the machine
        await begin(store, "c", 0.1)
        await store.journal.update("c", "unknown", error="timed out")
        assert (await store.journal.committed()).in_flight == 1
    finally:
        await store.close()


async def test_a_refused_reservation_writes_nothing(db_path: Path) -> None:
    store = await Store.open(db_path)
    try:
        await store.instances.upsert(machine(1, 0.9))
        with pytest.raises(Refused):
            await begin(store, "over", 0.2, admit=limit(1.0, 0.2))
        assert await store.journal.get("over") is None
        assert await begin(store, "fits", 0.1, admit=limit(1.0, 0.1))
        record = await store.journal.get("fits")
        assert record is not None and record.reserved_per_hour == pytest.approx(0.1)
    finally:
        await store.close()


async def test_a_retried_request_does_not_count_its_own_earlier_reservation(
    db_path: Path,
) -> None:
    store = await Store.open(db_path)
    try:
        await begin(store, "r", 0.6)
        # pended again (it never reached the provider): 0.6 + 0.6 would pass 1.0
        await store.journal.retry(
            "r",
            provider="vast_ai",
            offer_id="vast_ai:2",
            reserve_per_hour=0.6,
            admit=limit(1.0, 0.6),
        )
        assert (await store.journal.committed()).per_hour == pytest.approx(0.6)
    finally:
        await store.close()


async def test_two_processes_never_both_take_the_last_of_the_budget(db_path: Path) -> None:
    """Two stores on one file are two processes: their reservations serialise on the
    database's write lock, each deciding on what the other committed."""
    first = await Store.open(db_path)
    second = await Store.open(db_path)
    try:
        results = await asyncio.gather(
            *(
                begin(store, f"req-{n}-{i}", 0.3, admit=limit(1.0, 0.3))
                for n in range(8)
                for i, store in enumerate((first, second))
            ),
            return_exceptions=True,
        )
        taken = [r for r in results if r is True]
        assert len(taken) == 3  # 3 x 0.3 fits in 1.0; a fourth would not
        assert all(isinstance(r, Refused) for r in results if r is not True)
        assert (await first.journal.committed()).per_hour == pytest.approx(0.9)
    finally:
        await first.close()
        await second.close()
