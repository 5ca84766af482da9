"""The search cache sends an answer again only while what it was built from holds: a
write to the store (by this process or another), another catalog, another secret. On
both store backends: SQLite's data_version, PostgreSQL's counter every write moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gpucm.api.api_settings import ApiSettings
from gpucm.api.app import create_app
from gpucm.domain.models import SearchQuery
from gpucm.services import Services, open_services
from gpucm.store.store import Store
from tests.api.conftest import client_for
from tests.offer_factory import make_offer

SEARCH = "/api/v1/offers/search"


@pytest.fixture
async def setup(
    store_location: Path | str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Services, httpx.AsyncClient, list[SearchQuery]]]:
    services = await open_services(db=store_location, demo=False, offer_index=False)
    await services.store.replace_offers(
        "vast_ai", [make_offer("vast_ai", "1", "RTX 4090", price_per_hour=0.5)]
    )
    searched: list[SearchQuery] = []
    real = services.store.search

    async def counted(query: SearchQuery, **kw: Any) -> Any:
        searched.append(query)
        return await real(query, **kw)

    monkeypatch.setattr(services.store, "search", counted)
    app = create_app(services, ApiSettings(rate_limit_enabled=False))
    async with client_for(app) as client:
        yield services, client, searched
    await services.aclose()


async def test_a_repeated_search_is_answered_again_without_searching(
    setup: tuple[Services, httpx.AsyncClient, list[SearchQuery]],
) -> None:
    _, client, searched = setup
    first = await client.get(SEARCH, params={"gpu_model": "RTX 4090"})
    again = await client.get(SEARCH, params={"gpu_model": "RTX 4090"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["X-Total-Count"] == "1"
    assert len(searched) == 1
    body = {"gpu_models": ["RTX 4090"]}
    posted = [await client.post(f"{SEARCH}/advanced", json=body) for _ in range(2)]
    assert posted[0].content == posted[1].content and len(searched) == 2
    other = await client.get(SEARCH, params={"gpu_model": "H100"})
    assert other.json()["data"] == [] and len(searched) == 3


async def test_a_write_in_this_process_or_another_makes_it_search_again(
    setup: tuple[Services, httpx.AsyncClient, list[SearchQuery]], store_location: Path | str
) -> None:
    services, client, searched = setup
    before = (await client.get(SEARCH)).json()["data"]
    assert [o["price_per_hour"] for o in before] == [0.5]
    await services.store.replace_offers(
        "vast_ai", [make_offer("vast_ai", "1", "RTX 4090", price_per_hour=0.7)]
    )
    after = (await client.get(SEARCH)).json()["data"]
    assert [o["price_per_hour"] for o in after] == [0.7]
    # another connection to the same store, as `gpucm refresh` in another process
    other = await Store.open(store_location)
    try:
        await other.replace_offers(
            "runpod", [make_offer("runpod", "2", "RTX 4090", price_per_hour=0.2)]
        )
    finally:
        await other.close()
    latest = (await client.get(SEARCH)).json()["data"]
    assert [o["price_per_hour"] for o in latest] == [0.2, 0.7]
    assert len(searched) == 3


async def test_another_catalog_or_secret_makes_it_search_again(
    setup: tuple[Services, httpx.AsyncClient, list[SearchQuery]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, client, searched = setup
    first = (await client.get(SEARCH)).json()["data"]
    assert first[0]["gpu_info"]["performance_score"] == 100
    # the user's catalog file changes the RTX 4090's score: answers carry gpu_info
    isolated_home = Path(services.catalog_source.user_file or "")
    isolated_home.parent.mkdir(parents=True, exist_ok=True)
    isolated_home.write_text('[[gpu]]\nname = "RTX 4090"\nperformance_score = 101\n')
    monkeypatch.setattr(services.catalog_source, "_checked_at", None)  # read it now
    second = (await client.get(SEARCH)).json()["data"]
    assert second[0]["gpu_info"]["performance_score"] == 101
    assert len(searched) == 2
    client_context = client._transport.app.state.context  # type: ignore[attr-defined]
    client_context.remember(["a-new-launch-secret"])
    await client.get(SEARCH)
    assert len(searched) == 3


async def test_refusals_are_never_kept(
    setup: tuple[Services, httpx.AsyncClient, list[SearchQuery]],
) -> None:
    _, client, searched = setup
    for _ in range(2):
        r = await client.get(SEARCH, params={"min_price": "-1"})
        assert r.status_code == 422
    assert searched == []
