"""The offer index answers paged searches and counts exactly as SQL does, only while it
is of the current offers, and never at the cost of a wrong or lost answer."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import tempfile
from dataclasses import astuple
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, SearchQuery
from gpucm.store import offer_index
from gpucm.store.db import StoreError
from gpucm.store.store import Store
from tests.offer_factory import make_offer
from tests.store.test_search import MODEL_NAMES, REGIONS, SORTS

CATALOG = Catalog.builtin()
COLUMNS = ["rowid", "id", "price_per_hour", "value", "stale"]

# Fewer distinct values than the search property test, so ties (equal prices, equal
# sort keys) are common and their order is checked; regions in two cases, for NOCASE.
tied_offer = st.fixed_dictionaries(
    {
        "provider": st.sampled_from(["vast_ai", "runpod", "lambda_labs", "paperspace"]),
        "gpu_name": st.sampled_from([*MODEL_NAMES, "odd 1", "ODD 1"]),
        "gpu_count": st.sampled_from([1, 2, 8]),
        "price_per_hour": st.sampled_from([0.3, 0.5, 1.25, 2.0, 0.1 + 0.2]),
        "ram_gb": st.none() | st.sampled_from([16.0, 64.0]),
        "storage_gb": st.none() | st.sampled_from([50.0, 1000.0]),
        "reliability": st.none() | st.sampled_from([0.5, 0.95, 0.99]),
        "region": st.sampled_from([*REGIONS, "texas, us", "NORWAY"]),
        "gpu_memory_gb": st.none() | st.sampled_from([24.0, 80.0]),
        "cuda_version": st.none() | st.sampled_from([11.8, 12.8]),
        "availability": st.sampled_from(["high", "medium", "low", "none", "unknown"]),
        "spot_price_per_hour": st.none() | st.sampled_from([0.1, 0.2, 0.3]),
        # all-in $/h (a fits= search's price order) adds storage at this rate
        "storage_price_per_gb_month": st.none() | st.sampled_from([0.0, 0.1, 0.25, 1.0]),
    }
)


def _sometimes(values: list[Any], one_in: int = 8) -> st.SearchStrategy[Any]:
    # each filter in about one query in eight, so most pages hold several rows to order
    return st.sampled_from([*([None] * (one_in - 1) * len(values)), *values])


def _terms(values: list[str], one_in: int = 8) -> st.SearchStrategy[list[str]]:
    return _sometimes([[v] for v in values], one_in).map(lambda v: v or [])


paged_query = st.builds(
    SearchQuery,
    available=st.booleans(),
    gpu_models=_terms(["H100", "RTX 4090", "A100", "odd 1", "Odd 1"]),
    gpu_category=_sometimes(["consumer", "datacenter"]),
    providers=_terms(["vast_ai", "runpod", "paperspace"]),
    min_gpu_count=_sometimes([2, 8]),
    min_price=_sometimes([0.3]),
    max_price=_sometimes([1.25, 2.0]),
    min_ram=_sometimes([16.0, 64.0]),
    min_storage=_sometimes([100.0]),
    min_reliability=_sometimes([0.95]),
    min_performance=_sometimes([80.0]),
    min_gpu_memory=_sometimes([30.0]),
    min_cuda=_sometimes([12.0]),
    min_availability=_sometimes(["low", "medium", "high"]),
    # a total over two columns, and (bf16, fp8) a list of models the catalog allows
    fits=_sometimes(["13B@int4", "30B@int8", "20B@bf16", "8B@fp8,ctx=32k"]),
    # an offer's own id is its host when the provider names no machine
    bad_hosts=_sometimes([("vast_ai:0", "runpod:1", "vast_ai:2"), ("paperspace:3",)], 3).map(
        lambda v: v or ()
    ),
    hosts=st.sampled_from(["good", "good", "all"]),
    # regions have the most rules (groups, "US", raw terms in any case): more often
    regions=_terms(["US", "Europe", "texas, us", "Norway", "norway", "NO", "us-west-1"], 2),
    sort_by=st.sampled_from(SORTS),
    sort_order=st.sampled_from(["asc", "desc"]),
    limit=st.integers(1, 12),
    offset=st.sampled_from([0, 0, 0, 2, 7]),
)


def _offers(specs: list[dict[str, Any]]) -> list[Offer]:
    return [  # provider and gpu_name come from the spec
        make_offer(provider_id=str(i), catalog=CATALOG, **s) for i, s in enumerate(specs)
    ]


async def _fill(store: Store, offers: list[Offer]) -> None:
    for provider in sorted({o.provider for o in offers}):
        await store.replace_offers(provider, [o for o in offers if o.provider == provider])


async def _answers(store: Store, q: SearchQuery) -> tuple[Any, ...]:
    page = await store.search(q)
    untotalled = await store.search(q, with_total=False)
    rows = await store.search_rows(q, COLUMNS, limit=q.limit or 10, offset=q.offset)
    # on this thread, from the index: the same rows, or None where it cannot answer
    now = store.search_rows_now(q, COLUMNS, limit=q.limit or 10, offset=q.offset)
    assert now is None or now == rows
    ids = [o.id for o in page.offers]
    assert [o.id for o in untotalled.offers] == ids
    # the charts' reads (from the index too, so a running front end never scans)
    charts = await store.gpu_prices(q, limit=q.limit or 10), await store.provider_counts(q)
    return ids, page.total, rows, await store.count(q), charts


async def _model_prices(store: Store) -> list[tuple[Any, ...]]:
    """Every model's rows (the model detail's), each with its mean $/GPU-h last."""
    rows = []
    for model in ["odd 1", "ODD 1", "nothing", *MODEL_NAMES]:
        for prices in await store.model_offers(model):
            row = astuple(prices)
            rows.append((model, *row[:5], row[6], row[5]))
    return rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(tied_offer, min_size=1, max_size=60),
    queries=st.lists(paged_query, min_size=1, max_size=6),
    # a page walks its order a stretch at a time: short ones make these small
    # markets take several, as a large market's sparse filters do
    stretch=st.sampled_from([1, 3, 4096]),
    # and puts a sparse filter's matches in order by rank: every filter sparse (1),
    # as at 1M offers (16), or none (a billion)
    sparse=st.sampled_from([1, 16, 10**9]),
    # text columns with their distinct values packed (as the host key's are at 100k
    # offers) whenever they have no NULL, or never
    pack=st.sampled_from([0, 10**9]),
)
def test_index_answers_as_sql_does(
    specs: list[dict[str, Any]], queries: list[SearchQuery], stretch: int, sparse: int, pack: int
) -> None:
    offers = _offers(specs)

    async def check() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "i.db"
            sql = await Store.open(path, catalog=CATALOG)
            indexed = await Store.open(path, catalog=CATALOG, offer_index=True)
            try:
                await _fill(sql, offers)
                assert await indexed.wait_for_index()
                assert indexed.search_rows_now(SearchQuery(), COLUMNS, limit=1) is not None
                for q in queries:
                    assert await _answers(indexed, q) == await _answers(sql, q), q
                # the mean $/GPU-h is summed in another order: equal but for the last bits
                by_index, by_sql = await _model_prices(indexed), await _model_prices(sql)
                assert [r[:-1] for r in by_index] == [r[:-1] for r in by_sql]
                assert [r[-1] for r in by_index] == pytest.approx([r[-1] for r in by_sql])
            finally:
                await indexed.close()
                await sql.close()

    with (
        patch.object(offer_index, "_FIRST_STRETCH", stretch),
        patch.object(offer_index, "_SPARSE", sparse),
        patch.object(offer_index, "_PACK_OVER", pack),
    ):
        asyncio.run(check())


@pytest.fixture
async def pair(db_path: Path) -> Any:
    sql = await Store.open(db_path, catalog=CATALOG)
    indexed = await Store.open(db_path, catalog=CATALOG, offer_index=True)
    yield sql, indexed
    await indexed.close()
    await sql.close()


def _market(prices: list[float], provider: str = "vast_ai") -> list[Offer]:
    return [
        make_offer(provider, str(i), "RTX 4090", price_per_hour=p) for i, p in enumerate(prices)
    ]


CHEAPEST = SearchQuery(limit=2)


async def test_the_index_is_built_in_the_background_and_then_used(pair: Any) -> None:
    sql, indexed = pair
    await _fill(sql, _market([3.0, 1.0, 2.0]))
    assert indexed.index_generation is None
    # the first search is answered with SQL and starts a build
    first = await indexed.search(CHEAPEST)
    assert [o.price_per_hour for o in first.offers] == [1.0, 2.0]
    assert await indexed.wait_for_index()
    assert indexed.index_generation is not None
    again = await indexed.search(CHEAPEST)
    assert [o.id for o in again.offers] == [o.id for o in first.offers]


async def test_a_change_by_another_store_is_seen_at_once(pair: Any) -> None:
    # another process (a CLI refresh) writes: the next read must not come from the old
    # index, even before a new one is built
    sql, indexed = pair
    await _fill(sql, _market([3.0, 1.0, 2.0]))
    assert await indexed.wait_for_index()
    old = indexed.index_generation
    await sql.replace_offers("vast_ai", _market([9.0, 0.2]))
    page = await indexed.search(CHEAPEST)
    assert [o.price_per_hour for o in page.offers] == [0.2, 9.0]
    assert await indexed.count(SearchQuery()) == 2
    assert await indexed.wait_for_index()
    assert indexed.index_generation != old
    assert [o.price_per_hour for o in (await indexed.search(CHEAPEST)).offers] == [0.2, 9.0]


@pytest.mark.sqlite_only
async def test_a_page_now_only_from_an_index_of_the_current_offers(pair: Any) -> None:
    sql, indexed = pair
    columns = ["price_per_hour", "host_id"]
    await _fill(sql, _market([3.0, 1.0, 2.0]))
    assert indexed.search_rows_now(SearchQuery(), columns, limit=5) is None  # none built
    assert await indexed.wait_for_index()
    assert indexed.search_rows_now(SearchQuery(), columns, limit=2) == [
        (1.0, "vast_ai:1"),
        (2.0, "vast_ai:2"),
    ]
    # the bad hosts are hidden as search_rows hides them, read in the same transaction
    await sql.hosts.record("vast_ai:1", "vast_ai", "marked_bad", "test")
    hidden = SearchQuery()
    assert indexed.search_rows_now(hidden, columns, limit=5) == [
        (2.0, "vast_ai:2"),
        (3.0, "vast_ai:0"),
    ]
    assert indexed.search_rows_now(hidden, columns, limit=5) == await indexed.search_rows(
        hidden, columns, limit=5
    )
    everyone = SearchQuery(hosts="all")
    assert len(indexed.search_rows_now(everyone, columns, limit=5) or []) == 3
    # another store changes the offers: not the old index's answer, but none at once
    await sql.replace_offers("vast_ai", _market([9.0, 0.2]))
    assert indexed.search_rows_now(SearchQuery(), columns, limit=5) is None
    assert await indexed.search_rows(SearchQuery(hosts="all"), ["price_per_hour"], limit=5) == [
        (0.2,),
        (9.0,),
    ]
    with pytest.raises(StoreError):
        indexed.search_rows_now(SearchQuery(), ["password"], limit=5)


async def test_its_own_write_starts_the_next_build(pair: Any) -> None:
    _, indexed = pair
    await indexed.replace_offers("vast_ai", _market([2.0, 1.0]))
    assert indexed.index.task is not None  # started by the write, not by a search
    assert await indexed.wait_for_index()
    assert await indexed.search_rows(SearchQuery(), ["price_per_hour"], limit=5) == [
        (1.0,),
        (2.0,),
    ]


@pytest.mark.sqlite_only
async def test_a_value_it_cannot_hold_leaves_searches_on_sql(
    pair: Any, db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sql, indexed = pair
    await _fill(sql, _market([3.0, 1.0]))
    # a number stored as text (SQLite allows it): the index cannot hold it, SQL can
    raw = sqlite3.connect(db_path)
    with raw:
        raw.execute("UPDATE offers SET ram_gb = 'lots' WHERE provider_id = '0'")
        raw.execute("UPDATE meta SET value = value + 1 WHERE key = 'offers_generation'")
    raw.close()
    with caplog.at_level(logging.WARNING, logger="gpucm.store.store"):
        assert not await indexed.wait_for_index()
    assert "offer index not built, searching with SQL" in caplog.text
    rows = await indexed.search_rows(SearchQuery(), ["price_per_hour", "ram_gb"], limit=5)
    assert rows == [(1.0, None), (3.0, "lots")]
    assert await indexed.count(SearchQuery()) == 2
    # not retried for the same offers; a refresh gets a new try
    assert not await indexed.wait_for_index()
    await indexed.replace_offers("vast_ai", _market([5.0]))
    assert await indexed.wait_for_index()


async def test_closing_during_a_build_is_quick_and_quiet(db_path: Path) -> None:
    offers = [
        make_offer("vast_ai", str(i), "RTX 4090", price_per_hour=1 + i % 7) for i in range(3000)
    ]
    store = await Store.open(db_path, catalog=CATALOG, offer_index=True)
    await store.replace_offers("vast_ai", offers)  # starts a build
    task = store.index.task
    assert task is not None and not task.done()
    await store.close()
    assert task.done()
    assert store.index_generation in (None, 1)


async def test_a_one_shot_store_never_builds_one(db_path: Path) -> None:
    store = await Store.open(db_path, catalog=CATALOG)
    try:
        await store.replace_offers("vast_ai", _market([1.0]))
        await store.search(CHEAPEST)
        assert store.index.task is None
        assert not await store.wait_for_index()
    finally:
        await store.close()


async def test_a_fits_search_ranks_by_all_in_price_in_sql_and_in_the_index(pair: Any) -> None:
    sql, indexed = pair
    # 70B@bf16: 168 GB of VRAM, and a 190 GB disk priced in (140 GB of weights + 50)
    dear_disk = make_offer(
        "runpod",
        "dear",
        "H100",
        gpu_count=4,
        price_per_hour=2.00,
        storage_price_per_gb_month=1.0,  # 190 GB x $1 / 730 h = +$0.26/h
    )
    no_disk_bill = make_offer("lambda_labs", "flat", "H100", gpu_count=4, price_per_hour=2.10)
    small = make_offer("runpod", "small", "H100", gpu_count=1, price_per_hour=0.5)  # 80 GB
    await _fill(sql, [dear_disk, no_disk_bill, small])
    assert await indexed.wait_for_index()
    fits = SearchQuery(fits="70B@bf16", limit=10)  # a limit: the index answers pages
    for store in (sql, indexed):
        assert [o.id for o in (await store.search(fits)).offers] == [no_disk_bill.id, dear_disk.id]
        down = fits.model_copy(update={"sort_order": "desc"})
        assert [o.id for o in (await store.search(down)).offers] == [dear_disk.id, no_disk_bill.id]
        # without fits= the price order is the plain $/h
        plain = SearchQuery(gpu_models=["H100"], min_gpu_count=4, limit=10)
        assert [o.id for o in (await store.search(plain)).offers] == [dear_disk.id, no_disk_bill.id]
        # storage>= sets the disk: at 10 GB the storage adds $0.014/h, and $2.00 wins
        small_disk = fits.model_copy(update={"min_storage": 10.0})
        assert (await store.search(small_disk)).offers[0].id == dear_disk.id


def _mapped_kib(path: Path) -> int:
    """This process's resident pages of `path` mapped into memory."""
    resident, current = 0, ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            current = fields[-1] if len(fields) > 5 else ""
        elif fields[:1] == ["Rss:"] and current == str(path):
            resident += int(fields[1])
    return resident


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
async def test_pages_scanned_before_the_index_do_not_stay_mapped(tmp_path: Path) -> None:
    path = tmp_path / "mapped.db"
    filler = await Store.open(path, catalog=CATALOG)
    await _fill(filler, _market([0.1 + i / 1000 for i in range(6000)]))
    await filler.close()
    store = await Store.open(path, catalog=CATALOG, offer_index=True)
    try:
        # with no index yet: SQL scans every row, through the connection's memory map
        assert await store.count(SearchQuery(max_price=100.0)) == 6000
        scanned = _mapped_kib(path)
        assert scanned > 1024
        assert await store.wait_for_index()
        assert _mapped_kib(path) < scanned / 8
        # and the index answers what the scan did
        assert await store.count(SearchQuery(max_price=100.0)) == 6000
        assert _mapped_kib(path) < scanned / 8
        # a refresh reads its provider's rows on the writer: let go of once indexed
        await _fill(store, _market([0.2 + i / 1000 for i in range(6000)]))
        assert await store.wait_for_index()
        assert _mapped_kib(path) < scanned / 8
    finally:
        await store.close()


async def test_the_host_keys_are_held_packed_not_as_objects(pair: Any) -> None:
    sql, indexed = pair
    offers = _market([1.0 + i / 100 for i in range(3000)])  # each its own host
    await _fill(sql, offers)
    assert await indexed.wait_for_index()
    index = indexed.index.current(indexed.index_generation)
    hosts = index.texts["host_id"]
    assert isinstance(hosts.values, offer_index._Packed)
    # the keys' UTF-8 and an offset each (a list of str objects was ~75 bytes a key)
    assert hosts.values.nbytes <= sum(len(o.host_id) + 4 for o in offers)
    assert list(hosts.values) == sorted(o.host_id for o in offers)
    assert [hosts.values.find(o.host_id) for o in offers[:3]] == [
        sorted(o.host_id for o in offers).index(o.host_id) for o in offers[:3]
    ]
    assert hosts.values.find("vast_ai:nowhere") is None
    bad = SearchQuery(bad_hosts=(offers[0].host_id, offers[5].host_id, "x"), limit=4)
    assert await _answers(indexed, bad) == await _answers(sql, bad)
    assert offers[0].id not in (await _answers(indexed, bad))[0]


def test_rows_out_of_the_order_they_are_said_to_come_in_are_refused() -> None:
    def row(rowid: int, host: str) -> tuple[object, ...]:
        numbers = [1.0] * len(offer_index._NUMBERS)
        texts = ["RTX 4090", "consumer", "vast_ai", "na", "Texas, US", "US", "high"]
        return (rowid, 1, *numbers, *texts, host)

    rows = [row(1, "vast_ai:b"), row(2, "vast_ai:a")]
    with pytest.raises(ValueError, match="order"):
        offer_index.OfferIndex.from_chunks(2, [rows], 1, ascending="host_id")
    index = offer_index.OfferIndex.from_chunks(2, [rows[::-1]], 1, ascending="host_id")
    assert list(index.texts["host_id"].values) == ["vast_ai:a", "vast_ai:b"]
    # a source in no particular order (PostgreSQL's) is coded through a dict instead
    index = offer_index.OfferIndex.from_chunks(2, [rows], 1)
    assert sorted(index.texts["host_id"].values) == ["vast_ai:a", "vast_ai:b"]
