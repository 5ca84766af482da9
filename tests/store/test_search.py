"""Every filter and sort of the store's search, and a property test that the SQL search
equals a naive Python filter over the same offers."""

from __future__ import annotations

import asyncio
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpucm.domain.catalog import Catalog
from gpucm.domain.models import Offer, SearchQuery
from gpucm.domain.pricing import all_in
from gpucm.domain.regions import US_GROUPS, expand_region_terms
from gpucm.domain.workload_fit import parse_workload, workload_need
from gpucm.store.search_sql import SORT_COLUMNS
from gpucm.store.store import Store
from tests.offer_factory import make_offer

CATALOG = Catalog.builtin()


def _offers() -> list[Offer]:
    return [
        make_offer(
            "vast_ai",
            "1",
            "RTX 4090",
            price_per_hour=0.45,
            ram_gb=64,
            storage_gb=200,
            reliability=0.99,
            region="Texas, US",
            gpu_memory_gb=24,
            cuda_version=12.8,
        ),
        make_offer(
            "vast_ai",
            "2",
            "RTX 4090",
            price_per_hour=1.60,
            gpu_count=4,
            ram_gb=256,
            storage_gb=1000,
            reliability=0.91,
            region="Bavaria, DE",
            cuda_version=12.2,
        ),
        make_offer(
            "vast_ai",
            "3",
            "H100 SXM",
            price_per_hour=2.40,
            ram_gb=128,
            storage_gb=500,
            reliability=0.97,
            region="Quebec, CA",
            cuda_version=12.4,
        ),
        make_offer("runpod", "4", "H100 PCIe", price_per_hour=2.10, ram_gb=100, region="EU-RO-1"),
        make_offer(
            "runpod",
            "5",
            "RTX 4090",
            price_per_hour=0.69,
            available=False,
            ram_gb=41,
            region="US-KS-2",
        ),
        make_offer(
            "lambda_labs",
            "6",
            "A100 (80 GB SXM4)",
            price_per_hour=14.32,
            gpu_count=8,
            ram_gb=1800,
            storage_gb=19968,
            region="us-west-1",
        ),
        make_offer(
            "lambda_labs",
            "7",
            "A10 (24 GB PCIe)",
            price_per_hour=0.75,
            ram_gb=200,
            storage_gb=1400,
            region="us-east-1",
        ),
        make_offer(
            "paperspace", "8", "A4000", price_per_hour=0.76, ram_gb=45, region="Europe (AMS1)"
        ),
    ]


@pytest.fixture
async def store(db_path: Path) -> Any:
    s = await Store.open(db_path, catalog=CATALOG)
    by_provider: dict[str, list[Offer]] = {}
    for o in _offers():
        by_provider.setdefault(o.provider, []).append(o)
    for provider, offers in by_provider.items():
        await s.replace_offers(provider, offers)
    yield s
    await s.close()


async def ids(store: Store, **query: Any) -> list[str]:
    page = await store.search(SearchQuery(**query))
    return [o.provider_id for o in page.offers]


async def test_default_is_available_cheapest_first(store: Store) -> None:
    assert await ids(store) == ["1", "7", "8", "2", "4", "3", "6"]
    assert "5" in await ids(store, available=False)


async def test_family_matches_variants_and_variant_only_itself(store: Store) -> None:
    assert await ids(store, gpu_model="H100") == ["4", "3"]
    assert await ids(store, gpu_model="H100 PCIe") == ["4"]
    assert await ids(store, gpu_models=["h100 sxm", "A10"]) == ["7", "3"]
    assert await ids(store, gpu_model="A100") == ["6"]
    assert await ids(store, gpu_model="Mystery 9000") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"gpu_category": "datacenter"}, ["7", "4", "3", "6"]),
        ({"gpu_category": "professional"}, ["8"]),
        ({"min_gpu_count": 4}, ["2", "6"]),
        ({"min_price": 1.0, "max_price": 2.4}, ["2", "4", "3"]),
        ({"max_price": 0.75}, ["1", "7"]),
        ({"min_ram": 128}, ["7", "2", "3", "6"]),
        ({"min_storage": 600}, ["7", "8", "2", "4", "6"]),  # NULL storage = set at launch
        ({"min_reliability": 0.95}, ["1", "3"]),
        ({"min_performance": 140}, ["3"]),
        ({"providers": ["runpod", "paperspace"]}, ["8", "4"]),
        ({"min_gpu_memory": 40}, ["4", "3", "6"]),
        ({"min_cuda": 12.5}, ["1", "7", "8", "4", "6"]),  # NULL CUDA passes
        ({"regions": ["Europe"]}, ["8", "2", "4"]),
        ({"regions": ["US"]}, ["1", "7", "6"]),
        ({"regions": ["US-West", "Canada"]}, ["3", "6"]),
        ({"regions": ["DE"]}, ["2"]),
        ({"regions": ["eu-ro-1"]}, ["4"]),
    ],
)
async def test_each_filter(store: Store, query: dict[str, Any], expected: list[str]) -> None:
    assert await ids(store, **query) == expected


@pytest.mark.parametrize(
    ("sort_by", "order", "expected"),
    [
        ("price", "desc", ["6", "3", "4", "2", "8", "7", "1"]),
        ("gpu_count", "desc", ["6", "2", "1", "7", "8", "4", "3"]),
        ("ram", "asc", ["8", "1", "4", "3", "7", "2", "6"]),
        ("reliability", "desc", ["1", "3", "2", "7", "8", "4", "6"]),  # NULLs last
        ("reliability", "asc", ["2", "3", "1", "7", "8", "4", "6"]),
    ],
)
async def test_each_sort(store: Store, sort_by: str, order: str, expected: list[str]) -> None:
    assert await ids(store, sort_by=sort_by, sort_order=order) == expected


async def test_value_and_performance_sorts(store: Store) -> None:
    page = await store.search(SearchQuery(sort_by="value"))
    values = [o.value for o in page.offers]
    assert values == sorted(values)  # type: ignore[type-var]
    perf = [
        o.performance
        for o in (await store.search(SearchQuery(sort_by="performance", sort_order="desc"))).offers
    ]
    assert perf == sorted(perf, reverse=True)  # type: ignore[type-var]


async def test_limit_offset_and_total(store: Store) -> None:
    page = await store.search(SearchQuery(limit=2, offset=1))
    assert [o.provider_id for o in page.offers] == ["7", "8"]
    assert page.total == 7
    assert await store.count(SearchQuery(gpu_model="RTX 4090")) == 2


async def test_offer_carries_catalog_info(store: Store) -> None:
    (offer,) = (await store.search(SearchQuery(gpu_model="H100 SXM"))).offers
    assert offer.gpu_info is not None
    assert offer.gpu_info.name == "H100"
    assert offer.gpu_info.performance_score == 150
    assert offer.value == pytest.approx(2.40 / 150)


# -- property: SQL equals a naive Python filter ----------------------------------------

MODEL_NAMES = ["RTX 4090", "RTX 3090", "H100 SXM", "H100 PCIe", "A100 SXM4", "L40S", "Odd 1"]
REGIONS = [
    "Texas, US",
    "Bavaria, DE",
    "Quebec, CA",
    "us-west-1",
    "EU-RO-1",
    "Norway",
    "",
    ", US",
    "US",
]
SORTS = list(SORT_COLUMNS)
# stock levels from none to high; unknown is below every minimum (an oracle of its own,
# not levels_at_least, which the store uses)
LEVELS = ["unknown", "none", "low", "medium", "high"]


def _fits(offer: Offer, fits: str) -> bool:
    need = workload_need(parse_workload(fits))
    model = CATALOG.get(offer.gpu_model)
    hardware = need.min_compute_capability is None or (model is not None and need.supports(model))
    return hardware and need.fits(offer.gpu_memory_gb, offer.gpu_count)


def naive(offers: list[Offer], q: SearchQuery, rowids: dict[str, int]) -> list[str]:
    models: set[str] = set()
    for term in q.gpu_models:
        models.update(n.lower() for n in CATALOG.expand(term))
    groups, raw = expand_region_terms(q.regions)
    raw_l = {r.lower() for r in raw}

    def keep(o: Offer) -> bool:
        checks = [
            not q.available or o.available,
            not models or o.gpu_model.lower() in models,
            q.gpu_category is None or o.gpu_category == q.gpu_category,
            not q.providers or o.provider in q.providers,
            q.min_gpu_count is None or o.gpu_count >= q.min_gpu_count,
            q.min_price is None or o.price_per_hour >= q.min_price,
            q.max_price is None or o.price_per_hour <= q.max_price,
            q.min_ram is None or (o.ram_gb is not None and o.ram_gb >= q.min_ram),
            q.min_storage is None or o.storage_gb is None or o.storage_gb >= q.min_storage,
            q.min_reliability is None
            or (o.reliability is not None and o.reliability >= q.min_reliability),
            q.min_performance is None
            or (o.performance is not None and o.performance >= q.min_performance),
            q.min_gpu_memory is None
            or (o.gpu_memory_gb is not None and o.gpu_memory_gb >= q.min_gpu_memory),
            q.min_cuda is None or o.cuda_version is None or o.cuda_version >= q.min_cuda,
            q.min_availability is None
            or LEVELS.index(o.availability) >= LEVELS.index(q.min_availability),
            q.fits is None or _fits(o, q.fits),
            q.hosts == "all" or o.host_id not in q.bad_hosts,
            not q.regions
            or (o.region_group in groups)
            or (set(US_GROUPS) <= set(groups) and o.country == "US")
            or o.region.lower() in raw_l
            or (o.country or "").lower() in raw_l,
        ]
        return all(checks)

    attr = SORT_COLUMNS[q.sort_by]  # each column is the Offer attribute of that name
    desc = q.sort_order == "desc"
    # a fits= search's price order is all-in $/h, for the weights on disk plus 50 GB
    # (or what storage>= asks for)
    disk = None
    if q.fits is not None and q.sort_by == "price":
        weights = workload_need(parse_workload(q.fits)).weights_gb
        disk = q.min_storage or math.ceil(weights) + 50.0

    def key(o: Offer) -> tuple[Any, ...]:
        # the store's documented order: NULLs last, then ties on price, then rowid
        v = getattr(o, attr)
        rid = rowids[o.id]
        if disk is not None:
            total = all_in(o, disk).per_hour
            return (-total, -rid) if desc else (total, rid)
        if attr == "price_per_hour":
            return (-v, -rid) if desc else (v, rid)
        missing = v is None
        return (missing, 0 if missing else (-v if desc else v), o.price_per_hour, rid)

    chosen = sorted((o for o in offers if keep(o)), key=key)
    return [o.id for o in chosen]


offer_strategy = st.builds(
    dict,
    provider=st.sampled_from(["vast_ai", "runpod", "lambda_labs", "paperspace"]),
    gpu_name=st.sampled_from(MODEL_NAMES),
    gpu_count=st.sampled_from([1, 2, 4, 8]),
    price=st.floats(0.01, 40, allow_nan=False).map(lambda x: round(x, 3)),
    ram=st.none() | st.sampled_from([16.0, 32.0, 64.0, 128.0]),
    storage=st.none() | st.sampled_from([50.0, 200.0, 1000.0]),
    reliability=st.none() | st.floats(0, 1).map(lambda x: round(x, 3)),
    region=st.sampled_from(REGIONS),
    memory=st.none() | st.sampled_from([24.0, 40.0, 80.0]),
    cuda=st.none() | st.sampled_from([11.8, 12.2, 12.8]),
    availability=st.sampled_from(["high", "medium", "low", "none", "unknown"]),
    spot=st.none() | st.floats(0.01, 20, allow_nan=False).map(lambda x: round(x, 3)),
    storage_price=st.none() | st.sampled_from([0.0, 0.05, 0.1, 0.3, 2.0]),
)

query_strategy = st.builds(
    SearchQuery,
    available=st.booleans(),
    gpu_models=st.lists(
        st.sampled_from(["H100", "RTX 4090", "A100", "H100 PCIe", "odd 1"]), max_size=2
    ),
    gpu_category=st.none() | st.sampled_from(["consumer", "datacenter", "unknown"]),
    min_gpu_count=st.none() | st.sampled_from([1, 2, 4]),
    min_price=st.none() | st.sampled_from([0.5, 1.0]),
    max_price=st.none() | st.sampled_from([2.0, 10.0]),
    min_ram=st.none() | st.sampled_from([32.0, 100.0]),
    min_storage=st.none() | st.sampled_from([100.0, 500.0]),
    regions=st.lists(
        st.sampled_from(["Europe", "US", "US-West", "Canada", "NO", "DE"]), max_size=2
    ),
    min_reliability=st.none() | st.sampled_from([0.5, 0.95]),
    min_performance=st.none() | st.sampled_from([50.0, 120.0]),
    providers=st.lists(st.sampled_from(["vast_ai", "runpod", "lambda_labs"]), max_size=2),
    min_gpu_memory=st.none() | st.sampled_from([30.0]),
    min_cuda=st.none() | st.sampled_from([12.0, 12.5]),
    min_availability=st.none() | st.sampled_from(["low", "medium", "high"]),
    fits=st.none() | st.sampled_from(["13B@int4", "30B@int8", "20B@bf16", "8B@fp8,ctx=32k"]),
    bad_hosts=st.lists(st.sampled_from(["vast_ai:0", "runpod:1", "vast_ai:2"]), max_size=2),
    hosts=st.sampled_from(["good", "all"]),
    sort_by=st.sampled_from(SORTS),
    sort_order=st.sampled_from(["asc", "desc"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(offer_strategy, max_size=30),
    queries=st.lists(query_strategy, min_size=1, max_size=5),
)
def test_sql_search_equals_naive_filter(
    specs: list[dict[str, Any]], queries: list[SearchQuery]
) -> None:
    offers = [
        make_offer(
            s["provider"],
            str(i),
            s["gpu_name"],
            catalog=CATALOG,
            gpu_count=s["gpu_count"],
            price_per_hour=s["price"],
            ram_gb=s["ram"],
            storage_gb=s["storage"],
            reliability=s["reliability"],
            region=s["region"],
            gpu_memory_gb=s["memory"],
            cuda_version=s["cuda"],
            availability=s["availability"],
            spot_price_per_hour=s["spot"],
            storage_price_per_gb_month=s["storage_price"],
        )
        for i, s in enumerate(specs)
    ]

    async def check() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = await Store.open(Path(tmp) / "p.db", catalog=CATALOG)
            try:
                for provider in {o.provider for o in offers}:
                    await store.replace_offers(
                        provider, [o for o in offers if o.provider == provider]
                    )
                rowids = await store_rowids(store)
                for q in queries:
                    got = [o.id for o in (await store.search(q)).offers]
                    assert got == naive(offers, q, rowids), q
                    assert await store.count(q) == len(got)
            finally:
                await store.close()

    asyncio.run(check())


async def store_rowids(store: Store) -> dict[str, int]:
    rows = await store.search_rows(SearchQuery(available=False), ["id", "rowid"], limit=10**6)
    return {r[0]: r[1] for r in rows}


def test_naive_reference_is_not_trivial() -> None:
    # guard the oracle itself: with real data it must keep some offers and drop others
    offers = _offers()
    kept = naive(offers, SearchQuery(max_price=1.0), {o.id: i for i, o in enumerate(offers)})
    assert 0 < len(kept) < len(offers)
    assert not math.isnan(offers[0].price_per_hour)


async def test_a_minimum_stock_level_hides_unknown_and_lower_levels(db_path: Path) -> None:
    levels = {"1": "high", "2": "medium", "3": "low", "4": "none", "5": "unknown"}
    offers = [
        make_offer("runpod", pid, "RTX 4090", price_per_hour=float(pid), availability=level)
        for pid, level in levels.items()
    ]
    store = await Store.open(db_path, catalog=CATALOG)
    try:
        await store.replace_offers("runpod", offers)
        assert await ids(store) == ["1", "2", "3", "5"]  # `none` is unavailable
        assert await ids(store, min_availability="low") == ["1", "2", "3"]
        assert await ids(store, min_availability="medium") == ["1", "2"]
        assert await ids(store, min_availability="high") == ["1"]
        assert await ids(store, available=False, min_availability="low") == ["1", "2", "3"]
        page = await store.search(SearchQuery(available=False))
        assert {o.provider_id: o.availability for o in page.offers} == levels
        assert {o.provider_id: o.available for o in page.offers}["4"] is False
    finally:
        await store.close()


async def test_sort_by_spot_puts_offers_without_a_spot_price_last(db_path: Path) -> None:
    spots = {"1": 0.5, "2": None, "3": 0.2, "4": 0.9}
    offers = [
        make_offer(
            "vast_ai",
            pid,
            "RTX 4090",
            price_per_hour=1.0 + int(pid),
            spot_price_per_hour=spot,
            min_bid_per_gpu_hour=spot,
        )
        for pid, spot in spots.items()
    ]
    store = await Store.open(db_path, catalog=CATALOG)
    try:
        await store.replace_offers("vast_ai", offers)
        assert await ids(store, sort_by="spot") == ["3", "1", "4", "2"]
        assert await ids(store, sort_by="spot", sort_order="desc") == ["4", "1", "3", "2"]
        (cheapest, *_) = (await store.search(SearchQuery(sort_by="spot"))).offers
        assert (cheapest.spot_price_per_hour, cheapest.min_bid_per_gpu_hour) == (0.2, 0.2)
    finally:
        await store.close()


# -- long value lists ------------------------------------------------------------------


@pytest.mark.parametrize("n", [600, 1200, 40_000])
async def test_long_value_lists_answer_as_short_ones_do(store: Store, n: int) -> None:
    """SQLite nests each OR a level deeper (1,000 at most) and binds 32,766 parameters
    at most: 600 regions or 1,200 models failed with "Expression tree is too large"."""
    filler = [f"nowhere-{i}" for i in range(n)]
    regions = [*filler, "de", "EU-RO-1"]  # a country code and a provider's region
    assert await ids(store, regions=regions) == ["2", "4"]
    assert await store.count(SearchQuery(regions=[*filler, "Europe"])) == 3
    models = [*(f"Mystery {i}" for i in range(n)), "h100 pcie", "A10"]
    assert await ids(store, gpu_models=models) == ["7", "4"]
    stats = await store.stats(SearchQuery(gpu_models=models, regions=regions))
    assert stats.total_instances == 1


async def test_unknown_models_in_a_long_list_match_without_regard_to_case(db_path: Path) -> None:
    store = await Store.open(db_path, catalog=CATALOG)
    try:
        await store.replace_offers("vast_ai", [make_offer("vast_ai", "1", "Odd Card 7")])
        short = await store.search(SearchQuery(gpu_models=["odd card 7"]))
        long = await store.search(
            SearchQuery(gpu_models=[f"x{i}" for i in range(1200)] + ["ODD CARD 7"])
        )
        assert (
            [o.provider_id for o in short.offers] == [o.provider_id for o in long.offers] == ["1"]
        )
    finally:
        await store.close()
