"""The model detail pane: catalog facts and live provider prices for one GPU model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult

from gpucm import formatting as fmt
from gpucm.domain.catalog import Catalog
from gpucm.domain.clock import Clock
from gpucm.store.store import ProviderPrices, Store
from gpucm.tui.widgets import model_detail
from gpucm.tui.widgets.model_detail import HINT, DetailView, ModelDetail, detail_lines
from tests.conftest import FIXED_NOW
from tests.offer_factory import make_offer

EARLIER = FIXED_NOW - timedelta(hours=2)
WEIRD = "Weird [/] GPU"


async def fill(store: Store) -> None:
    """Two refreshes of vast and runpod (history), lambda only in the second."""
    await store.replace_offers(
        "vast_ai",
        [
            make_offer("vast_ai", "a", price_per_hour=0.40, fetched_at=EARLIER),
            make_offer("vast_ai", "h", "H100 PCIe", price_per_hour=2.0, fetched_at=EARLIER),
        ],
        fetched_at=EARLIER,
    )
    await store.replace_offers(
        "runpod",
        [make_offer("runpod", "r", price_per_hour=0.70, fetched_at=EARLIER)],
        fetched_at=EARLIER,
    )
    await store.replace_offers(
        "vast_ai",
        [
            make_offer("vast_ai", "a", price_per_hour=0.35),
            make_offer("vast_ai", "b", price_per_hour=1.20, gpu_count=2),
            make_offer("vast_ai", "c", price_per_hour=0.90),
            make_offer("vast_ai", "off", price_per_hour=0.10, available=False),
            make_offer("vast_ai", "h", "H100 PCIe", price_per_hour=1.90),
            make_offer("vast_ai", "w", WEIRD, price_per_hour=0.50),
        ],
        fetched_at=FIXED_NOW,
    )
    await store.replace_offers(
        "runpod",
        [
            make_offer("runpod", "r", price_per_hour=0.75),
            make_offer("runpod", "h", "H100 PCIe", price_per_hour=4.80, gpu_count=2),
        ],
        fetched_at=FIXED_NOW,
    )
    await store.replace_offers(
        "lambda_labs",
        [make_offer("lambda_labs", "h", "H100 PCIe", price_per_hour=2.20)],
        fetched_at=FIXED_NOW,
    )


@pytest.fixture
async def store(db_path: Path, clock: Clock) -> AsyncIterator[Store]:
    s = await Store.open(db_path, clock=clock)
    await fill(s)
    yield s
    await s.close()


class DetailApp(App[None]):
    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield ModelDetail(self.store.model_offers, Catalog.builtin, id="detail")


def provider_line(text: str, name: str) -> str:
    """The price line of a provider (by its display name), starting with the name."""
    lines = [line for line in text.splitlines() if line.startswith(name + " ")]
    assert len(lines) == 1, text
    return name + " " + " ".join(lines[0].removeprefix(name).split())


def count_calls(monkeypatch: pytest.MonkeyPatch, store: Store, name: str) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Awaitable[Any]] = getattr(store, name)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(store, name, wrapped)
    return calls


async def test_shows_catalog_facts_and_store_prices(store: Store) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = detail.plain_text
        for fact in (
            "RTX 4090",
            "consumer",
            "NVIDIA",
            "Ada Lovelace",
            "24 GB",
            "1,008 GB/s",
            "165.2 TFLOPS",
            "82.6 TFLOPS",
            "450 W",
            "PCIe",
            "8.9",
            "100 /150",
        ):
            assert fact in text, fact
        expected = await store.model_offers("RTX 4090")
        assert [p.provider for p in expected] == ["vast_ai", "runpod"]
        vast = provider_line(text, "Vast.ai")
        # the unavailable $0.10 offer is not "offered now"
        assert vast.split()[1:] == ["3", "$0.350", "$0.617", "$0.900", "$0.350–$1.20"]
        for p in expected:
            short = {"vast_ai": "Vast.ai", "runpod": "RunPod"}[p.provider]
            line = provider_line(text, short)
            for value in (p.min_gpu_price, p.avg_gpu_price, p.max_gpu_price):
                assert fmt.price(value) in line
        # cheapest provider first, as the store orders them
        assert text.index("Vast.ai ") < text.index("RunPod ")


async def test_other_model_and_export_svg(store: Store) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("H100 PCIe")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = detail.plain_text
        assert "Hopper" in text
        assert "80 GB" in text
        assert "datacenter" in text
        assert "Lambda Cloud" in text
        assert provider_line(text, "RunPod").split()[1:5] == ["1", "$2.40", "$2.40", "$2.40"]
        svg = app.export_screenshot().replace("&#160;", " ")
        assert "H100 PCIe" in svg
        assert "Hopper" in svg


async def test_unknown_model_with_markup_characters(store: Store) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show(WEIRD)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = detail.plain_text
        assert text.splitlines()[0] == WEIRD
        assert "Not in the GPU catalog" in text
        assert "Arch" not in text  # no made-up specs
        assert provider_line(text, "Vast.ai").split()[1:3] == ["1", "$0.500"]
        svg = app.export_screenshot().replace("&#160;", " ")
        assert WEIRD in svg


async def test_none_shows_hint(store: Store) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        assert detail.plain_text == HINT
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Ada Lovelace" in detail.plain_text
        detail.show(None)
        await pilot.pause()
        assert detail.plain_text == HINT
        assert detail.model is None


async def test_same_model_twice_fetches_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, store, "model_offers")
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("RTX 4090")
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert calls == [("RTX 4090",)]


async def test_rapid_moves_fetch_only_where_the_cursor_stops(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as in test_market_charts: a debounce no pilot pause outlasts, however loaded
    monkeypatch.setattr(model_detail, "DEBOUNCE_SECONDS", 1.0)
    calls = count_calls(monkeypatch, store, "model_offers")
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        for model in ("RTX 4090", "H100 PCIe", WEIRD, "RTX 4090", "H100 PCIe"):
            detail.show(model)
            await pilot.pause()  # a key repeat: far shorter than the debounce
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert calls == [("H100 PCIe",)]
        assert detail.view.model == "H100 PCIe"
        assert "Hopper" in detail.plain_text


async def test_refresh_data_picks_up_new_prices(store: Store) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "$0.750" in provider_line(detail.plain_text, "RunPod")
        await store.replace_offers(
            "runpod", [make_offer("runpod", "r", price_per_hour=0.55)], fetched_at=FIXED_NOW
        )
        detail.refresh_data()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "$0.550" in provider_line(detail.plain_text, "RunPod")
        assert "$0.750" not in detail.plain_text


async def test_store_error_is_shown_not_raised(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(gpu_model: str) -> list[ProviderPrices]:
        raise RuntimeError("database is locked [/]")

    monkeypatch.setattr(store, "model_offers", broken)
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "Could not read prices: database is locked [/]" in detail.plain_text
        assert "Ada Lovelace" in detail.plain_text  # the catalog facts still show


@pytest.mark.parametrize("width", [40, 60, 120])
async def test_layout_fits_the_width(store: Store, width: int) -> None:
    app = DetailApp(store)
    async with app.run_test(size=(width, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        detail.show("RTX 4090")
        await app.workers.wait_for_complete()
        await pilot.pause()
        inner = detail.query_one("DetailBody").content_size.width
        lines = detail.plain_text.splitlines()
        assert all(len(line) <= inner for line in lines), lines
        header = next(line for line in lines if line.startswith("PROVIDER"))
        assert header.split()[:2] == ["PROVIDER", "N"]
        assert "MIN" in header
        # the whole-offer range is the first to go when space is short
        assert ("OFFER $/H" in header) == (width >= 60)
        # even at 40 cells the facts take two columns (with short labels)
        assert lines[1].split()[0] in ("Mem", "Memory"), lines
        assert len(lines[1].split()) > 3, lines  # more than "Memory 24 GB"


def test_detail_lines_are_plain_text_for_any_name() -> None:
    lines = detail_lines(DetailView("[bold]x[/bold]", None, ()), None, 40)
    assert lines[0] == [("[bold]x[/bold]", "title")]
    assert detail_lines(DetailView(None), None, 40) == [[(HINT, "muted")]]


async def test_out_of_view_it_reads_nothing_until_it_is_shown(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read still waiting out its debounce as the pane hides is dropped; what is
    asked while hidden is read once, for the last model, when it shows again."""
    monkeypatch.setattr(model_detail, "DEBOUNCE_SECONDS", 1.0)
    calls = count_calls(monkeypatch, store, "model_offers")
    app = DetailApp(store)
    async with app.run_test(size=(60, 14)) as pilot:
        detail = app.query_one(ModelDetail)
        while not detail.laid_out:
            await pilot.pause()
        detail.show("RTX 4090")
        detail.display = False
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert not detail.laid_out
        detail.show(WEIRD)
        detail.show("H100 PCIe")
        detail.refresh_data()
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert calls == []
        assert detail.view.model is None

        detail.display = True
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert calls == [("H100 PCIe",)]
        assert "Hopper" in detail.plain_text
