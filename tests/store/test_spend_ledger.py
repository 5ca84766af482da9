"""The spend ledger (store/spend_ledger.py) on both backends: billed intervals that
follow the instance rows, outlive the machine and gpucm's restarts, split at a rate
change and at stop/start, and settle an estimate from the provider's billed rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gpucm.domain.models import Instance
from gpucm.engine.spend import by_instance, summarize
from gpucm.store.results import SpendInterval
from gpucm.store.store import Store

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, hours: float) -> None:
        self.now = T0 + timedelta(hours=hours)


def machine(status: str = "running", price: float = 1.0, **kw: Any) -> Instance:
    return Instance.model_validate(
        {
            "id": "runpod:p1",
            "provider": "runpod",
            "provider_id": "p1",
            "name": "train",
            "gpu_model": "H100",
            "gpu_count": 2,
            "status": status,
            "price_per_hour": price,
            "rate_reported": True,
            "started_at": T0 if status == "running" else None,
            **kw,
        }
    )


def hours(interval: SpendInterval) -> tuple[float, float | None]:
    end = interval.ended_at
    return (
        (interval.started_at - T0).total_seconds() / 3600,
        None if end is None else (end - T0).total_seconds() / 3600,
    )


@pytest.fixture
async def ledger_store(db_path: Path | str) -> Any:
    clock = Clock()
    store = await Store.open(db_path, clock=clock)
    yield store, clock
    await store.close()


async def test_a_terminated_machines_spend_stays_through_pruning_and_restarts(
    db_path: Path | str,
) -> None:
    clock = Clock()
    store = await Store.open(db_path, clock=clock)
    try:
        clock.at(0.5)  # first seen half an hour in: counted from its start
        await store.instances.replace_provider("runpod", [machine(price=2.0)])
        clock.at(3)  # gone from the provider's list: terminated
        await store.instances.replace_provider("runpod", [])
        clock.at(24 * 9)  # a week later the instance row is pruned
        await store.instances.replace_provider("runpod", [])
        assert await store.instances.list(include_terminated=True) == []
    finally:
        await store.close()
    store = await Store.open(db_path, clock=clock)  # gpucm started again
    try:
        intervals = await store.spend.intervals()
        assert [hours(i) for i in intervals] == [(0.0, 3.0)]
        spent = by_instance(intervals, clock())
        assert spent["runpod:p1"].usd == pytest.approx(6.0)
        assert not spent["runpod:p1"].estimated
        assert intervals[0].name == "train" and intervals[0].gpu == "2x H100"
    finally:
        await store.close()


async def test_a_rate_change_and_a_stop_start_split_the_intervals(ledger_store: Any) -> None:
    store, clock = ledger_store
    await store.instances.replace_provider("runpod", [machine(price=1.0)])
    clock.at(1)
    await store.instances.replace_provider("runpod", [machine(price=1.5)])  # repriced
    clock.at(2)
    stopped = machine("stopped", price=0.0, stopped_per_hour=0.01)
    await store.instances.replace_provider("runpod", [stopped])
    clock.at(5)  # started again at 4:00 by the provider's clock, seen at 5:00
    again = machine(price=1.5, started_at=T0 + timedelta(hours=4))
    await store.instances.replace_provider("runpod", [again])
    clock.at(6)
    await store.instances.replace_provider("runpod", [again])  # nothing changed
    intervals = await store.spend.intervals()
    assert [(i.kind, i.rate, *hours(i)) for i in intervals] == [
        ("compute", 1.0, 0.0, 1.0),
        ("compute", 1.5, 1.0, 2.0),
        ("storage", 0.01, 2.0, 4.0),
        ("compute", 1.5, 4.0, None),
    ]
    spent = by_instance(intervals, clock())
    assert spent["runpod:p1"].usd == pytest.approx(1.0 + 1.5 + 0.02 + 3.0)
    # a stopped machine whose provider bills nothing while stopped opens nothing
    clock.at(7)
    await store.instances.replace_provider("runpod", [machine("stopped", price=0.0)])
    clock.at(9)
    intervals = await store.spend.intervals()
    assert hours(intervals[-1]) == (4.0, 7.0)
    assert summarize(intervals, clock()).per_hour == 0.0


async def test_the_providers_billed_rate_settles_an_estimate(ledger_store: Any) -> None:
    store, clock = ledger_store
    # recorded at launch from the offer's price: gpucm's estimate
    await store.instances.upsert(machine(price=0.50, rate_reported=False))
    clock.at(2)
    summary = summarize(await store.spend.intervals(), clock())
    assert summary.today.usd == pytest.approx(1.0) and summary.today.estimated
    # the sync brings the rate the provider bills: it replaces the estimate from the start
    await store.instances.replace_provider("runpod", [machine(price=0.55)])
    intervals = await store.spend.intervals()
    assert [(i.rate, i.reported, *hours(i)) for i in intervals] == [(0.55, True, 0.0, None)]
    summary = summarize(intervals, clock())
    assert summary.today.usd == pytest.approx(1.1) and not summary.today.estimated


async def test_the_monthly_budget_reads_this_months_spend_in_the_reservation(
    ledger_store: Any,
) -> None:
    store, clock = ledger_store
    # ran 2 h in February at $1/h, then 10 h in March before it was terminated
    start = datetime(2026, 2, 28, 22, 0, tzinfo=UTC)
    clock.now = start + timedelta(minutes=1)
    await store.instances.replace_provider("runpod", [machine(started_at=start)])
    clock.now = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    await store.instances.replace_provider("runpod", [])
    clock.now = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
    committed = await store.journal.committed()
    assert committed.month_spent == pytest.approx(10.0)
    seen: list[float] = []
    await store.journal.begin(
        request_id="r1",
        provider="runpod",
        offer_id="runpod:x",
        label="x",
        request={},
        reserve_per_hour=1.0,
        admit=lambda c: seen.append(c.month_spent),
    )
    assert seen == [pytest.approx(10.0)]


async def test_two_stores_on_one_database_share_one_ledger(db_path: Path | str) -> None:
    """A team's processes (or two on one file) read and write one ledger: what one
    records, the other's header and `gpucm spend` count."""
    clock = Clock()
    alice = await Store.open(db_path, clock=clock)
    bob = await Store.open(db_path, clock=clock)
    try:
        await alice.instances.upsert(machine(price=2.0, launched_by="alice@box-1"))
        await bob.instances.upsert(
            machine(price=1.0, id="vast_ai:9", provider="vast_ai", provider_id="9")
        )
        clock.at(1)
        for store in (alice, bob):
            summary = summarize(await store.spend.intervals(), clock())
            assert summary.per_hour == 3.0 and summary.today.usd == pytest.approx(3.0)
        (mine,) = [i for i in await bob.spend.intervals() if i.provider == "runpod"]
        assert mine.launched_by == "alice@box-1"
    finally:
        await alice.close()
        await bob.close()
