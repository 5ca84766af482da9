"""An offer written by a refresh reads back with every field as it was written, on
both backends, whether the refresh's time is written into the INSERT as a literal or
bound (store/rows.py `insert_sql`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gpucm.domain.clock import from_epoch
from gpucm.domain.models import Offer, SearchQuery
from gpucm.store.store import Store
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

# SQLite reads this time's repr back 1 ulp off, so a refresh at it binds its time
INEXACT_IN_SQL = from_epoch(1768059627.036394)


def _every_field_set(provider_id: str, when: datetime, **fields: object) -> Offer:
    """An offer with every field the store keeps set, none at its default."""
    values: dict[str, object] = dict(
        gpu_count=8,
        gpu_memory_gb=80.0,
        price_per_hour=23.92,
        spot_price_per_hour=11.5,
        min_bid_per_gpu_hour=1.25,
        storage_price_per_gb_month=0.1,
        vcpus=208.0,
        ram_gb=1800.0,
        storage_gb=20000.5,
        region="Québec, CA",
        country="CA",
        reliability=0.9931,
        cuda_version=12.8,
        verified=True,
        availability="low",
        provider_data={"ask_id": 12345, "nested": {"k": [1, "x", None, 2.5]}, "t": '✓ "q"'},
        host_id=f"vast_ai:machine-{provider_id}",
    )
    values |= fields
    return make_offer(
        provider_id=provider_id,
        gpu_name="H100 SXM",
        fetched_at=when,
        download=912.5,
        upload=87.25,
        **values,
    )


def _varied(when: datetime) -> list[Offer]:
    return [
        _every_field_set("full", when),
        _every_field_set("unverified", when, verified=None, availability="none"),
        _every_field_set("rejected", when, verified=False, provider_data={}),
        make_offer(provider_id="sparse", fetched_at=when),  # every optional field None
        make_offer(provider_id="perfless", gpu_name="Mystery GPU", fetched_at=when),
    ]


def _as_stored(offer: Offer, *, first_seen: datetime, previous: float | None) -> dict[str, object]:
    # what the store sets: first sighting and previous price; the catalog's spec
    expected = offer.model_dump(exclude={"gpu_info"})
    expected |= {"first_seen_at": first_seen, "previous_price_per_hour": previous}
    return expected


async def _read(store: Store) -> dict[str, dict[str, object]]:
    page = await store.search(SearchQuery(available=False))
    return {o.id: o.model_dump(exclude={"gpu_info"}) for o in page.offers}


@pytest.mark.parametrize("t0", [FIXED_NOW, INEXACT_IN_SQL], ids=["literal_time", "bound_time"])
async def test_every_offer_field_reads_back_as_written(db_path: Path, t0: datetime) -> None:
    t1 = t0 + timedelta(minutes=1)
    first = _varied(t0)
    # the second refresh: one price moved, one offer gone, one new
    moved = first[0].model_copy(update={"price_per_hour": 21.5, "fetched_at": t1})
    second = [
        moved,
        *(o.model_copy(update={"fetched_at": t1}) for o in first[1:4]),
        _every_field_set("new", t1, verified=False),
    ]
    store = await Store.open(db_path)
    try:
        await store.replace_offers("vast_ai", first, fetched_at=t0)
        after_first = await _read(store)
        await store.replace_offers("vast_ai", second, fetched_at=t1)
        after_second = await _read(store)
    finally:
        await store.close()
    assert after_first == {o.id: _as_stored(o, first_seen=t0, previous=None) for o in first}
    expected = {o.id: _as_stored(o, first_seen=t0, previous=o.price_per_hour) for o in first}
    expected[moved.id] = _as_stored(moved, first_seen=t0, previous=23.92)
    for o in second[1:4]:
        expected[o.id] = _as_stored(o, first_seen=t0, previous=o.price_per_hour)
    expected[second[4].id] = _as_stored(second[4], first_seen=t1, previous=None)
    del expected[first[4].id]
    assert after_second == expected


@pytest.mark.sqlite_only
def test_the_bound_time_case_is_real() -> None:
    """The other case above only tests something while SQLite misreads this time."""
    value = INEXACT_IN_SQL.timestamp()
    with sqlite3.connect(":memory:") as conn:
        assert conn.execute(f"SELECT {value!r} = ?", (value,)).fetchone() == (0,)
    assert from_epoch(value) == datetime.fromtimestamp(value, UTC)
