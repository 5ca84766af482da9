"""A filter change holds the cyclic garbage collector until its rows are painted."""

from __future__ import annotations

import gc

from gpucm.domain.models import SearchQuery
from gpucm.services import Services
from gpucm.tui.app import GpucmApp
from gpucm.tui.screens.main import MainScreen
from tests.tui.helpers import settle


async def test_no_collection_between_a_new_query_and_its_rows_painted(
    services: Services,
) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        assert gc.isenabled()
        main.apply_query(SearchQuery(gpu_model="RTX 4090"), "keys")
        assert not gc.isenabled()  # held from the change ...
        await settle(pilot)
        assert main.table.loaded_generation == main.table.generation
        assert gc.isenabled()  # ... to the rows painted


async def test_the_collector_comes_back_when_the_screen_goes(services: Services) -> None:
    app = GpucmApp(services, refresh=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        main.apply_query(SearchQuery(gpu_model="H100"), "keys")
        assert not gc.isenabled()
    assert gc.isenabled()
